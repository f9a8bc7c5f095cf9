/*  fuzz_msign.c: libFuzzer target for the check of a peer's signed
    manifest (common/irh_msign.c), the path every manifest answer takes
    before a fetch (gossip_lookup.c): the first 32 bytes are the key asked
    for, the rest a manifest record as a peer would send it.

    Whatever the bytes: no crash, canonical bytes within their bound, and
    a record that verifies still verifies after its encoding round trip
    and never after a change to a signed field (the size).
*/
#include "irh_msign.h"
#include <assert.h>
#include <sodium.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static bool ready = false;
    if (!ready) {
        assert (sodium_init () >= 0);
        ready = true;
    }
    if (size < 32)
        return 0;
    irh_manifest_t m;
    if (irh_manifest_decode_buf (data + 32, size - 32, &m) != 0)
        return 0;
    uint8_t buf [IRH_MSIGN_CANONICAL_MAX];
    assert (irh_msign_canonical (data, &m, buf) <= IRH_MSIGN_CANONICAL_MAX);
    if (irh_msign_verify (data, &m) != 0)
        return 0;
    uint8_t record [IRH_PEER_MANIFEST_MANIFEST_MAX];
    size_t length = irh_manifest_encode_buf (&m, record, sizeof record);
    irh_manifest_t back;
    assert (length && irh_manifest_decode_buf (record, length, &back) == 0);
    assert (irh_msign_verify (data, &back) == 0);
    back.size ^= 1;
    assert (irh_msign_verify (data, &back) != 0);
    return 0;
}
