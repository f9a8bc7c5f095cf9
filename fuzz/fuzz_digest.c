/*  fuzz_digest.c: libFuzzer target for peers' key digests
    (common/irh_digest.c): the input is a sequence of messages, each
    preceded by its length as a big-endian u16, applied in turn to one
    remote digest as peer_digest_full or peer_digest_delta, so deltas meet
    a digest a previous message set up. Each message is tried as sent and,
    when it does not decode, with its first byte forced to each digest id,
    so the fuzzer mostly exercises fields rather than ids. Whatever is
    refused must leave the digest as it was; whatever applies, lookups on
    it must stay in bounds (ASan) and agree with the batch lookup. */
#include "irh_digest.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

//  Snapshot of what a refused apply must not change.
typedef struct {
    uint64_t seed, epoch;
    uint32_t nbits;
    double fill;
} s_state_t;

static s_state_t
s_state (irh_digest_remote_t *remote)
{
    s_state_t state = { irh_digest_remote_seed (remote), irh_digest_remote_epoch (remote),
                        irh_digest_remote_nbits (remote), irh_digest_remote_fill (remote) };
    return state;
}

static void
s_apply (irh_digest_remote_t *remote, const uint8_t *buf, size_t size)
{
    s_state_t before = s_state (remote);
    if (irh_digest_remote_apply (remote, buf, size) == 0)
        return;
    s_state_t after = s_state (remote);
    assert (before.seed == after.seed && before.epoch == after.epoch
            && before.nbits == after.nbits && before.fill == after.fill);
    assert (irh_digest_remote_error (remote) [0]);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    irh_digest_remote_t *remote = irh_digest_remote_new ();
    uint8_t key [IRH_DIGEST_KEY_SIZE] = { 0 };
    const uint8_t *p = data, *end = data + size;
    while (end - p >= 2) {
        size_t len = (size_t) p [0] << 8 | p [1];
        p += 2;
        if (len > (size_t) (end - p))
            len = (size_t) (end - p);
        const uint8_t *msg = p;
        p += len;
        uint8_t *copy = malloc (len ? len : 1);
        assert (copy);
        memcpy (copy, msg, len);
        s_apply (remote, copy, len);
        if (len > 0) {
            copy [0] = IRH_MSG_PEER_DIGEST_FULL;
            s_apply (remote, copy, len);
            copy [0] = IRH_MSG_PEER_DIGEST_DELTA;
            s_apply (remote, copy, len);
        }
        free (copy);
        //  Look up keys made of the message's own bytes.
        memcpy (key, msg, len < sizeof (key) ? len : sizeof (key));
        bool hit = irh_digest_remote_contains (remote, key);
        irh_digest_remote_t *remotes [2] = { remote, NULL };
        bool hits [2];
        size_t found = irh_digest_remote_candidates (remotes, 2, key, hits);
        assert (hits [0] == hit && !hits [1] && found == (size_t) hit);
        assert (irh_digest_remote_fill (remote) >= 0 && irh_digest_remote_fill (remote) <= 1);
    }
    irh_digest_remote_destroy (&remote);
    return 0;
}
