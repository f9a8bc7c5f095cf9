/*  fuzz_identity.c: libFuzzer target for the decoders of the node identity
    files (common/irh_identity.c): the zcert certificate (public, and with
    its secret) and the Ed25519 signing key. Any bytes must give a clean
    refusal with a message, or keys that really are a pair. */
#include "irh_identity.h"
#include <assert.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    //  The first byte picks the decoder, the rest is the file.
    const char *text = (const char *) data + 1;
    size_t text_size = size - 1;
    char *err = NULL;
    uint8_t public_key [IRH_KEY_BYTES], secret [crypto_sign_SECRETKEYBYTES];
    int rc;
    switch (data [0] % 3) {
        case 0:
            rc = irh_identity_decode_cert (text, text_size, public_key, NULL, &err);
            break;
        case 1:
            rc = irh_identity_decode_cert (text, text_size, public_key, secret, &err);
            if (rc == 0) {
                uint8_t derived [IRH_KEY_BYTES];
                assert (crypto_scalarmult_base (derived, secret) == 0);
                assert (memcmp (derived, public_key, IRH_KEY_BYTES) == 0);
            }
            break;
        default:
            rc = irh_identity_decode_sign (text, text_size, secret, &err);
            break;
    }
    assert ((rc == 0) == (err == NULL));
    assert (rc == 0 || strlen (err) > 0);
    free (err);
    return 0;
}
