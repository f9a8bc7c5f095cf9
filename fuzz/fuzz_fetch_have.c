/*  fuzz_fetch_have.c: libFuzzer target for the .have resume file of a
    fetch (actors/gossip/gossip_fetchplan.c): the bytes a previous run left
    in <home>/fetch/<blob>.have, outside input on restart. Whatever decodes
    must re-encode to the same bytes (the decoder is not lax) and load into
    a planner of its group count; whatever is refused must not have been
    copied past the caller's bitmap buffer (ASan). */
#include "gossip_fetchplan.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_BITS_CAP 65536        //  bitmap bytes we accept here: blobs up to 8 GiB

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    uint8_t *bits = (uint8_t *) malloc (S_BITS_CAP);
    assert (bits);
    uint8_t blob [32];
    uint64_t blob_size = 0;
    const char *why = NULL;
    if (gossip_have_decode (data, size, blob, &blob_size, bits, S_BITS_CAP, &why) == 0) {
        assert (why == NULL);
        size_t len = gossip_have_size (blob_size);
        assert (len == size);
        uint8_t *back = (uint8_t *) malloc (len);
        assert (back);
        assert (gossip_have_encode (blob, blob_size, bits, back, len) == len);
        assert (memcmp (back, data, len) == 0);
        free (back);
        uint64_t groups = blob_size ? (blob_size + 16383) / 16384 : 0;
        if (groups) {
            gossip_plan_t *plan = gossip_plan_new (groups);
            assert (plan);
            assert (gossip_plan_load (plan, bits, (size_t) ((groups + 7) / 8)) == 0);
            uint64_t first, n;
            while (gossip_plan_next (plan, 16, &first, &n) == 0)
                assert (first + n <= groups && !gossip_plan_is_done (plan, first));
            gossip_plan_destroy (&plan);
        }
    }
    else
        assert (why != NULL);
    free (bits);
    return 0;
}
