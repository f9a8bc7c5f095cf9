//  Tests of the pure parts of a verified multi-source fetch
//  (actors/gossip/gossip_fetchplan.c): the range planner hands out every
//  group exactly once, re-queues released holes first and never hands out
//  a verified group; the .have resume file round-trips and refuses every
//  kind of damage; holders share ranges round robin within their credit,
//  bad bytes ban, repeated timeouts drop, bans expire into probes.
#include "gossip_fetchplan.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
test_plan_covers_once (void)
{
    //  100 groups in runs of 16: 7 runs, each group once, then nothing.
    gossip_plan_t *plan = gossip_plan_new (100);
    assert (plan);
    uint8_t seen [100] = { 0 };
    uint64_t first, n, runs = 0;
    while (gossip_plan_next (plan, 16, &first, &n) == 0) {
        assert (n >= 1 && n <= 16 && first + n <= 100);
        for (uint64_t i = first; i < first + n; i++)
            seen [i]++;
        runs++;
    }
    assert (runs == 7);
    for (int i = 0; i < 100; i++)
        assert (seen [i] == 1);
    assert (!gossip_plan_complete (plan));
    for (uint64_t i = 0; i < 100; i++)
        gossip_plan_mark_done (plan, i);
    assert (gossip_plan_complete (plan));
    assert (gossip_plan_done_count (plan) == 100);
    assert (gossip_plan_next (plan, 16, &first, &n) == -1);
    gossip_plan_destroy (&plan);
    assert (plan == NULL);
    assert (gossip_plan_new (0) == NULL);
}

static void
test_plan_requeue (void)
{
    gossip_plan_t *plan = gossip_plan_new (64);
    uint64_t first, n;
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 0 && n == 16);
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 16 && n == 16);
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 32 && n == 16);
    //  The first read comes back with its first 4 groups; the rest of that
    //  range is released (a partial answer) and is asked next, before 48.
    for (uint64_t i = 0; i < 4; i++)
        gossip_plan_mark_done (plan, i);
    gossip_plan_release (plan, 4, 12);
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 4 && n == 12);
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 48 && n == 16);
    assert (gossip_plan_next (plan, 16, &first, &n) == -1);
    //  A banned holder's range (16..31) goes back; done groups in it stay done.
    gossip_plan_mark_done (plan, 20);
    gossip_plan_release (plan, 16, 16);
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 16 && n == 4);
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 21 && n == 11);
    assert (gossip_plan_next (plan, 16, &first, &n) == -1);
    //  A group found wrong on disk is asked again.
    gossip_plan_clear_done (plan, 2);
    assert (gossip_plan_done_count (plan) == 4);
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 2 && n == 1);
    gossip_plan_destroy (&plan);
}

static void
test_plan_load (void)
{
    gossip_plan_t *plan = gossip_plan_new (10);
    uint8_t bits [2] = { 0x05, 0x02 };      //  groups 0, 2, 9
    assert (gossip_plan_load (plan, bits, 2) == 0);
    assert (gossip_plan_done_count (plan) == 3);
    assert (gossip_plan_is_done (plan, 9) && !gossip_plan_is_done (plan, 1));
    uint8_t padding [2] = { 0, 0x04 };      //  bit 10 of 10 groups: refused
    assert (gossip_plan_load (plan, padding, 2) == -1);
    assert (gossip_plan_load (plan, bits, 1) == -1);
    assert (gossip_plan_done_count (plan) == 3);  //  unchanged
    uint64_t first, n;
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 1 && n == 1);
    assert (gossip_plan_next (plan, 16, &first, &n) == 0 && first == 3 && n == 6);
    gossip_plan_destroy (&plan);
}

static size_t
s_encode (const uint8_t blob [32], uint64_t size, const uint8_t *bits, uint8_t **out)
{
    size_t cap = gossip_have_size (size);
    *out = (uint8_t *) malloc (cap);
    size_t len = gossip_have_encode (blob, size, bits, *out, cap);
    assert (len == cap);
    return len;
}

static void
test_have_codec (void)
{
    uint8_t blob [32], back_blob [32];
    memset (blob, 0xab, 32);
    uint64_t size = 5 * 16384 + 7;          //  6 groups: one bitmap byte
    uint8_t bits [1] = { 0x2d }, back [1] = { 0 };
    uint8_t *buf;
    size_t len = s_encode (blob, size, bits, &buf);
    assert (len == GOSSIP_HAVE_HEADER + 1 + 8);
    uint64_t back_size = 0;
    const char *why = NULL;
    assert (gossip_have_decode (buf, len, back_blob, &back_size, back, 1, &why) == 0);
    assert (why == NULL && back_size == size && back [0] == 0x2d);
    assert (memcmp (back_blob, blob, 32) == 0);

    //  Every single-byte change and every truncation is refused.
    for (size_t at = 0; at < len; at++) {
        buf [at] ^= 0x40;
        assert (gossip_have_decode (buf, len, back_blob, &back_size, back, 1, &why) == -1);
        assert (why);
        buf [at] ^= 0x40;
    }
    for (size_t cut = 0; cut < len; cut++)
        assert (gossip_have_decode (buf, cut, back_blob, &back_size, back, 1, NULL) == -1);
    //  A bitmap larger than the caller's buffer is refused, not copied.
    assert (gossip_have_decode (buf, len, back_blob, &back_size, back, 0, &why) == -1);
    free (buf);

    //  Padding bits set (groups 6, 7 do not exist) with a valid checksum.
    uint8_t padded [1] = { 0xc0 };
    len = s_encode (blob, size, padded, &buf);
    assert (gossip_have_decode (buf, len, back_blob, &back_size, back, 1, &why) == -1);
    assert (strstr (why, "padding"));
    free (buf);

    //  The empty blob: no bitmap at all.
    len = s_encode (blob, 0, NULL, &buf);
    assert (len == GOSSIP_HAVE_HEADER + 8);
    assert (gossip_have_decode (buf, len, back_blob, &back_size, back, 0, NULL) == 0);
    assert (back_size == 0);
    free (buf);
    //  Beyond the bound: nothing to encode.
    assert (gossip_have_size (GOSSIP_HAVE_SIZE_MAX + 1) == 0);
}

static void
test_holders (void)
{
    gossip_holders_t holders;
    gossip_holders_init (&holders);
    uint8_t a [32], b [32];
    memset (a, 1, 32);
    memset (b, 2, 32);
    assert (gossip_holders_add (&holders, a) == 0);
    assert (gossip_holders_add (&holders, b) == 1);
    assert (gossip_holders_add (&holders, a) == 0);     //  known: same index
    assert (holders.count == 2);

    //  Round robin within credit: the window starts at 2 each.
    int picks [4];
    for (int k = 0; k < 4; k++) {
        picks [k] = gossip_holders_pick (&holders);
        assert (picks [k] >= 0);
        gossip_holders_sent (&holders, picks [k]);
    }
    assert (picks [0] == 0 && picks [1] == 1 && picks [2] == 0 && picks [3] == 1);
    assert (gossip_holders_pick (&holders) == -1);      //  no credit left
    //  A good answer returns credit and widens the window.
    gossip_holders_good (&holders, 0, 16384);
    assert (holders.list [0].window == 3 && holders.list [0].outstanding == 1);
    assert (gossip_holders_pick (&holders) == 0);
    gossip_holders_sent (&holders, 0);
    assert (gossip_holders_pick (&holders) == 0);

    //  Repeated timeouts drop b; the window halves on each.
    assert (!gossip_holders_timeout (&holders, 1));
    assert (holders.list [1].window == 1);
    assert (!gossip_holders_timeout (&holders, 1));
    gossip_holders_sent (&holders, 1);
    assert (gossip_holders_timeout (&holders, 1));
    assert (holders.list [1].state == GOSSIP_HOLDER_DOWN);
    assert (gossip_holders_live (&holders, 0) == 1);
    //  It answers a probe: live again with a fresh window.
    gossip_holders_up (&holders, 1);
    assert (holders.list [1].state == GOSSIP_HOLDER_LIVE && holders.list [1].window == 2);

    //  Bad bytes ban; an up from a probe does not lift a ban; the ban ends
    //  into down (probe first), not straight into live.
    gossip_holders_ban (&holders, 0, 1000, 60000);
    gossip_holders_up (&holders, 0);
    assert (holders.list [0].state == GOSSIP_HOLDER_BANNED);
    assert (!gossip_holders_all_banned (&holders));
    gossip_holders_ban (&holders, 1, 1000, 60000);
    assert (gossip_holders_all_banned (&holders));
    assert (gossip_holders_live (&holders, 30000) == 0);
    assert (gossip_holders_pick (&holders) == -1);
    assert (gossip_holders_live (&holders, 61000) == 0);
    assert (holders.list [0].state == GOSSIP_HOLDER_DOWN);
    assert (!gossip_holders_all_banned (&holders));

    //  Full.
    for (int k = 2; k < GOSSIP_HOLDERS_MAX; k++) {
        uint8_t id [32];
        memset (id, k + 10, 32);
        assert (gossip_holders_add (&holders, id) == k);
    }
    uint8_t extra [32];
    memset (extra, 0xee, 32);
    assert (gossip_holders_add (&holders, extra) == -1);
    assert (gossip_holders_find (&holders, extra) == -1);
}

int
main (void)
{
    printf (" * gossip_fetchplan: ");
    test_plan_covers_once ();
    test_plan_requeue ();
    test_plan_load ();
    test_have_codec ();
    test_holders ();
    printf ("OK\n");
    return 0;
}
