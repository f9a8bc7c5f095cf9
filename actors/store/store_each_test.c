/*  store_each_test.c: self-test of run-once passes in the store
    (store_each.c), run by ctest as "c.store_each". Real LMDB in a temp
    directory; the clock is set by hand for lease expiry.

    Checks: each_claim grants in order up to want and reports every key it
    looked at; done marks are results (fn irohds.each, in the namespace's
    digest) that end claims; another live holder's lease is respected until
    it runs out; a dead local holder's claim is free at once; want 0 only
    reports; each_list counts and rows; malformed lists are refused with a
    counter and change nothing.
*/
#include "store_dbi.h"
#include "store_scratch.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <unistd.h>

static void
s_key (uint8_t *key, int n)
{
    char text [32];
    snprintf (text, sizeof (text), "each-key-%d", n);
    irh_blake3 (text, strlen (text), key);
}

//  Keys first..first+n-1 concatenated into buf.
static size_t
s_keys (uint8_t *buf, int first, int n)
{
    for (int i = 0; i < n; i++)
        s_key (buf + 32 * i, first + i);
    return 32 * (size_t) n;
}

static size_t
s_step (store_db_t *db, const char *holder, uint32_t want, const uint8_t *done, size_t done_size,
        const uint8_t *keys, size_t keys_size, uint8_t *states, uint64_t *expires)
{
    irh_each_claim_t req;
    memset (&req, 0, sizeof (req));
    strcpy (req.ns, "lab");
    snprintf (req.holder, sizeof (req.holder), "%s", holder);
    req.lease_ms = 10000;
    req.want = want;
    req.done = (uint8_t *) done;
    req.done_size = (uint32_t) done_size;
    req.keys = (uint8_t *) keys;
    req.keys_size = (uint32_t) keys_size;
    uint8_t raw [8 * 64];
    size_t count = 99;
    assert (keys_size <= 32 * 64);
    assert (store_db_each_claim (db, &req, states, raw, &count) == 0);
    for (size_t i = 0; i < count && expires; i++)
        expires [i] = store_dbi_get_be64 (raw + 8 * i);
    return count;
}

static uint64_t
s_count (store_db_t *db, const char *state)
{
    irh_each_list_t req;
    memset (&req, 0, sizeof (req));
    strcpy (req.ns, "lab");
    req.counts = 1;
    irh_table_t *table = irh_table_new (STORE_DB_EACH_COUNT_COLUMNS);
    assert (store_db_each_list (db, &req, table) == 0);
    uint64_t value = UINT64_MAX;
    for (size_t r = 0; r < irh_table_rows (table); r++)
        if (streq (irh_table_cell (table, r, 0), state))
            value = strtoull (irh_table_cell (table, r, 1), NULL, 10);
    irh_table_destroy (&table);
    return value;
}

static void
s_test (void)
{
    store_scratch_t scratch;
    store_scratch_make (&scratch, "eachtest");
    store_db_config_t config = { .map_size = 256ULL << 20, .inline_max = 64 << 10 };
    store_db_t *db = store_scratch_open (&scratch, &config);
    uint64_t now = 1700000000000000ULL;
    store_db_set_clock (db, now);

    //  A live holder of this machine (this process) and a dead one.
    char alive [128], dead [128], name [65] = "";
    gethostname (name, 64);
    snprintf (alive, sizeof (alive), "%d@%s/a", (int) getpid (), name);
    snprintf (dead, sizeof (dead), "4194303@%s/d", name);
    const char *other = "other-host-holder";

    //  Record 6 keys with names.
    uint8_t keys [32 * 64], done [32 * 8];
    s_keys (keys, 0, 6);
    const char *names [6] = { "k0", "k1", "k2", "k3", "k4", "k5" };
    size_t sizes [6] = { 2, 2, 2, 2, 2, 2 };
    assert (store_db_each_pass (db, "lab", keys, 6, names, sizes) == 0);
    assert (s_count (db, "known") == 6 && s_count (db, "pending") == 6);

    //  Grant 2 of the first 6 in order: the store stops at the 2nd grant.
    uint8_t states [64];
    uint64_t expires [64];
    assert (s_step (db, alive, 2, NULL, 0, keys, 32 * 6, states, expires) == 2);
    assert (states [0] == 0 && states [1] == 0 && expires [0] == now + 10000000);
    //  Another holder: keys 0 and 1 held (with their lease end), 2 granted.
    assert (s_step (db, other, 1, NULL, 0, keys, 32 * 6, states, expires) == 3);
    assert (states [0] == 1 && states [1] == 1 && states [2] == 0);
    assert (expires [0] == now + 10000000);
    assert (s_count (db, "running") == 3);

    //  Done marks: key 0 done by alive; a result of fn irohds.each in "lab".
    //  want 0 reports: key 1 is alive's own (free for it), 2 other's.
    memcpy (done, keys, 32);
    assert (s_step (db, alive, 0, done, 32, keys, 32 * 6, states, NULL) == 6);
    assert (states [0] == 2 && states [1] == 3 && states [2] == 1 && states [3] == 3);
    store_db_hit_t hit;
    assert (store_db_get (db, keys, false, &hit) == 0);
    assert (streq (hit.manifest.fn, "irohds.each") && streq (hit.manifest.ns, "lab"));
    assert (hit.manifest.size == 0);
    zframe_destroy (&hit.content);
    assert (irh_digest_count (store_db_digest (db, "lab")) == 1);
    assert (store_db_counter (db, STORE_EACH_DONE) == 1);

    //  Leases run out: after 10 s keys 1 and 2 are free again.
    store_db_set_clock (db, now + 10000001);
    assert (s_step (db, other, 0, NULL, 0, keys, 32 * 3, states, NULL) == 3);
    assert (states [0] == 2 && states [1] == 3 && states [2] == 3);
    store_db_set_clock (db, now);

    //  A dead local holder's claim is free at once.
    assert (s_step (db, dead, 1, NULL, 0, keys + 32 * 3, 32, states, NULL) == 1);
    assert (states [0] == 0);
    uint64_t dead_before = store_db_counter (db, STORE_CLAIMS_DEAD);
    assert (s_step (db, alive, 1, NULL, 0, keys + 32 * 3, 32, states, NULL) == 1);
    assert (states [0] == 0);
    assert (store_db_counter (db, STORE_CLAIMS_DEAD) == dead_before + 1);

    //  each_list rows: names and states, filtered.
    irh_each_list_t list;
    memset (&list, 0, sizeof (list));
    strcpy (list.ns, "lab");
    strcpy (list.state, "done");
    irh_table_t *table = irh_table_new (STORE_DB_EACH_COLUMNS);
    assert (store_db_each_list (db, &list, table) == 0);
    assert (irh_table_rows (table) == 1 && streq (irh_table_cell (table, 0, 1), "k0"));
    irh_table_destroy (&table);
    strcpy (list.ns, "elsewhere");
    list.state [0] = 0;
    table = irh_table_new (STORE_DB_EACH_COLUMNS);
    assert (store_db_each_list (db, &list, table) == 0 && irh_table_rows (table) == 0);
    irh_table_destroy (&table);

    //  Malformed lists: refused, counted, nothing changed.
    uint64_t bad = store_db_counter (db, STORE_BAD_REQUESTS);
    irh_each_claim_t req;
    memset (&req, 0, sizeof (req));
    strcpy (req.holder, "h");
    req.want = 1;
    req.keys = keys;
    req.keys_size = 33;
    size_t count;
    assert (store_db_each_claim (db, &req, states, (uint8_t *) expires, &count) == -1);
    assert (streq (store_db_error_code (db), "bad-request") && count == 0);
    req.keys_size = 32;
    req.done = keys + 32 * 5;
    req.done_size = 31;
    assert (store_db_each_claim (db, &req, states, (uint8_t *) expires, &count) == -1);
    req.done_size = 0;
    req.holder [0] = 0;
    assert (store_db_each_claim (db, &req, states, (uint8_t *) expires, &count) == -1);
    const char *bad_names [1] = { "\xff\xfe" };
    size_t bad_sizes [1] = { 2 };
    assert (store_db_each_pass (db, "lab", keys + 32 * 5, 1, bad_names, bad_sizes) == -1);
    assert (store_db_counter (db, STORE_BAD_REQUESTS) == bad + 4);
    assert (s_count (db, "done") == 1 && s_count (db, "known") == 6);

    store_db_destroy (&db);
    store_scratch_remove (&scratch);
}

int
main (int argc, char **argv)
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    if (verbose)
        printf (" * store_each: ");
    s_test ();
    if (verbose)
        printf ("OK\n");
    return 0;
}
