/*  fuzz_xfer.c: libFuzzer target for the data socket's frame dispatch
    (actors/gossip/gossip_wire.c): every frame a peer sends on the data
    ROUTER or answers on a data DEALER goes through gossip_wire_classify
    before anything else reads it. The input is one frame. Whatever is
    accepted must decode again with its own codec to the same req, and a
    read request the checks pass must stay inside the blob it names, for
    several blob sizes around the offset it asks. */
#include "gossip_wire.h"
#include <assert.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    gossip_wire_t wire;
    const char *why = NULL;
    if (gossip_wire_classify (data, size, &wire, &why) != 0) {
        assert (why && *why);
        return 0;
    }
    assert (size > 0 && size <= GOSSIP_WIRE_FRAME_MAX && wire.id == data [0]);
    if (wire.id == IRH_MSG_PEER_READ) {
        irh_peer_read_t read;
        assert (irh_peer_read_decode_buf (data, size, &read) == 0);
        assert (wire.kind == GOSSIP_WIRE_ANSWER && wire.req == read.req);
        assert (read.data_size <= IRH_PEER_READ_DATA_MAX);
    }
    else
    if (wire.id == IRH_MSG_PEER_MANIFEST) {
        irh_peer_manifest_t manifest;
        assert (irh_peer_manifest_decode_buf (data, size, &manifest) == 0);
        assert (wire.kind == GOSSIP_WIRE_ANSWER && wire.req == manifest.req);
        //  The content a small result carries stays inside the frame and
        //  its limit (the asker hashes it before anything else).
        assert (manifest.content_size <= IRH_PEER_MANIFEST_CONTENT_MAX);
        assert (manifest.content_size == 0
             || (manifest.content >= data && manifest.content + manifest.content_size <= data + size));
    }
    else
    if (wire.id == IRH_MSG_PEER_READ_WANT) {
        irh_peer_read_want_t want;
        assert (irh_peer_read_want_decode_buf (data, size, &want) == 0);
        uint64_t totals [] = { 0, 1, want.offset, want.offset + 1, want.offset + want.length,
                               want.offset + IRH_XFER_READ_MAX + 7, UINT64_MAX };
        for (size_t i = 0; i < sizeof totals / sizeof totals [0]; i++) {
            uint32_t length = 1;
            int status = gossip_wire_read_check (&want, totals [i], &length);
            if (status == 0) {
                assert (length >= 1 && length <= want.length && length <= IRH_XFER_READ_MAX);
                assert (want.offset < totals [i] && length <= totals [i] - want.offset);
            }
            else
                assert (status == 3 && length == 0);
        }
    }
    else
    if (wire.id == IRH_MSG_PEER_CLAIM) {
        irh_peer_claim_t claim;
        assert (irh_peer_claim_decode_buf (data, size, &claim) == 0);
        assert (wire.kind == GOSSIP_WIRE_ANSWER && wire.req == claim.req);
    }
    else
        assert (wire.kind == GOSSIP_WIRE_REQUEST || wire.kind == GOSSIP_WIRE_PUSH);
    return 0;
}
