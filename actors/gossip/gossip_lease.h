/*  gossip_lease.h: claims across machines (docs/claims.md).

    A key being computed carries a lease (holder, expiry) granted by one
    arbiter per key: the member of the namespace ranked first by
    rendezvous hashing of the key. gossip_lease.c serves the broker
    request gossip_claim (groups keys by arbiter, asks them in parallel,
    merges the answers); gossip_arbiter.c decides, for a peer's
    peer_claim_want or for this node's own keys; gossip_lease_keep.c
    copies every decision to the successor (the second-ranked member) and
    ends the leases of nodes swim declares dead.

    The pure parts (ranking, checks of what a peer sends, the bounded
    key -> node tables) are in gossip_lease_check.c, socket-free, so the
    self-test (tests/c/test_lease.c) and the fuzz target
    (fuzz/fuzz_peer_claim.c) run exactly the actor's code.
*/
#ifndef GOSSIP_LEASE_H_INCLUDED
#define GOSSIP_LEASE_H_INCLUDED
#include "irh_msgs.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GOSSIP_LEASE_KEYS_MAX       16384   //  keys per request
#define GOSSIP_LEASE_DONE_MAX       4096    //  done keys per request
//  A remote holder is stored at the arbiter as "n<16 hex of its node>:<holder>"
//  (GOSSIP_LEASE_PREFIX bytes), so the client's holder may be this much
//  shorter than the store's 255.
#define GOSSIP_LEASE_PREFIX         18
#define GOSSIP_LEASE_HOLDER_MAX     (255 - GOSSIP_LEASE_PREFIX)

//  ---------------------------------------------------------------------
//  Pure parts (gossip_lease_check.c)

//  Rendezvous score of node for key in the wire namespace wire_ns: the
//  first 8 bytes (big-endian) of BLAKE3(wire_ns || 0x00 || key || node).
//  One BLAKE3 of ~100 bytes: ~0.2 us.
uint64_t gossip_lease_score (const char *wire_ns, const uint8_t *key, const uint8_t *node);

//  Rank count nodes (32 bytes each) for key: the index of the highest
//  score into *first, of the second into *second (SIZE_MAX when fewer
//  than 1 / 2 nodes). Equal scores (2^-64) fall to the lower node id, so
//  every node that knows the same members picks the same arbiter.
void gossip_lease_rank (const char *wire_ns, const uint8_t *key, const uint8_t (*nodes) [32],
                        size_t count, size_t *first, size_t *second);

//  A holder id a client or peer may use: 1..max printable ASCII bytes
//  (0x21..0x7e: no spaces, no control bytes).
bool gossip_lease_holder_valid (const char *holder, size_t max);

//  Checks a decoded peer_claim_want (outside input): kind, flags, key
//  lists whole 32-byte keys within the limits, holder printable and
//  short enough to be prefixed (empty only in a report: want 0, no done
//  keys), a replica names its holder's node and
//  only a replica does, auth empty or a whole proof. 0, or -1 with *why.
int gossip_lease_want_check (const irh_peer_claim_want_t *want, const char **why);

//  Checks a decoded peer_claim answering a request of keys keys and want:
//  status 0 with one state (0..3) per key looked at, at most keys, an
//  8-byte expiry and a 32-byte node per state, at most want grants
//  (none for want 0), and shorter than keys only after the want-th
//  grant. Other statuses carry nothing. 0, or -1 with *why.
int gossip_lease_answer_check (const irh_peer_claim_t *answer, size_t keys, uint32_t want,
                               const char **why);

//  A bounded key -> node table (two-way set associative, the older entry
//  of a full set goes out): the arbiter's "who finished it" and "who holds
//  it", the lookup's done hints. 72 bytes per entry, allocated once.
typedef struct _gossip_keymap_t gossip_keymap_t;
gossip_keymap_t *gossip_keymap_new (size_t capacity);
void gossip_keymap_destroy (gossip_keymap_t **self_p);
void gossip_keymap_put (gossip_keymap_t *self, const uint8_t *key, const uint8_t *node);
//  True and the node copied (node may be NULL) when key is in the table.
bool gossip_keymap_get (gossip_keymap_t *self, const uint8_t *key, uint8_t *node);
void gossip_keymap_remove (gossip_keymap_t *self, const uint8_t *key);
size_t gossip_keymap_size (gossip_keymap_t *self);

#endif
