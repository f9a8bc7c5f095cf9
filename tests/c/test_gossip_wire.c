//  Tests of the data plane's pure checks (actors/gossip/gossip_wire.c):
//  what the data socket accepts from a peer (every data-plane message,
//  nothing else, nothing truncated or oversize), which reads the server
//  answers, the results estimate from a real digest's bits, and the data
//  endpoint derived from a gossip address.
#include "gossip_wire.h"
#include "irh_digest.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_expect (zframe_t *frame, int id, gossip_wire_kind_t kind, uint32_t req)
{
    assert (frame);
    gossip_wire_t wire;
    const char *why = NULL;
    assert (gossip_wire_classify (zframe_data (frame), zframe_size (frame), &wire, &why) == 0);
    assert (wire.id == id && wire.kind == kind && wire.req == req);
    //  Every strict prefix is refused (each message's fields are all
    //  required), and so is the frame with a byte appended.
    for (size_t cut = 0; cut < zframe_size (frame); cut++)
        assert (gossip_wire_classify (zframe_data (frame), cut, &wire, &why) == -1 && why);
    uint8_t *longer = malloc (zframe_size (frame) + 1);
    assert (longer);
    memcpy (longer, zframe_data (frame), zframe_size (frame));
    longer [zframe_size (frame)] = 0;
    assert (gossip_wire_classify (longer, zframe_size (frame) + 1, &wire, &why) == -1);
    free (longer);
    zframe_destroy (&frame);
}

static void
s_test_classify (void)
{
    irh_peer_manifest_want_t mw = { .req = 7 };
    memset (mw.key, 0xab, 32);
    snprintf (mw.ns, sizeof mw.ns, "team");
    s_expect (irh_peer_manifest_want_encode (&mw), IRH_MSG_PEER_MANIFEST_WANT,
              GOSSIP_WIRE_REQUEST, 0);
    uint8_t record [100] = { 1, 2, 3 };
    irh_peer_manifest_t m = { .req = 0xdeadbeef, .status = 0, .manifest = record,
                              .manifest_size = sizeof record };
    s_expect (irh_peer_manifest_encode (&m), IRH_MSG_PEER_MANIFEST, GOSSIP_WIRE_ANSWER,
              0xdeadbeef);
    irh_peer_read_want_t rw = { .req = 9, .what = 1, .offset = 64, .length = 4096 };
    s_expect (irh_peer_read_want_encode (&rw), IRH_MSG_PEER_READ_WANT, GOSSIP_WIRE_REQUEST, 0);
    uint8_t data [300] = { 9 };
    irh_peer_read_t r = { .req = 42, .status = 0, .offset = 0, .total = 300, .data = data,
                          .data_size = sizeof data };
    s_expect (irh_peer_read_encode (&r), IRH_MSG_PEER_READ, GOSSIP_WIRE_ANSWER, 42);
    irh_peer_digest_want_t dw = { .seed = 1, .epoch = 2 };
    snprintf (dw.ns, sizeof dw.ns, "team");
    s_expect (irh_peer_digest_want_encode (&dw), IRH_MSG_PEER_DIGEST_WANT,
              GOSSIP_WIRE_REQUEST, 0);
    uint8_t keys [64] = { 5 };
    irh_peer_claim_want_t cw = { .req = 11, .kind = 1, .want = 1, .lease_ms = 1000,
                                 .keys = keys, .keys_size = sizeof keys };
    snprintf (cw.ns, sizeof cw.ns, "team");
    snprintf (cw.holder, sizeof cw.holder, "h");
    s_expect (irh_peer_claim_want_encode (&cw), IRH_MSG_PEER_CLAIM_WANT, GOSSIP_WIRE_REQUEST, 0);
    uint8_t states [1] = { 0 }, expires [8] = { 0 }, nodes [32] = { 0 };
    irh_peer_claim_t ca = { .req = 12, .states = states, .states_size = 1,
                            .expires = expires, .expires_size = 8, .nodes = nodes,
                            .nodes_size = 32 };
    s_expect (irh_peer_claim_encode (&ca), IRH_MSG_PEER_CLAIM, GOSSIP_WIRE_ANSWER, 12);
    irh_peer_digests_want_t dsw = { 0 };
    zframe_t *frame = irh_peer_digests_want_encode (&dsw);
    gossip_wire_t wire;
    assert (gossip_wire_classify (zframe_data (frame), zframe_size (frame), &wire, NULL) == 0);
    assert (wire.id == IRH_MSG_PEER_DIGESTS_WANT && wire.kind == GOSSIP_WIRE_REQUEST);
    zframe_destroy (&frame);
    irh_digest_t *digest = irh_digest_new (1024);
    uint8_t key [32] = { 1 };
    irh_digest_add (digest, key);
    s_expect (irh_digest_encode_full (digest, "team"), IRH_MSG_PEER_DIGEST_FULL,
              GOSSIP_WIRE_PUSH, 0);
    frame = irh_digest_encode_delta (digest, "team", irh_digest_seed (digest), 0);
    if (frame)                          //  one key: a delta is smaller than the array
        s_expect (frame, IRH_MSG_PEER_DIGEST_DELTA, GOSSIP_WIRE_PUSH, 0);
    irh_digest_destroy (&digest);

    //  Not data-plane messages: a swim ping, a store request, garbage.
    irh_peer_ping_t ping = { .seq = 1 };
    frame = irh_peer_ping_encode (&ping);
    const char *why = NULL;
    assert (gossip_wire_classify (zframe_data (frame), zframe_size (frame), &wire, &why) == -1);
    assert (strstr (why, "not a data-plane"));
    zframe_destroy (&frame);
    irh_get_t get = { .want_path = 1 };
    frame = irh_get_encode (&get);
    assert (gossip_wire_classify (zframe_data (frame), zframe_size (frame), &wire, &why) == -1);
    zframe_destroy (&frame);
    assert (gossip_wire_classify (NULL, 0, &wire, &why) == -1 && strstr (why, "empty"));
    //  Oversize: refused on its size before any decoding.
    uint8_t *big = calloc (1, GOSSIP_WIRE_FRAME_MAX + 1);
    assert (big);
    big [0] = IRH_MSG_PEER_DIGEST_FULL;
    assert (gossip_wire_classify (big, GOSSIP_WIRE_FRAME_MAX + 1, &wire, &why) == -1);
    assert (strstr (why, "oversize"));
    free (big);
    //  A read answer claiming more data than the frame holds.
    uint8_t lie [] = { IRH_MSG_PEER_READ, 0, 0, 0, 1 };
    assert (gossip_wire_classify (lie, sizeof lie, &wire, &why) == -1);
}

static void
s_test_read_check (void)
{
    irh_peer_read_want_t want = { .what = 0, .offset = 0, .length = 1000 };
    uint32_t length = 99;
    assert (gossip_wire_read_check (&want, 300, &length) == 0 && length == 300);
    assert (gossip_wire_read_check (&want, 5000, &length) == 0 && length == 1000);
    want.offset = IRH_XFER_GROUP;
    want.length = IRH_XFER_READ_MAX;
    assert (gossip_wire_read_check (&want, 3 * IRH_XFER_GROUP + 5, &length) == 0);
    assert (length == 2 * IRH_XFER_GROUP + 5);
    assert (gossip_wire_read_check (&want, IRH_XFER_GROUP, &length) == 3 && length == 0);
    want.offset = 100;                  //  content offsets are group-aligned
    assert (gossip_wire_read_check (&want, 1 << 20, &length) == 3);
    want.what = 1;                      //  outboard offsets are 32-aligned
    assert (gossip_wire_read_check (&want, 1 << 20, &length) == 3);
    want.offset = 96;
    assert (gossip_wire_read_check (&want, 128, &length) == 0 && length == 32);
    want.length = 0;
    assert (gossip_wire_read_check (&want, 128, &length) == 3);
    want.length = IRH_XFER_READ_MAX + 1;
    assert (gossip_wire_read_check (&want, 1u << 30, &length) == 3);
    want.length = 1;
    want.what = 2;
    assert (gossip_wire_read_check (&want, 128, &length) == 3);
    want.what = 0;
    want.offset = 0;
    assert (gossip_wire_read_check (&want, 0, &length) == 3);      //  nothing to read
}

//  The estimate from the bits of a real digest of n keys is close to n.
static void
s_test_estimate (void)
{
    assert (gossip_wire_estimate (0, 1024, 7) == 0);
    assert (gossip_wire_estimate (10, 0, 7) == 0);
    assert (gossip_wire_estimate (10, 1024, 0) == 0);
    assert (gossip_wire_estimate (1024, 1024, 7) > 0);             //  full: finite
    size_t counts [] = { 1, 50, 1000, 20000 };
    for (size_t c = 0; c < sizeof counts / sizeof counts [0]; c++) {
        irh_digest_t *digest = irh_digest_new (counts [c]);
        uint8_t key [32];
        uint64_t state = 0x9e3779b97f4a7c15ull * (c + 1);
        for (size_t i = 0; i < counts [c]; i++) {
            //  Keys are BLAKE3 hashes: every byte random (splitmix64).
            for (size_t b = 0; b < 32; b += 8) {
                uint64_t z = (state += 0x9e3779b97f4a7c15ull);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
                z ^= z >> 31;
                memcpy (key + b, &z, 8);
            }
            irh_digest_add (digest, key);
        }
        zframe_t *frame = irh_digest_encode_full (digest, "ns");
        irh_peer_digest_full_t full;
        assert (irh_peer_digest_full_decode (frame, &full) == 0);
        uint64_t set = 0;
        for (size_t i = 0; i < full.bits_size; i++)
            set += (uint64_t) __builtin_popcount (full.bits [i]);
        uint64_t n = gossip_wire_estimate (set, full.nbits, full.k);
        double error = (double) n - (double) counts [c];
        assert (error < 0.05 * counts [c] + 1 && -error < 0.05 * counts [c] + 1);
        zframe_destroy (&frame);
        irh_digest_destroy (&digest);
    }
}

static void
s_test_endpoint (void)
{
    char out [80];
    assert (gossip_wire_data_endpoint ("tcp://198.18.0.2:47460", out, sizeof out) == 0);
    assert (strcmp (out, "tcp://198.18.0.2:47462") == 0);
    assert (gossip_wire_data_endpoint ("tcp://host-a:1", out, sizeof out) == 0);
    assert (strcmp (out, "tcp://host-a:3") == 0);
    assert (gossip_wire_data_endpoint ("tcp://h:65534", out, sizeof out) == -1);
    assert (gossip_wire_data_endpoint ("tcp://h:0", out, sizeof out) == -1);
    assert (gossip_wire_data_endpoint ("tcp://h:12x", out, sizeof out) == -1);
    assert (gossip_wire_data_endpoint ("tcp://:80", out, sizeof out) == -1);
    assert (gossip_wire_data_endpoint ("udp://h:80", out, sizeof out) == -1);
    assert (gossip_wire_data_endpoint (NULL, out, sizeof out) == -1);
    assert (gossip_wire_data_endpoint ("tcp://198.18.0.2:47460", out, 10) == -1);
}

int
main (void)
{
    s_test_classify ();
    s_test_read_check ();
    s_test_estimate ();
    s_test_endpoint ();
    printf ("test_gossip_wire: OK\n");
    return 0;
}
