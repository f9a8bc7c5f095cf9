/*  fuzz_known.c: libFuzzer target for the trust-on-first-use decoders
    (common/irh_known.c), which see outside bytes: the key endpoint's
    answer (from whoever listens at HOST:PORT+1), the request it accepts
    (from anyone), and the known-nodes file (from the disk). The first byte
    picks the decoder. Whatever is accepted must round-trip.
*/
#include "irh_known.h"
#include "irh_identity.h"
#include <assert.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t which = data [0];
    data++;
    size--;
    if (which % 3 == 0) {
        uint8_t key [IRH_KEY_BYTES];
        if (irh_known_answer_decode (data, size, key) == 0) {
            zframe_t *again = irh_known_answer_encode (key);
            assert (zframe_size (again) == size && memcmp (zframe_data (again), data, size) == 0);
            zframe_destroy (&again);
        }
    }
    else
    if (which % 3 == 1)
        irh_known_ask_valid (data, size);
    else {
        irh_known_t *known = irh_known_new (NULL);
        irh_known_parse (known, (const char *) data, size);
        assert (irh_known_size (known) <= IRH_KNOWN_MAX);
        irh_known_destroy (&known);
    }
    return 0;
}
