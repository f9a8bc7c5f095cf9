/*  fuzz_store_each.c: libFuzzer target for the store's run-once requests
    (store_each.c) fed with outside bytes.

    The input is split into up to four parts: an each_claim message (wire
    bytes, decoded by the generated decoder; when it does not decode, the
    raw bytes are used as its key and done lists, lengths and all), name
    frames for an each_pass over the same keys, and an each_list. Whatever
    the lists hold (partial keys, too many keys, invalid UTF-8, huge want),
    the store must answer or refuse with bad-request, never crash, report
    no more states than keys, no state above 3, no more grants than want,
    and keep each_list's counts consistent (known = done + running +
    pending).
*/
#include "store_scratch.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static store_scratch_t s_scratch;
static store_db_t *s_db;

static void
s_cleanup (void)
{
    store_db_destroy (&s_db);
    store_scratch_remove (&s_scratch);
}

static void
s_setup (void)
{
    if (s_db)
        return;
    store_scratch_make (&s_scratch, "fuzz-each");
    store_db_config_t config = { .map_size = 256 << 20, .inline_max = 64,
                                 .sync_interval_ms = 1000 };
    s_db = store_scratch_open (&s_scratch, &config);
    atexit (s_cleanup);
}

static void
s_list_check (const char *ns)
{
    irh_each_list_t list;
    memset (&list, 0, sizeof list);
    snprintf (list.ns, sizeof list.ns, "%s", ns);
    list.counts = 1;
    irh_table_t *table = irh_table_new (STORE_DB_EACH_COUNT_COLUMNS);
    assert (store_db_each_list (s_db, &list, table) == 0);
    uint64_t v [4] = { 0, 0, 0, 0 };
    assert (irh_table_rows (table) == 4);
    for (size_t r = 0; r < 4; r++)
        v [r] = strtoull (irh_table_cell (table, r, 1), NULL, 10);
    assert (v [0] == v [1] + v [2] + v [3]);
    irh_table_destroy (&table);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_setup ();
    if (size < 2)
        return 0;
    size_t split = data [0] % (size - 1) + 1;
    const uint8_t *msg = data + 1, *rest = data + split;
    size_t msg_size = split - 1, rest_size = size - split;

    irh_each_claim_t req;
    if (irh_each_claim_decode_buf (msg, msg_size, &req) != 0) {
        memset (&req, 0, sizeof req);
        strcpy (req.ns, "fuzz");
        strcpy (req.holder, "fuzz-holder");
        req.want = msg_size ? msg [0] % 5 : 1;
        req.keys = (uint8_t *) rest;
        req.keys_size = (uint32_t) rest_size;
        req.done = (uint8_t *) msg;
        req.done_size = (uint32_t) msg_size;
    }
    size_t n = req.keys_size / 32 + 1;
    uint8_t *states = malloc (n), *expires = malloc (8 * n);
    assert (states && expires);
    size_t count = 99;
    int rc = store_db_each_claim (s_db, &req, states, expires, &count);
    if (rc == 0) {
        assert (count <= req.keys_size / 32);
        size_t granted = 0;
        for (size_t i = 0; i < count; i++) {
            assert (states [i] <= 3);
            granted += states [i] == 0;
        }
        assert (granted <= req.want);
    }
    else {
        assert (count == 0);
        const char *code = store_db_error_code (s_db);
        assert (strcmp (code, "bad-request") == 0 || strcmp (code, "full") == 0
             || strcmp (code, "io") == 0);
    }
    free (states);
    free (expires);

    //  each_pass: the rest as names of up to 8 keys, cut at fuzzed points.
    if (req.keys_size >= 32) {
        size_t keys = req.keys_size / 32 < 8 ? req.keys_size / 32 : 8;
        const char *names [8];
        size_t sizes [8];
        size_t pos = 0;
        for (size_t i = 0; i < keys; i++) {
            size_t len = pos < rest_size ? rest [pos] % 16 : 0;
            if (len > rest_size - pos)
                len = rest_size - pos;
            names [i] = (const char *) rest + pos;
            sizes [i] = len;
            pos += len;
        }
        if (store_db_each_pass (s_db, req.ns, req.keys, keys, names, sizes) != 0)
            assert (strcmp (store_db_error_code (s_db), "bad-request") == 0
                 || strcmp (store_db_error_code (s_db), "full") == 0);
    }
    s_list_check (req.ns);
    return 0;
}
