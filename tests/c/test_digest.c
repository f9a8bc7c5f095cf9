/*  test_digest.c: self-test of the Bloom digests (common/irh_digest.c): our
    counting filter and a peer's copy of it, through the encoded messages
    peers exchange. Keys are BLAKE3 hashes of counters, like store keys. */
#include "irh_digest.h"
#include "irh_hash.h"
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); exit (1); } } while (0)

//  Key number i of family `family` (families never overlap).
static void
s_key (uint32_t family, uint64_t i, uint8_t key [32])
{
    uint8_t seed [12];
    memcpy (seed, &family, 4);
    memcpy (seed + 4, &i, 8);
    irh_blake3 (seed, sizeof (seed), key);
}

//  Apply an encoded frame to a remote digest; returns its result.
static int
s_apply (irh_digest_remote_t *remote, zframe_t **frame_p)
{
    if (!*frame_p) abort ();
    int rc = irh_digest_remote_apply (remote, zframe_data (*frame_p), zframe_size (*frame_p));
    zframe_destroy (frame_p);
    return rc;
}

//  True when the remote copy has exactly the local digest's bits.
static bool
s_same_bits (irh_digest_t *local, irh_digest_remote_t *remote)
{
    zframe_t *frame = irh_digest_encode_full (local, "ns");
    irh_peer_digest_full_t msg;
    CHECK (irh_peer_digest_full_decode (frame, &msg) == 0);
    size_t size = irh_digest_remote_copy_bits (remote, NULL, 0);
    uint8_t *bits = malloc (size ? size : 1);
    CHECK (bits);
    irh_digest_remote_copy_bits (remote, bits, size);
    bool same = size == msg.bits_size && memcmp (bits, msg.bits, size) == 0
             && irh_digest_remote_epoch (remote) == msg.epoch
             && irh_digest_remote_seed (remote) == msg.seed;
    free (bits);
    zframe_destroy (&frame);
    return same;
}

static void
test_sizing (void)
{
    uint32_t nbits;
    uint8_t k;
    irh_digest_size_for (1000000, &nbits, &k);
    //  -ln(0.001) / ln(2)^2 = 14.38 bits per key, k = 10.
    CHECK (nbits >= 14377000 && nbits <= 14378000 && nbits % 512 == 0);
    CHECK (k == 10);
    irh_digest_size_for (0, &nbits, &k);
    CHECK (nbits >= IRH_DIGEST_MIN_KEYS * 14 && k == 10);
    irh_digest_size_for (100000000, &nbits, &k);
    CHECK (nbits == IRH_DIGEST_MAX_BITS && k >= 1);
    printf (" * sizing: OK\n");
}

//  No false negatives over 100k keys; the false-positive rate of the local
//  filter and of a peer's copy within 1.5x of the target.
static void
test_rates (void)
{
    irh_digest_t *digest = irh_digest_new (100000);
    uint8_t key [32];
    for (uint64_t i = 0; i < 100000; i++) {
        s_key (1, i, key);
        irh_digest_add (digest, key);
    }
    CHECK (irh_digest_count (digest) == 100000);
    CHECK (!irh_digest_needs_rebuild (digest));
    irh_digest_remote_t *remote = irh_digest_remote_new ();
    zframe_t *frame = irh_digest_encode_full (digest, "rates");
    CHECK (s_apply (remote, &frame) == 0);
    for (uint64_t i = 0; i < 100000; i++) {
        s_key (1, i, key);
        CHECK (irh_digest_contains (digest, key));
        CHECK (irh_digest_remote_contains (remote, key));
    }
    size_t local_fp = 0, remote_fp = 0, trials = 1000000;
    for (uint64_t i = 0; i < trials; i++) {
        s_key (2, i, key);
        local_fp += irh_digest_contains (digest, key);
        remote_fp += irh_digest_remote_contains (remote, key);
    }
    double rate = (double) local_fp / (double) trials;
    printf (" * rates: no false negative in 100000 keys, false positives %.5f (target %.3f),"
            " fill %.3f\n", rate, IRH_DIGEST_FP_TARGET, irh_digest_remote_fill (remote));
    CHECK (local_fp == remote_fp);
    CHECK (rate <= 1.5 * IRH_DIGEST_FP_TARGET);
    //  A sanity floor: a filter that says "no" to everything is not a Bloom filter.
    CHECK (rate >= IRH_DIGEST_FP_TARGET / 3);
    irh_digest_remote_destroy (&remote);
    irh_digest_destroy (&digest);
}

//  Removing every key clears every bit; removing a key that cannot be there
//  is refused.
static void
test_remove (void)
{
    irh_digest_t *digest = irh_digest_new (5000);
    irh_digest_remote_t *remote = irh_digest_remote_new ();
    uint8_t key [32];
    for (uint64_t i = 0; i < 5000; i++) {
        s_key (3, i, key);
        irh_digest_add (digest, key);
    }
    for (uint64_t i = 0; i < 5000; i += 2) {
        s_key (3, i, key);
        CHECK (irh_digest_remove (digest, key) == 0);
    }
    for (uint64_t i = 1; i < 5000; i += 2) {
        s_key (3, i, key);
        CHECK (irh_digest_contains (digest, key));
    }
    for (uint64_t i = 1; i < 5000; i += 2) {
        s_key (3, i, key);
        CHECK (irh_digest_remove (digest, key) == 0);
    }
    CHECK (irh_digest_count (digest) == 0);
    zframe_t *frame = irh_digest_encode_full (digest, "remove");
    CHECK (s_apply (remote, &frame) == 0);
    CHECK (irh_digest_remote_fill (remote) == 0);
    for (uint64_t i = 0; i < 5000; i++) {
        s_key (3, i, key);
        CHECK (!irh_digest_contains (digest, key));
        CHECK (irh_digest_remove (digest, key) == -1);
    }
    CHECK (irh_digest_count (digest) == 0);
    irh_digest_remote_destroy (&remote);
    irh_digest_destroy (&digest);
    printf (" * remove: OK\n");
}

//  Far more keys than the design size push counters to 15. Saturated
//  counters never decrement, so removing half the keys leaves no false
//  negative among the other half (decrementing them would: their true
//  count is above what the counter holds).
static void
test_saturation (void)
{
    irh_digest_t *digest = irh_digest_new (IRH_DIGEST_MIN_KEYS);
    size_t keys = 20000;
    uint8_t key [32];
    for (uint64_t i = 0; i < keys; i++) {
        s_key (4, i, key);
        irh_digest_add (digest, key);
    }
    size_t saturated = irh_digest_saturated (digest);
    CHECK (saturated > 0);
    CHECK (irh_digest_needs_rebuild (digest));
    for (uint64_t i = 0; i < keys; i += 2) {
        s_key (4, i, key);
        CHECK (irh_digest_remove (digest, key) == 0);
    }
    for (uint64_t i = 1; i < keys; i += 2) {
        s_key (4, i, key);
        CHECK (irh_digest_contains (digest, key));
    }
    CHECK (irh_digest_saturated (digest) == saturated);
    printf (" * saturation: %zu of %u counters saturated, no false negative after removals\n",
            saturated, irh_digest_nbits (digest));
    irh_digest_destroy (&digest);
}

typedef struct {
    uint32_t family;
    uint64_t next;
    uint64_t count;
    uint8_t key [32];
} s_keys_t;

static const uint8_t *
s_next_key (void *arg)
{
    s_keys_t *keys = (s_keys_t *) arg;
    if (keys->next == keys->count)
        return NULL;
    s_key (keys->family, keys->next++, keys->key);
    return keys->key;
}

//  Outgrowing the design size asks for a rebuild, which keeps every key,
//  starts a new generation (peers' deltas refused) and meets the rate again.
static void
test_growth (void)
{
    irh_digest_t *digest = irh_digest_new (IRH_DIGEST_MIN_KEYS);
    uint32_t small = irh_digest_nbits (digest);
    uint64_t seed = irh_digest_seed (digest);
    irh_digest_remote_t *remote = irh_digest_remote_new ();
    zframe_t *frame = irh_digest_encode_full (digest, "grow");
    CHECK (s_apply (remote, &frame) == 0);

    uint8_t key [32];
    uint64_t count = 5000;
    for (uint64_t i = 0; i < count; i++) {
        s_key (5, i, key);
        irh_digest_add (digest, key);
    }
    CHECK (irh_digest_needs_rebuild (digest));
    s_keys_t keys = { 5, 0, count, { 0 } };
    irh_digest_rebuild (digest, 0, s_next_key, &keys);
    CHECK (!irh_digest_needs_rebuild (digest));
    CHECK (irh_digest_count (digest) == count);
    CHECK (irh_digest_design (digest) >= 2 * count);
    CHECK (irh_digest_nbits (digest) > small);
    CHECK (irh_digest_seed (digest) != seed);
    CHECK (irh_digest_epoch (digest) == 0);
    for (uint64_t i = 0; i < count; i++) {
        s_key (5, i, key);
        CHECK (irh_digest_contains (digest, key));
    }
    size_t fp = 0;
    for (uint64_t i = 0; i < 200000; i++) {
        s_key (6, i, key);
        fp += irh_digest_contains (digest, key);
    }
    CHECK ((double) fp / 200000 <= 1.5 * IRH_DIGEST_FP_TARGET);
    //  The peer's copy is of the old generation: no delta bridges them.
    CHECK (irh_digest_encode_delta (digest, "grow", irh_digest_remote_seed (remote),
                                    irh_digest_remote_epoch (remote)) == NULL);
    frame = irh_digest_encode_full (digest, "grow");
    CHECK (s_apply (remote, &frame) == 0);
    CHECK (s_same_bits (digest, remote));
    printf (" * growth: %u -> %u bits, every key kept\n", small, irh_digest_nbits (digest));
    irh_digest_remote_destroy (&remote);
    irh_digest_destroy (&digest);
}

//  Deltas: applied to a copy at the base epoch they give exactly the whole
//  digest; a copy at another epoch or seed refuses them unchanged.
static void
test_delta (void)
{
    irh_digest_t *digest = irh_digest_new (20000);
    irh_digest_remote_t *remote = irh_digest_remote_new ();
    irh_digest_remote_t *behind = irh_digest_remote_new ();
    uint8_t key [32];
    for (uint64_t i = 0; i < 10000; i++) {
        s_key (7, i, key);
        irh_digest_add (digest, key);
    }
    zframe_t *frame = irh_digest_encode_full (digest, "delta");
    CHECK (s_apply (remote, &frame) == 0);
    frame = irh_digest_encode_full (digest, "delta");
    CHECK (s_apply (behind, &frame) == 0);
    CHECK (s_same_bits (digest, remote));

    //  Up to date: an empty delta.
    frame = irh_digest_encode_delta (digest, "delta", irh_digest_seed (digest),
                                     irh_digest_epoch (digest));
    CHECK (frame && zframe_size (frame) < 300);
    CHECK (s_apply (remote, &frame) == 0);
    CHECK (s_same_bits (digest, remote));

    //  Adds and removes, including a key added and removed again (its
    //  flips cancel out).
    for (uint64_t round = 0; round < 3; round++) {
        for (uint64_t i = 0; i < 100; i++) {
            s_key (8, round * 1000 + i, key);
            irh_digest_add (digest, key);
        }
        for (uint64_t i = round * 60; i < round * 60 + 60; i++) {
            s_key (7, i, key);
            CHECK (irh_digest_remove (digest, key) == 0);
        }
        s_key (9, round, key);
        irh_digest_add (digest, key);
        CHECK (irh_digest_remove (digest, key) == 0);
        frame = irh_digest_encode_delta (digest, "delta", irh_digest_remote_seed (remote),
                                         irh_digest_remote_epoch (remote));
        CHECK (frame);
        CHECK (zframe_size (frame) < irh_digest_nbits (digest) / 8);
        CHECK (s_apply (remote, &frame) == 0);
        CHECK (s_same_bits (digest, remote));
    }
    //  behind is still at the first epoch: a delta cut from the current
    //  epoch is stale for it, and leaves it as it was.
    uint64_t behind_epoch = irh_digest_remote_epoch (behind);
    frame = irh_digest_encode_delta (digest, "delta", irh_digest_seed (digest),
                                     irh_digest_remote_epoch (remote) - 1);
    CHECK (frame);
    CHECK (s_apply (behind, &frame) == -1);
    CHECK (streq (irh_digest_remote_error (behind), "stale"));
    CHECK (irh_digest_remote_stale (behind) == 1 && irh_digest_remote_malformed (behind) == 0);
    CHECK (irh_digest_remote_epoch (behind) == behind_epoch);
    //  The delta from its own epoch brings it up to date.
    frame = irh_digest_encode_delta (digest, "delta", irh_digest_remote_seed (behind), behind_epoch);
    CHECK (s_apply (behind, &frame) == 0);
    CHECK (s_same_bits (digest, behind));
    //  Another generation's seed: no delta is cut, and one forged is stale.
    CHECK (irh_digest_encode_delta (digest, "delta", irh_digest_seed (digest) + 1,
                                    irh_digest_epoch (digest)) == NULL);
    irh_peer_digest_delta_t forged;
    memset (&forged, 0, sizeof (forged));
    forged.seed = irh_digest_seed (digest) + 1;
    forged.base_epoch = forged.epoch = irh_digest_remote_epoch (remote);
    CHECK (irh_digest_remote_apply_delta (remote, &forged) == -1);
    CHECK (streq (irh_digest_remote_error (remote), "stale"));
    //  A delta to a remote that has no whole digest yet is stale too.
    irh_digest_remote_t *fresh = irh_digest_remote_new ();
    forged.seed = irh_digest_seed (digest);
    CHECK (irh_digest_remote_apply_delta (fresh, &forged) == -1);
    CHECK (irh_digest_remote_stale (fresh) == 1);
    CHECK (!irh_digest_remote_contains (fresh, key));
    irh_digest_remote_destroy (&fresh);
    //  An epoch ahead of ours cannot be the base of a delta.
    CHECK (irh_digest_encode_delta (digest, "delta", irh_digest_seed (digest),
                                    irh_digest_epoch (digest) + 1) == NULL);
    //  Many changes: the delta would outweigh the array, so none is cut.
    uint64_t epoch = irh_digest_epoch (digest);
    for (uint64_t i = 0; i < 20000; i++) {
        s_key (10, i, key);
        irh_digest_add (digest, key);
    }
    CHECK (irh_digest_encode_delta (digest, "delta", irh_digest_seed (digest), epoch) == NULL);
    irh_digest_remote_destroy (&behind);
    irh_digest_remote_destroy (&remote);
    irh_digest_destroy (&digest);
    printf (" * delta: round trips equal the whole digest, stale deltas refused\n");
}

//  Encode a peer_digest_full / _delta as given and apply it as bytes.
static int
s_apply_full (irh_digest_remote_t *remote, irh_peer_digest_full_t *msg)
{
    zframe_t *frame = irh_peer_digest_full_encode (msg);
    return s_apply (remote, &frame);
}

static int
s_apply_delta (irh_digest_remote_t *remote, irh_peer_digest_delta_t *msg, const uint32_t *pos,
               size_t count)
{
    uint8_t bytes [64];
    CHECK (count * 4 <= sizeof (bytes));
    for (size_t i = 0; i < count; i++) {
        bytes [i * 4] = (uint8_t) (pos [i] >> 24);
        bytes [i * 4 + 1] = (uint8_t) (pos [i] >> 16);
        bytes [i * 4 + 2] = (uint8_t) (pos [i] >> 8);
        bytes [i * 4 + 3] = (uint8_t) pos [i];
    }
    msg->positions = bytes;
    msg->positions_size = count * 4;
    zframe_t *frame = irh_peer_digest_delta_encode (msg);
    return s_apply (remote, &frame);
}

//  Whatever a peer sends, a malformed digest is refused with -1, counted,
//  and leaves the copy we hold unchanged.
static void
test_malformed (void)
{
    irh_digest_remote_t *remote = irh_digest_remote_new ();
    uint8_t bits [128];
    memset (bits, 0, sizeof (bits));
    bits [3] = 0x81;
    irh_peer_digest_full_t full;
    memset (&full, 0, sizeof (full));
    full.seed = 77;
    full.epoch = 5;
    full.k = 3;
    full.nbits = 1024;
    full.bits = bits;
    full.bits_size = 128;
    CHECK (s_apply_full (remote, &full) == 0);
    CHECK (irh_digest_remote_fill (remote) == 2.0 / 1024);
    uint64_t malformed = 0;

    irh_peer_digest_full_t bad = full;
    bad.k = 0;
    CHECK (s_apply_full (remote, &bad) == -1 && irh_digest_remote_malformed (remote) == ++malformed);
    bad.k = IRH_DIGEST_MAX_K + 1;
    CHECK (s_apply_full (remote, &bad) == -1 && irh_digest_remote_malformed (remote) == ++malformed);
    bad = full;
    bad.nbits = 1000;                   //  not a multiple of 64
    CHECK (s_apply_full (remote, &bad) == -1 && irh_digest_remote_malformed (remote) == ++malformed);
    bad.nbits = 0;
    bad.bits_size = 0;
    CHECK (s_apply_full (remote, &bad) == -1 && irh_digest_remote_malformed (remote) == ++malformed);
    bad = full;
    bad.nbits = 2048;                   //  bits too short for nbits
    CHECK (s_apply_full (remote, &bad) == -1 && irh_digest_remote_malformed (remote) == ++malformed);
    bad.nbits = IRH_DIGEST_MAX_BITS * 2U;
    CHECK (s_apply_full (remote, &bad) == -1 && irh_digest_remote_malformed (remote) == ++malformed);
    bad = full;
    bad.seed = 0;
    CHECK (s_apply_full (remote, &bad) == -1 && irh_digest_remote_malformed (remote) == ++malformed);
    CHECK (strncmp (irh_digest_remote_error (remote), "malformed: ", 11) == 0);

    irh_peer_digest_delta_t delta;
    memset (&delta, 0, sizeof (delta));
    delta.seed = 77;
    delta.base_epoch = 5;
    delta.epoch = 9;
    uint32_t unsorted [] = { 5, 3 };
    CHECK (s_apply_delta (remote, &delta, unsorted, 2) == -1);
    CHECK (irh_digest_remote_malformed (remote) == ++malformed);
    uint32_t repeated [] = { 3, 3 };
    CHECK (s_apply_delta (remote, &delta, repeated, 2) == -1);
    CHECK (irh_digest_remote_malformed (remote) == ++malformed);
    uint32_t beyond [] = { 3, 1024 };
    CHECK (s_apply_delta (remote, &delta, beyond, 2) == -1);
    CHECK (irh_digest_remote_malformed (remote) == ++malformed);
    uint32_t many [] = { 1, 2, 3, 4, 5 };   //  five toggles in four epochs
    CHECK (s_apply_delta (remote, &delta, many, 5) == -1);
    CHECK (irh_digest_remote_malformed (remote) == ++malformed);
    delta.epoch = 4;                        //  before its base
    CHECK (s_apply_delta (remote, &delta, many, 0) == -1);
    CHECK (irh_digest_remote_malformed (remote) == ++malformed);
    delta.epoch = 9;
    uint8_t odd [6] = { 0, 0, 0, 1, 0, 0 };
    delta.positions = odd;
    delta.positions_size = 6;
    CHECK (irh_digest_remote_apply_delta (remote, &delta) == -1);
    CHECK (irh_digest_remote_malformed (remote) == ++malformed);
    //  Nothing above changed the copy.
    CHECK (irh_digest_remote_epoch (remote) == 5 && irh_digest_remote_nbits (remote) == 1024);
    CHECK (irh_digest_remote_fill (remote) == 2.0 / 1024);
    CHECK (irh_digest_remote_stale (remote) == 0);
    //  A good delta still applies after all that.
    uint32_t good [] = { 24, 31, 1023 };
    CHECK (s_apply_delta (remote, &delta, good, 3) == 0);
    CHECK (irh_digest_remote_epoch (remote) == 9);
    CHECK (irh_digest_remote_fill (remote) == 1.0 / 1024);   //  24 and 31 cleared, 1023 set

    //  Undecodable bytes: every truncation of a good frame, garbage, other
    //  messages.
    zframe_t *frame = irh_peer_digest_full_encode (&full);
    for (size_t cut = 0; cut < zframe_size (frame); cut++) {
        CHECK (irh_digest_remote_apply (remote, zframe_data (frame), cut) == -1);
        CHECK (irh_digest_remote_malformed (remote) == ++malformed);
    }
    zframe_destroy (&frame);
    uint8_t garbage [40];
    for (size_t i = 0; i < sizeof (garbage); i++)
        garbage [i] = (uint8_t) (i * 37 + 11);
    garbage [0] = IRH_MSG_PEER_DIGEST_DELTA;
    CHECK (irh_digest_remote_apply (remote, garbage, sizeof (garbage)) == -1);
    garbage [0] = IRH_MSG_PEER_PING;
    CHECK (irh_digest_remote_apply (remote, garbage, sizeof (garbage)) == -1);
    CHECK (irh_digest_remote_apply (remote, NULL, 0) == -1);
    CHECK (irh_digest_remote_epoch (remote) == 9);
    irh_digest_remote_destroy (&remote);
    printf (" * malformed: refused and counted (%" PRIu64 "), copy unchanged\n", malformed + 3);
}

//  candidates() agrees with contains() on every peer.
static void
test_candidates (void)
{
    irh_digest_remote_t *remotes [4];
    irh_digest_t *digests [3];
    uint8_t key [32];
    for (int p = 0; p < 3; p++) {
        digests [p] = irh_digest_new (2000);
        for (uint64_t i = 0; i < 2000; i++) {
            s_key (11 + p, i, key);
            irh_digest_add (digests [p], key);
        }
        remotes [p] = irh_digest_remote_new ();
        zframe_t *frame = irh_digest_encode_full (digests [p], "cand");
        CHECK (s_apply (remotes [p], &frame) == 0);
    }
    remotes [3] = irh_digest_remote_new ();      //  no digest yet
    bool hits [4];
    for (uint64_t i = 0; i < 2000; i++) {
        s_key (12, i, key);
        CHECK (irh_digest_remote_candidates (remotes, 4, key, hits) >= 1);
        CHECK (hits [1] && !hits [3]);
        for (int p = 0; p < 4; p++)
            CHECK (hits [p] == irh_digest_remote_contains (remotes [p], key));
    }
    for (int p = 0; p < 4; p++)
        irh_digest_remote_destroy (&remotes [p]);
    for (int p = 0; p < 3; p++)
        irh_digest_destroy (&digests [p]);
    printf (" * candidates: OK\n");
}

int
main (void)
{
    printf ("test_digest\n");
    test_sizing ();
    test_rates ();
    test_remove ();
    test_saturation ();
    test_growth ();
    test_delta ();
    test_malformed ();
    test_candidates ();
    return 0;
}
