/*  irh_digest.h: Bloom digests of the keys a node holds, per namespace,
    so a node can tell a true miss from "some peer may have it" without a
    network round trip (docs/digests.md).

    irh_digest_t is our own side: a counting Bloom filter (4-bit counters)
    over the keys of one namespace in our store, so an eviction clears its
    bits, plus the plain bit array peers receive and a log of the bits that
    flipped, from which deltas are cut (the Summary Cache scheme: send the
    changed bit positions, or the whole array when that is smaller).

    irh_digest_remote_t is a peer's digest as we hold it: a plain bit array
    with the sender's seed (generation) and epoch, updated from
    peer_digest_full and peer_digest_delta messages (proto/peer.def).
    Everything in it came from outside: every apply validates first and
    refuses with -1, never asserts.

    Socket-free: the store and gossip actors own the objects and move the
    encoded messages. */
#ifndef IRH_DIGEST_H_INCLUDED
#define IRH_DIGEST_H_INCLUDED
#include "irh_msgs.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Keys are BLAKE3 hashes.
#define IRH_DIGEST_KEY_SIZE 32
//  Per-peer false-positive target: with 50 peers a true miss asks someone
//  with probability 1 - (1 - p)^50 = 4.9% (the goal is <= 5%).
#define IRH_DIGEST_FP_TARGET 0.001
//  Largest filter, in bits (4 MiB of bits: the peer_digest_full limit).
#define IRH_DIGEST_MAX_BITS (1U << 25)
//  Smallest design size, in keys (a 15 Kibit filter; smaller saves nothing).
#define IRH_DIGEST_MIN_KEYS 1024
//  Most bit indexes per key a remote digest may use.
#define IRH_DIGEST_MAX_K 32

typedef struct _irh_digest_t irh_digest_t;
typedef struct _irh_digest_remote_t irh_digest_remote_t;

//  Filter size for an expected key count at IRH_DIGEST_FP_TARGET: bits
//  (a multiple of 512, at most IRH_DIGEST_MAX_BITS) and bits per key k.
void irh_digest_size_for (size_t expected, uint32_t *nbits, uint8_t *k);

//  --- Our own digest (local counting filter) ---

//  New empty digest designed for `expected` keys (at least
//  IRH_DIGEST_MIN_KEYS), with a fresh random seed and epoch 0.
irh_digest_t *irh_digest_new (size_t expected);
void irh_digest_destroy (irh_digest_t **self_p);
//  Add a key the store now holds. The caller adds each key once.
void irh_digest_add (irh_digest_t *self, const uint8_t *key);
//  Remove a key the store dropped. -1 if the key cannot be in the filter
//  (one of its counters is zero); nothing changes then.
int irh_digest_remove (irh_digest_t *self, const uint8_t *key);
bool irh_digest_contains (irh_digest_t *self, const uint8_t *key);
//  Keys added minus removed, and the count the filter was sized for.
size_t irh_digest_count (irh_digest_t *self);
size_t irh_digest_design (irh_digest_t *self);
//  True when the count has outgrown the design size (and a bigger filter is
//  still allowed): the caller should rebuild with every key it holds.
bool irh_digest_needs_rebuild (irh_digest_t *self);
//  Counters stuck at their maximum (they never decrement: see .c).
size_t irh_digest_saturated (irh_digest_t *self);

//  Rebuild for `expected` keys (0: twice the current count), feeding every
//  key the store holds through next (returns the next key, NULL at the end).
//  The new filter gets a new seed and epoch 0, so peers need it whole.
typedef const uint8_t *(irh_digest_next_fn) (void *arg);
void irh_digest_rebuild (irh_digest_t *self, size_t expected, irh_digest_next_fn *next,
                         void *arg);

uint64_t irh_digest_seed (irh_digest_t *self);
//  Epoch: the number of bit flips since this generation began.
uint64_t irh_digest_epoch (irh_digest_t *self);
uint32_t irh_digest_nbits (irh_digest_t *self);
uint8_t irh_digest_k (irh_digest_t *self);

//  The whole digest as a peer_digest_full frame for namespace ns.
zframe_t *irh_digest_encode_full (irh_digest_t *self, const char *ns);
//  The changes since (seed, base_epoch) as a peer_digest_delta frame, or
//  NULL when a delta cannot be cut (other seed, epoch no longer logged or
//  ahead of ours) or would not be smaller than the whole array: then send
//  irh_digest_encode_full.
zframe_t *irh_digest_encode_delta (irh_digest_t *self, const char *ns, uint64_t seed,
                                   uint64_t base_epoch);

//  --- A peer's digest ---

irh_digest_remote_t *irh_digest_remote_new (void);
void irh_digest_remote_destroy (irh_digest_remote_t **self_p);
//  Replace the digest with a whole one. -1 if malformed (k, nbits, size,
//  seed 0); the digest held before is kept then.
int irh_digest_remote_apply_full (irh_digest_remote_t *self, const irh_peer_digest_full_t *msg);
//  Apply a delta. -1 if it does not start at our (seed, epoch) (stale: ask
//  for the whole digest with our seed and epoch) or is malformed (positions
//  not strictly increasing u32s below nbits, more of them than the epochs it
//  spans); nothing changes then. irh_digest_remote_error says which.
int irh_digest_remote_apply_delta (irh_digest_remote_t *self, const irh_peer_digest_delta_t *msg);
//  Decode buf as peer_digest_full or peer_digest_delta and apply it.
//  -1 on undecodable bytes (counted as malformed) or a refused apply.
int irh_digest_remote_apply (irh_digest_remote_t *self, const uint8_t *buf, size_t size);
//  Why the last apply was refused: "stale" or "malformed: ..."; "" if none.
const char *irh_digest_remote_error (irh_digest_remote_t *self);
//  Refusals so far (named counters for stats): digest_stale, digest_malformed.
uint64_t irh_digest_remote_stale (irh_digest_remote_t *self);
uint64_t irh_digest_remote_malformed (irh_digest_remote_t *self);

//  True when the peer may hold key; false when it surely does not, or we
//  hold no digest of it yet.
bool irh_digest_remote_contains (irh_digest_remote_t *self, const uint8_t *key);
//  Which of count peers' digests may hold key: sets hits[i], returns how
//  many. Prefetches the first two probes of every digest before testing
//  any, so the cache misses of all digests overlap instead of queueing.
size_t irh_digest_remote_candidates (irh_digest_remote_t **remotes, size_t count,
                                     const uint8_t *key, bool *hits);

bool irh_digest_remote_ready (irh_digest_remote_t *self);
uint64_t irh_digest_remote_seed (irh_digest_remote_t *self);
uint64_t irh_digest_remote_epoch (irh_digest_remote_t *self);
uint32_t irh_digest_remote_nbits (irh_digest_remote_t *self);
//  Copy the bit array (layout of peer_digest_full.bits) into out; returns
//  the bytes it takes (nbits / 8), 0 when empty; copies only if cap fits.
size_t irh_digest_remote_copy_bits (irh_digest_remote_t *self, uint8_t *out, size_t cap);
//  Share of bits set (0..1): about 0.5 for an honest digest at its design
//  size; near 1 means the peer will be asked for nearly every key.
double irh_digest_remote_fill (irh_digest_remote_t *self);

#endif
