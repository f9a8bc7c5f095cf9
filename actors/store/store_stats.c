/*  store_stats.c: the store's stats and info tables: counters, size sums,
    LMDB figures, live claims and the key digests' figures (docs/store.md,
    "Stats").
*/
#include "store_dbi.h"
#include <stdarg.h>

//  Claims whose lease runs and whose holder is a live process of this
//  node: keys it computes right now (the gossip heartbeat's "busy"; a
//  lease this node keeps as a key's arbiter for another node's process
//  is that node's work, not ours). The
//  claims database also keeps expired records until they are claimed
//  again; a walk is cheap, it holds one record per key in flight.
static uint64_t
s_claims_active (store_db_t *self)
{
    MDB_txn *txn;
    MDB_cursor *cursor;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return 0;
    uint64_t n = 0, now = store_db_now (self);
    if (mdb_cursor_open (txn, self->claims, &cursor) == 0) {
        MDB_val k, v;
        irh_claim_rec_t claim;
        for (int op = MDB_FIRST; mdb_cursor_get (cursor, &k, &v, op) == 0; op = MDB_NEXT)
            if (irh_claim_rec_decode_buf (v.mv_data, v.mv_size, &claim) == 0
            &&  claim.expires_us > now && !store_dbi_holder_dead (claim.holder)
            &&  !store_dbi_holder_remote (claim.holder))
                n++;
        mdb_cursor_close (cursor);
    }
    mdb_txn_abort (txn);
    return n;
}

static uint64_t
s_entries (store_db_t *self, MDB_dbi dbi)
{
    MDB_txn *txn;
    MDB_stat st;
    if (mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn))
        return 0;
    uint64_t n = mdb_stat (txn, dbi, &st) == 0 ? st.ms_entries : 0;
    mdb_txn_abort (txn);
    return n;
}

uint64_t
store_db_stat (store_db_t *self, const char *name)
{
    for (int i = 0; i < STORE_COUNTERS; i++)
        if (streq (name, store_counter_names [i]))
            return self->counters [i];
    if (streq (name, "entries"))
        return s_entries (self, self->results);
    if (streq (name, "blobs"))
        return s_entries (self, self->blobs);
    if (streq (name, "claims"))
        return s_entries (self, self->claims);
    if (streq (name, "claims_active"))
        return s_claims_active (self);
    if (streq (name, "bytes_total"))
        return self->sums.bytes_total;
    if (streq (name, "inline_bytes"))
        return self->sums.inline_bytes;
    if (streq (name, "file_bytes"))
        return self->sums.file_bytes;
    if (streq (name, "pending_touches"))
        return zhashx_size (self->touches);
    if (streq (name, "map_size"))
        return self->map_now;
    if (streq (name, "digests") || streq (name, "digest_keys") || streq (name, "digest_saturated"))
        return store_dbi_digest_stat (self, name);
    if (streq (name, "map_used")) {
        MDB_envinfo info;
        MDB_stat st;
        mdb_env_info (self->env, &info);
        mdb_env_stat (self->env, &st);
        return (uint64_t) (info.me_last_pgno + 1) * st.ms_psize;
    }
    return 0;
}

void
store_db_stats (store_db_t *self, irh_table_t *table)
{
    static const char *sums [] = { "entries", "blobs", "claims", "claims_active", "bytes_total",
                                   "inline_bytes",
                                   "file_bytes", "map_size", "map_used", "pending_touches",
                                   "digests", "digest_keys", "digest_saturated" };
    for (size_t i = 0; i < sizeof (sums) / sizeof (sums [0]); i++) {
        irh_table_row (table);
        irh_table_str (table, sums [i]);
        irh_table_u64 (table, store_db_stat (self, sums [i]));
    }
    for (int i = 0; i < STORE_COUNTERS; i++) {
        irh_table_row (table);
        irh_table_str (table, store_counter_names [i]);
        irh_table_u64 (table, self->counters [i]);
    }
}

static void
s_info_row (irh_table_t *table, const char *name, const char *format, ...)
{
    char value [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (value, sizeof (value), format, args);
    va_end (args);
    irh_table_row (table);
    irh_table_str (table, name);
    irh_table_str (table, value);
}

void
store_db_info (store_db_t *self, irh_table_t *table)
{
    s_info_row (table, "store", "%s", self->store_dir);
    s_info_row (table, "blobs", "%s", self->blobs_dir);
    s_info_row (table, "staging", "%s", self->staging_dir);
    s_info_row (table, "fetch", "%s", self->fetch_dir ? self->fetch_dir : "");
    s_info_row (table, "digest_open_us", "%llu", (unsigned long long) self->digest_open_us);
    s_info_row (table, "map_size", "%llu", (unsigned long long) self->map_now);
    s_info_row (table, "map_max", "%llu", (unsigned long long) self->config.map_size);
    s_info_row (table, "inline_max", "%llu", (unsigned long long) self->config.inline_max);
    s_info_row (table, "max_bytes", "%llu", (unsigned long long) self->config.max_bytes);
    s_info_row (table, "default_ttl", "%llu", (unsigned long long) self->config.default_ttl_ms);
    s_info_row (table, "reset_reason", "%s", self->reset_reason);
    s_info_row (table, "format", "%d", STORE_DB_FORMAT);
    s_info_row (table, "lmdb", "%s", mdb_version (NULL, NULL, NULL));
}
