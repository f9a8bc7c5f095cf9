/*  fuzz_nssecret.c: libFuzzer target for the namespace secret decoders
    (common/irh_nssecret.c), which see outside bytes: a join token (typed
    or pasted by a user, passed on by anyone) and a secret file (from the
    disk). The first byte picks the decoder. Whatever is accepted must
    encode back to the same token.
*/
#include "irh_nssecret.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void
s_round_trip (const irh_ns_token_t *token)
{
    char *again = irh_ns_token_encode (token, NULL);
    assert (again);
    irh_ns_token_t copy;
    assert (irh_ns_token_decode (again, strlen (again), &copy, NULL) == 0);
    assert (memcmp (&copy, token, sizeof copy) == 0);
    free (again);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t which = data [0];
    const char *text = (const char *) data + 1;
    size--;
    irh_ns_token_t token;
    char *err = NULL;
    if (which % 2 == 0) {
        if (irh_ns_token_decode (text, size, &token, &err) == 0) {
            s_round_trip (&token);
            //  One spelling per token: the accepted text is what encode makes.
            char *again = irh_ns_token_encode (&token, NULL);
            assert (again && strlen (again) == size && memcmp (again, text, size) == 0);
            free (again);
        }
        else
            assert (err);
    }
    else {
        if (irh_ns_file_parse (text, size, &token, &err) == 0)
            s_round_trip (&token);
        else
            assert (err);
    }
    free (err);
    return 0;
}
