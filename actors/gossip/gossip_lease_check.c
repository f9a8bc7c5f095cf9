/*  gossip_lease_check.c: the pure parts of claims across machines
    (gossip_lease.h): rendezvous ranking, the checks of what a peer sends,
    and the bounded key -> node tables. No sockets, no clock.
*/
#include "gossip_lease.h"
#include "irh_hash.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

uint64_t
gossip_lease_score (const char *wire_ns, const uint8_t *key, const uint8_t *node)
{
    uint8_t buf [256 + 1 + 32 + 32];
    size_t ns_len = strnlen (wire_ns, 255);
    memcpy (buf, wire_ns, ns_len);
    buf [ns_len] = 0;
    memcpy (buf + ns_len + 1, key, 32);
    memcpy (buf + ns_len + 33, node, 32);
    uint8_t hash [IRH_HASH_SIZE];
    irh_blake3 (buf, ns_len + 65, hash);
    uint64_t score = 0;
    for (int i = 0; i < 8; i++)
        score = (score << 8) | hash [i];
    return score;
}

//  a ranks above b: higher score, else the lower node id.
static bool
s_above (uint64_t sa, const uint8_t *a, uint64_t sb, const uint8_t *b)
{
    return sa != sb ? sa > sb : memcmp (a, b, 32) < 0;
}

void
gossip_lease_rank (const char *wire_ns, const uint8_t *key, const uint8_t (*nodes) [32],
                   size_t count, size_t *first, size_t *second)
{
    *first = *second = SIZE_MAX;
    uint64_t s1 = 0, s2 = 0;
    for (size_t i = 0; i < count; i++) {
        uint64_t score = gossip_lease_score (wire_ns, key, nodes [i]);
        if (*first == SIZE_MAX || s_above (score, nodes [i], s1, nodes [*first])) {
            *second = *first;
            s2 = s1;
            *first = i;
            s1 = score;
        }
        else
        if (*second == SIZE_MAX || s_above (score, nodes [i], s2, nodes [*second])) {
            *second = i;
            s2 = score;
        }
    }
}

bool
gossip_lease_holder_valid (const char *holder, size_t max)
{
    size_t len = strnlen (holder, max + 1);
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (holder [i] < 0x21 || holder [i] > 0x7e)
            return false;
    return true;
}

static bool
s_zero (const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++)
        if (data [i])
            return false;
    return true;
}

int
gossip_lease_want_check (const irh_peer_claim_want_t *want, const char **why)
{
    static const char *unused;
    if (!why)
        why = &unused;
    bool replica = want->flags & 1;
    if (want->kind > 1)
        *why = "kind is neither 0 (memo) nor 1 (each)";
    else
    if ((want->flags & ~3u) || want->flags == 2)
        *why = "unknown flags (or a sync that is not a replica)";
    else
    if (want->keys_size % 32 || want->keys_size / 32 > GOSSIP_LEASE_KEYS_MAX)
        *why = "keys are not whole 32-byte keys, at most 16384";
    else
    if (want->done_size % 32 || want->done_size / 32 > GOSSIP_LEASE_DONE_MAX)
        *why = "done keys are not whole 32-byte keys, at most 4096";
    else
    if (want->auth_size != 0 && want->auth_size != 32)
        *why = "auth is neither empty nor a whole proof";
    else
    if (!gossip_lease_holder_valid (want->holder, GOSSIP_LEASE_HOLDER_MAX)
    &&  (*want->holder || want->want || want->done_size || replica))
        *why = "holder is not 1..237 printable characters (only a report may have none)";
    else
    if (replica == s_zero (want->holder_node, 32))
        *why = replica ? "a replica names no holder node" : "only a replica names a holder node";
    else
        return 0;
    return -1;
}

int
gossip_lease_answer_check (const irh_peer_claim_t *answer, size_t keys, uint32_t want,
                           const char **why)
{
    static const char *unused;
    if (!why)
        why = &unused;
    if (answer->status > 4 || answer->status == 1) {
        *why = "unknown status";
        return -1;
    }
    size_t n = answer->states_size;
    if (answer->status != 0) {
        if (n || answer->expires_size || answer->nodes_size) {
            *why = "a refusal carries states";
            return -1;
        }
        return 0;
    }
    if (n > keys || answer->expires_size != 8 * n || answer->nodes_size != 32 * n) {
        *why = "states, expires and nodes do not match the keys asked";
        return -1;
    }
    uint32_t granted = 0;
    for (size_t i = 0; i < n; i++) {
        if (answer->states [i] > 3) {
            *why = "a state above 3";
            return -1;
        }
        if (answer->states [i] == 0 && ++granted > want) {
            *why = "more grants than wanted";
            return -1;
        }
    }
    if (n < keys && (want == 0 || granted < want)) {
        *why = "fewer states than keys before the want-th grant";
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Bounded key -> node tables

typedef struct {
    uint8_t key [32];
    uint8_t node [32];
    uint64_t seq;               //  0: empty; else insertion order (older is lower)
} s_slot_t;

struct _gossip_keymap_t {
    s_slot_t *slots;            //  sets of two
    size_t sets;
    uint64_t seq;
    size_t size;
};

gossip_keymap_t *
gossip_keymap_new (size_t capacity)
{
    gossip_keymap_t *self = (gossip_keymap_t *) calloc (1, sizeof (gossip_keymap_t));
    assert (self);
    self->sets = capacity / 2 ? capacity / 2 : 1;
    //  calloc: pages never written are never resident.
    self->slots = (s_slot_t *) calloc (self->sets * 2, sizeof (s_slot_t));
    assert (self->slots);
    return self;
}

void
gossip_keymap_destroy (gossip_keymap_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->slots);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Keys are BLAKE3 outputs (or blinded ones): their first 8 bytes are
//  uniform, so they pick the set directly.
static s_slot_t *
s_set (gossip_keymap_t *self, const uint8_t *key)
{
    uint64_t h;
    memcpy (&h, key, sizeof h);
    return self->slots + 2 * (h % self->sets);
}

void
gossip_keymap_put (gossip_keymap_t *self, const uint8_t *key, const uint8_t *node)
{
    s_slot_t *set = s_set (self, key);
    s_slot_t *slot = NULL;
    for (int i = 0; i < 2 && !slot; i++)
        if (set [i].seq && memcmp (set [i].key, key, 32) == 0)
            slot = &set [i];
    if (!slot) {
        slot = set [0].seq <= set [1].seq ? &set [0] : &set [1];
        if (!slot->seq)
            self->size++;
        memcpy (slot->key, key, 32);
    }
    memcpy (slot->node, node, 32);
    slot->seq = ++self->seq;
}

bool
gossip_keymap_get (gossip_keymap_t *self, const uint8_t *key, uint8_t *node)
{
    s_slot_t *set = s_set (self, key);
    for (int i = 0; i < 2; i++)
        if (set [i].seq && memcmp (set [i].key, key, 32) == 0) {
            if (node)
                memcpy (node, set [i].node, 32);
            return true;
        }
    return false;
}

void
gossip_keymap_remove (gossip_keymap_t *self, const uint8_t *key)
{
    s_slot_t *set = s_set (self, key);
    for (int i = 0; i < 2; i++)
        if (set [i].seq && memcmp (set [i].key, key, 32) == 0) {
            memset (&set [i], 0, sizeof set [i]);
            self->size--;
        }
}

size_t
gossip_keymap_size (gossip_keymap_t *self)
{
    return self->size;
}
