/*  store_each.c: run-once passes (irohds.each; store.def each_pass,
    each_claim, each_list; docs/run-once.md).

    A task is done when a live result is stored under its store key (the
    done mark: fn "irohds.each", codec "raw", empty content, stored with
    store_db_put like any result, so it ends the claim, wakes waiters and
    shows in the namespace's digest). Claims are the claims database the
    single-key "claim" uses (store_dbi_claim_step), so a key claimed by
    @irohds.memo and by irohds.each is one claim.

    The "each" database records every key a pass was given, so that
    `irohds-ctl each NS` can count pending keys and name them: key
    BLAKE3-256(ns) || store key (64 bytes), value the display name. Cost:
    about 100 bytes of LMDB per recorded key, written once per pass in
    batches of up to 4096 keys.

    Every list here is outside input: key lists must be whole 32-byte
    keys, names valid UTF-8; anything else is a bad-request, never a crash.
*/
#include "store_dbi.h"
#include "irh_hash.h"
#include "irh_utf8.h"
#include <string.h>

#define S_NAME_MAX      1024
#define S_EACH_FN       "irohds.each"

static void
s_ns_prefix (const char *ns, uint8_t out [IRH_HASH_SIZE])
{
    irh_blake3 (ns, strlen (ns), out);
}

int
store_db_each_pass (store_db_t *self, const char *ns, const uint8_t *keys, size_t n,
                    const char *const *names, const size_t *sizes)
{
    for (size_t i = 0; i < n; i++)
        if (sizes [i] > S_NAME_MAX || !irh_utf8_valid (names [i], sizes [i]))
            return store_dbi_refuse (self, STORE_BAD_REQUESTS,
                                     "each_pass: name %zu is not UTF-8 of at most %d bytes",
                                     i, S_NAME_MAX);
    uint8_t k [2 * IRH_HASH_SIZE];
    s_ns_prefix (ns, k);
    store_wtxn_t w;
    if (store_dbi_begin (self, &w))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        memcpy (k + IRH_HASH_SIZE, keys + i * STORE_KEY_SIZE, STORE_KEY_SIZE);
        MDB_val kv = { sizeof (k), k }, vv = { sizes [i], (void *) names [i] };
        rc = mdb_put (w.txn, self->each, &kv, &vv, 0);
    }
    if (!rc) {
        self->counters [STORE_EACH_RECORDED] += n;
        rc = store_dbi_commit (self, &w);
        if (rc)
            self->counters [STORE_EACH_RECORDED] -= n;
    }
    else
        store_dbi_abort (self, &w);
    return rc ? store_dbi_mdb_fail (self, "each_pass", rc) : 0;
}

//  Done marks: one put each (each its own transaction, like any put).
static int
s_mark_done (store_db_t *self, const irh_each_claim_t *req)
{
    size_t n = req->done_size / STORE_KEY_SIZE;
    for (size_t i = 0; i < n; i++) {
        irh_put_t put;
        memset (&put, 0, sizeof (put));
        memcpy (put.key, req->done + i * STORE_KEY_SIZE, STORE_KEY_SIZE);
        strcpy (put.codec, "raw");
        strcpy (put.fn, S_EACH_FN);
        strcpy (put.ns, req->ns);
        strcpy (put.holder, req->holder);
        irh_put_ok_t ok;
        if (store_db_put (self, &put, (const uint8_t *) "", 0, &ok))
            return -1;
        self->counters [STORE_EACH_DONE]++;
    }
    return 0;
}

int
store_db_each_claim (store_db_t *self, const irh_each_claim_t *req, uint8_t *states,
                     uint8_t *expires, size_t *count)
{
    *count = 0;
    self->counters [STORE_EACH_REQUESTS]++;
    if (req->keys_size % STORE_KEY_SIZE || req->done_size % STORE_KEY_SIZE)
        return store_dbi_refuse (self, STORE_BAD_REQUESTS,
                                 "each_claim: key lists must be whole 32-byte keys "
                                 "(keys %u bytes, done %u bytes)",
                                 (unsigned) req->keys_size, (unsigned) req->done_size);
    if (req->keys_size / STORE_KEY_SIZE > 16384 || req->done_size / STORE_KEY_SIZE > 4096)
        return store_dbi_refuse (self, STORE_BAD_REQUESTS,
                                 "each_claim: at most 16384 keys and 4096 done keys");
    if (!*req->holder && req->want)
        return store_dbi_refuse (self, STORE_BAD_REQUESTS, "each_claim: claiming needs a holder");
    if (s_mark_done (self, req))
        return -1;
    size_t n = req->keys_size / STORE_KEY_SIZE;
    if (n == 0)
        return 0;
    store_wtxn_t w;
    if (store_dbi_begin (self, &w))
        return -1;
    uint32_t granted = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        irh_claim_rec_t claim;
        int state = store_dbi_claim_step (self, w.txn, req->keys + i * STORE_KEY_SIZE,
                                          req->holder, req->lease_ms, granted < req->want,
                                          &claim, &rc);
        if (state < 0)
            break;
        states [i] = (uint8_t) state;
        store_dbi_put_be64 (expires + 8 * i, state <= 1 ? claim.expires_us : 0);
        *count = i + 1;
        if (state == 0 && ++granted == req->want)
            break;
    }
    if (!rc && granted)
        rc = store_dbi_commit (self, &w);
    else
        store_dbi_abort (self, &w);
    if (rc) {
        self->counters [STORE_CLAIMS_GRANTED] -= granted;
        *count = 0;
        return store_dbi_mdb_fail (self, "each_claim", rc);
    }
    return 0;
}

//  State of one recorded key for each_list, inside txn.
static const char *
s_state (store_db_t *self, MDB_txn *txn, const uint8_t *key, irh_claim_rec_t *claim)
{
    memset (claim, 0, sizeof (*claim));
    irh_manifest_t m;
    if (store_dbi_manifest (self, txn, key, &m) == 0 && store_dbi_live (self, &m))
        return "done";
    MDB_val k = { STORE_KEY_SIZE, (void *) key }, v;
    if (mdb_get (txn, self->claims, &k, &v) == 0
    &&  irh_claim_rec_decode_buf (v.mv_data, v.mv_size, claim) == 0
    &&  claim->expires_us > store_db_now (self)
    &&  !store_dbi_holder_dead (claim->holder))
        return "running";
    memset (claim, 0, sizeof (*claim));
    return "pending";
}

int
store_db_each_list (store_db_t *self, const irh_each_list_t *req, irh_table_t *table)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin read transaction", rc);
    MDB_cursor *cursor;
    rc = mdb_cursor_open (txn, self->each, &cursor);
    if (rc) {
        mdb_txn_abort (txn);
        return store_dbi_mdb_fail (self, "each_list", rc);
    }
    uint8_t prefix [IRH_HASH_SIZE];
    s_ns_prefix (req->ns, prefix);
    MDB_val k = { sizeof (prefix), prefix }, v;
    uint64_t counts [3] = { 0, 0, 0 };          //  done, running, pending
    uint32_t rows = 0;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == 2 * IRH_HASH_SIZE
       &&  memcmp (k.mv_data, prefix, IRH_HASH_SIZE) == 0) {
        const uint8_t *key = (const uint8_t *) k.mv_data + IRH_HASH_SIZE;
        irh_claim_rec_t claim;
        const char *state = s_state (self, txn, key, &claim);
        counts [state [0] == 'd' ? 0 : state [0] == 'r' ? 1 : 2]++;
        if (!req->counts && (!*req->state || streq (req->state, state))
        &&  (req->limit == 0 || rows < req->limit)) {
            irh_table_row (table);
            irh_table_hex (table, key, STORE_KEY_SIZE);
            char name [S_NAME_MAX + 1];
            size_t size = v.mv_size < S_NAME_MAX ? v.mv_size : S_NAME_MAX;
            memcpy (name, v.mv_data, size);
            name [size] = 0;
            irh_table_str (table, name);
            irh_table_str (table, state);
            irh_table_str (table, claim.holder);
            irh_table_u64 (table, claim.expires_us);
            rows++;
        }
        rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (rc && rc != MDB_NOTFOUND)
        return store_dbi_mdb_fail (self, "each_list", rc);
    if (req->counts) {
        const char *names [4] = { "known", "done", "running", "pending" };
        uint64_t values [4] = { counts [0] + counts [1] + counts [2],
                                counts [0], counts [1], counts [2] };
        for (int i = 0; i < 4; i++) {
            irh_table_row (table);
            irh_table_str (table, names [i]);
            irh_table_u64 (table, values [i]);
        }
    }
    return 0;
}
