//  Tests of the pure parts of claims across machines
//  (actors/gossip/gossip_lease_check.c): the rendezvous ranking
//  (deterministic, fair shares for 3, 5 and 10 nodes, removing a node
//  moves only the keys it ranked first, the successor takes them), the
//  checks of peer_claim_want and peer_claim, and the bounded key -> node
//  tables.
#include "gossip_lease.h"
#include "irh_hash.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEYS 10000

static void
s_key (uint32_t i, const char *tag, uint8_t *out)
{
    char text [64];
    int n = snprintf (text, sizeof text, "%s-%u", tag, i);
    irh_blake3 (text, (size_t) n, out);
}

static void
s_test_score (void)
{
    //  The documented formula: first 8 bytes of BLAKE3(ns || 0 || key || node).
    uint8_t key [32], node [32], buf [4 + 1 + 64], hash [32];
    s_key (1, "key", key);
    s_key (1, "node", node);
    memcpy (buf, "team", 4);
    buf [4] = 0;
    memcpy (buf + 5, key, 32);
    memcpy (buf + 37, node, 32);
    irh_blake3 (buf, sizeof buf, hash);
    uint64_t expect = 0;
    for (int i = 0; i < 8; i++)
        expect = (expect << 8) | hash [i];
    assert (gossip_lease_score ("team", key, node) == expect);
    assert (gossip_lease_score ("team", key, node) == gossip_lease_score ("team", key, node));
    assert (gossip_lease_score ("other", key, node) != expect);
}

static void
s_test_shares (size_t count)
{
    uint8_t (*nodes) [32] = malloc (count * 32);
    assert (nodes);
    for (size_t i = 0; i < count; i++)
        s_key ((uint32_t) i, "node", nodes [i]);
    size_t shares [16] = { 0 };
    size_t *first = malloc (S_KEYS * sizeof (size_t));
    size_t *second = malloc (S_KEYS * sizeof (size_t));
    assert (first && second);
    for (uint32_t k = 0; k < S_KEYS; k++) {
        uint8_t key [32];
        s_key (k, "key", key);
        gossip_lease_rank ("team", key, (const uint8_t (*) [32]) nodes, count, &first [k],
                           &second [k]);
        assert (first [k] < count && second [k] < count && first [k] != second [k]);
        //  Deterministic, and the same whatever the order of the members.
        size_t a, b;
        gossip_lease_rank ("team", key, (const uint8_t (*) [32]) nodes, count, &a, &b);
        assert (a == first [k] && b == second [k]);
        shares [first [k]]++;
    }
    //  Each node gets about its share: within 20% of S_KEYS / count
    //  (binomial: the standard deviation is under 3% of the share here).
    for (size_t i = 0; i < count; i++) {
        double expect = (double) S_KEYS / (double) count;
        assert (shares [i] > expect * 0.8 && shares [i] < expect * 1.2);
    }
    //  Removing one node: only its keys move, each to its successor. The
    //  others are listed in reverse: the order of members must not matter.
    uint8_t (*fewer) [32] = malloc (count * 32);
    assert (fewer);
    size_t gone = count / 2;
    size_t n = 0;
    for (size_t i = count; i-- > 0;)
        if (i != gone)
            memcpy (fewer [n++], nodes [i], 32);
    size_t moved = 0;
    for (uint32_t k = 0; k < S_KEYS; k++) {
        uint8_t key [32];
        s_key (k, "key", key);
        size_t a, b;
        gossip_lease_rank ("team", key, (const uint8_t (*) [32]) fewer, n, &a, &b);
        if (first [k] == gone) {
            assert (memcmp (fewer [a], nodes [second [k]], 32) == 0);
            moved++;
        }
        else
            assert (memcmp (fewer [a], nodes [first [k]], 32) == 0);
    }
    assert (moved == shares [gone]);
    //  One member: itself first, no successor; none: nothing.
    size_t a, b;
    gossip_lease_rank ("team", nodes [0], (const uint8_t (*) [32]) nodes, 1, &a, &b);
    assert (a == 0 && b == SIZE_MAX);
    gossip_lease_rank ("team", nodes [0], (const uint8_t (*) [32]) nodes, 0, &a, &b);
    assert (a == SIZE_MAX && b == SIZE_MAX);
    free (fewer);
    free (first);
    free (second);
    free (nodes);
}

static irh_peer_claim_want_t
s_want (const uint8_t *keys, size_t nkeys)
{
    irh_peer_claim_want_t want;
    memset (&want, 0, sizeof want);
    snprintf (want.ns, sizeof want.ns, "team");
    snprintf (want.holder, sizeof want.holder, "123@host/abc");
    want.want = 1;
    want.keys = keys;
    want.keys_size = 32 * nkeys;
    return want;
}

static void
s_test_want_check (void)
{
    static uint8_t keys [32 * (GOSSIP_LEASE_KEYS_MAX + 1)];
    const char *why = NULL;
    irh_peer_claim_want_t want = s_want (keys, 3);
    assert (gossip_lease_want_check (&want, &why) == 0);
    want = s_want (keys, GOSSIP_LEASE_KEYS_MAX);
    assert (gossip_lease_want_check (&want, &why) == 0);
    want = s_want (keys, GOSSIP_LEASE_KEYS_MAX + 1);
    assert (gossip_lease_want_check (&want, &why) == -1 && why);
    want = s_want (keys, 1);
    want.keys_size = 33;
    assert (gossip_lease_want_check (&want, &why) == -1);
    want = s_want (keys, 1);
    want.done = keys;
    want.done_size = 32 * GOSSIP_LEASE_DONE_MAX;
    assert (gossip_lease_want_check (&want, &why) == 0);
    want.done_size += 32;
    assert (gossip_lease_want_check (&want, &why) == -1);
    want = s_want (keys, 1);
    want.kind = 2;
    assert (gossip_lease_want_check (&want, &why) == -1);
    want = s_want (keys, 1);
    want.flags = 2;
    assert (gossip_lease_want_check (&want, &why) == -1);
    //  A replica names its holder's node; nothing else may.
    want = s_want (keys, 1);
    want.flags = 1;
    assert (gossip_lease_want_check (&want, &why) == -1);
    want.holder_node [5] = 1;
    assert (gossip_lease_want_check (&want, &why) == 0);
    want.flags = 3;                     //  a sync: a replica made apart
    assert (gossip_lease_want_check (&want, &why) == 0);
    want.flags = 2;                     //  a sync is always a replica
    assert (gossip_lease_want_check (&want, &why) == -1);
    want.flags = 0;
    assert (gossip_lease_want_check (&want, &why) == -1);
    //  Holders: printable, no spaces, short enough for the node prefix.
    want = s_want (keys, 1);
    snprintf (want.holder, sizeof want.holder, "a b");
    assert (gossip_lease_want_check (&want, &why) == -1);
    snprintf (want.holder, sizeof want.holder, "a\x01");
    assert (gossip_lease_want_check (&want, &why) == -1);
    memset (want.holder, 'x', GOSSIP_LEASE_HOLDER_MAX);
    want.holder [GOSSIP_LEASE_HOLDER_MAX] = 0;
    assert (gossip_lease_want_check (&want, &why) == 0);
    memset (want.holder, 'x', GOSSIP_LEASE_HOLDER_MAX + 1);
    want.holder [GOSSIP_LEASE_HOLDER_MAX + 1] = 0;
    assert (gossip_lease_want_check (&want, &why) == -1);
    //  No holder: only a report (want 0, no done keys).
    want = s_want (keys, 1);
    want.holder [0] = 0;
    assert (gossip_lease_want_check (&want, &why) == -1);
    want.want = 0;
    assert (gossip_lease_want_check (&want, &why) == 0);
    want.done = keys;
    want.done_size = 32;
    assert (gossip_lease_want_check (&want, &why) == -1);
    want = s_want (keys, 1);
    want.auth = keys;
    want.auth_size = 31;
    assert (gossip_lease_want_check (&want, &why) == -1);
    want.auth_size = 32;
    assert (gossip_lease_want_check (&want, &why) == 0);
    //  The default namespace is the empty name (memo's and each's ns="").
    want = s_want (keys, 1);
    want.ns [0] = 0;
    assert (gossip_lease_want_check (&want, &why) == 0);
}

static void
s_test_answer_check (void)
{
    uint8_t states [4] = { 1, 2, 0, 3 }, expires [32] = { 0 }, nodes [128] = { 0 };
    irh_peer_claim_t a = { .status = 0, .states = states, .states_size = 3,
                           .expires = expires, .expires_size = 24, .nodes = nodes,
                           .nodes_size = 96 };
    const char *why = NULL;
    //  3 of 5 keys looked at: stopped after the want-th (1st) grant.
    assert (gossip_lease_answer_check (&a, 5, 1, &why) == 0);
    //  ... but not before it.
    assert (gossip_lease_answer_check (&a, 5, 2, &why) == -1 && why);
    //  A grant beyond want, or any grant on a report.
    assert (gossip_lease_answer_check (&a, 3, 0, &why) == -1);
    states [0] = 0;
    assert (gossip_lease_answer_check (&a, 3, 1, &why) == -1);
    assert (gossip_lease_answer_check (&a, 3, 2, &why) == 0);
    //  More states than keys, sizes that disagree, unknown states.
    assert (gossip_lease_answer_check (&a, 2, 2, &why) == -1);
    a.expires_size = 16;
    assert (gossip_lease_answer_check (&a, 3, 2, &why) == -1);
    a.expires_size = 24;
    a.nodes_size = 64;
    assert (gossip_lease_answer_check (&a, 3, 2, &why) == -1);
    a.nodes_size = 96;
    states [1] = 4;
    assert (gossip_lease_answer_check (&a, 3, 2, &why) == -1);
    states [1] = 2;
    //  Refusals carry nothing; status 1 and above 4 do not exist.
    irh_peer_claim_t r = { .status = 2 };
    assert (gossip_lease_answer_check (&r, 3, 1, &why) == 0);
    r.status = 1;
    assert (gossip_lease_answer_check (&r, 3, 1, &why) == -1);
    r.status = 5;
    assert (gossip_lease_answer_check (&r, 3, 1, &why) == -1);
    r = a;
    r.status = 3;
    assert (gossip_lease_answer_check (&r, 3, 1, &why) == -1);
    //  Want 0 reports every key.
    uint8_t free_states [2] = { 3, 1 };
    irh_peer_claim_t w0 = { .states = free_states, .states_size = 2, .expires = expires,
                            .expires_size = 16, .nodes = nodes, .nodes_size = 64 };
    assert (gossip_lease_answer_check (&w0, 2, 0, &why) == 0);
    assert (gossip_lease_answer_check (&w0, 3, 0, &why) == -1);
}

static void
s_test_keymap (void)
{
    gossip_keymap_t *map = gossip_keymap_new (1024);
    uint8_t key [32], node [32], got [32];
    for (uint32_t i = 0; i < 100; i++) {
        s_key (i, "key", key);
        s_key (i, "node", node);
        gossip_keymap_put (map, key, node);
    }
    assert (gossip_keymap_size (map) <= 100);
    size_t found = 0;
    for (uint32_t i = 0; i < 100; i++) {
        s_key (i, "key", key);
        s_key (i, "node", node);
        if (gossip_keymap_get (map, key, got)) {
            assert (memcmp (got, node, 32) == 0);
            found++;
        }
    }
    //  100 keys in 512 sets of two: a third key in a set is rare.
    assert (found == gossip_keymap_size (map) && found >= 95);
    //  Update, remove.
    s_key (7, "key", key);
    s_key (99, "node", node);
    gossip_keymap_put (map, key, node);
    assert (gossip_keymap_get (map, key, got) && memcmp (got, node, 32) == 0);
    gossip_keymap_remove (map, key);
    assert (!gossip_keymap_get (map, key, NULL));
    //  Bounded: far more keys than slots keeps the size at the capacity,
    //  and the newest key is always there (the older of a set goes out).
    for (uint32_t i = 0; i < 100000; i++) {
        s_key (i, "many", key);
        gossip_keymap_put (map, key, node);
        assert (gossip_keymap_get (map, key, NULL));
    }
    assert (gossip_keymap_size (map) <= 1024);
    gossip_keymap_destroy (&map);
    assert (map == NULL);
    gossip_keymap_destroy (&map);
}

int
main (void)
{
    s_test_score ();
    s_test_shares (3);
    s_test_shares (5);
    s_test_shares (10);
    s_test_want_check ();
    s_test_answer_check ();
    s_test_keymap ();
    printf ("test_lease: OK\n");
    return 0;
}
