/*  store_db.c: the store's LMDB layer: helpers, write transactions,
    entry removal, LRU eviction, batched touches and get. The on-disk
    format is specified in proto/store-layout.md; opening, closing and
    syncing the environment are in store_env.c, put in store_put.c,
    ls/evict/gc/claims/stats in store_ops.c.

    Outside input (requests, staged files, what is on disk) is never
    trusted: a record that fails to decode or content that fails its
    BLAKE3 check is removed and counted, and the caller gets a miss or an
    error code, never an abort.
*/
#include "store_dbi.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

const char *store_counter_names [STORE_COUNTERS] = {
    "hits", "misses", "puts", "deduped", "corrupt", "evictions", "expired",
    "bad_requests", "bad_paths", "map_full", "map_grown", "put_errors",
    "io_errors", "claims_granted", "claims_held", "claims_waited",
    "claims_released", "touches", "gc_runs", "hits_local", "claims_dead",
    "store_reset", "no_space", "gc_refused", "ingested", "ingest_refused",
    "ingest_mismatch", "ingest_exists", "digest_rebuilds", "digest_inconsistent",
    "each_requests", "each_done", "each_keys_recorded"
};

const char *store_dbi_sum_names [3] = { "bytes_total", "inline_bytes", "file_bytes" };

//  --------------------------------------------------------------------------
//  Small helpers

int
store_dbi_fail (store_db_t *self, const char *code, const char *format, ...)
{
    snprintf (self->error_code, sizeof (self->error_code), "%s", code);
    va_list args;
    va_start (args, format);
    vsnprintf (self->error_text, sizeof (self->error_text), format, args);
    va_end (args);
    return -1;
}

int
store_dbi_refuse (store_db_t *self, store_counter_t counter, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->error_text, sizeof (self->error_text), format, args);
    va_end (args);
    snprintf (self->error_code, sizeof (self->error_code), "bad-request");
    self->counters [counter]++;
    if (counter != STORE_BAD_REQUESTS)
        self->counters [STORE_BAD_REQUESTS]++;
    if (!(self->logged & (1ULL << counter))) {
        self->logged |= 1ULL << counter;
        irh_warn ("store: refused (%s, logged once): %s", store_counter_names [counter],
                  self->error_text);
    }
    else
        irh_debug ("store: refused (%s): %s", store_counter_names [counter], self->error_text);
    return -1;
}

int
store_dbi_mdb_fail (store_db_t *self, const char *what, int rc)
{
    self->counters [STORE_IO_ERRORS]++;
    irh_error ("store: %s: %s", what, mdb_strerror (rc));
    return store_dbi_fail (self, "io", "%s: %s", what, mdb_strerror (rc));
}

uint64_t
store_dbi_get_be64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p [i];
    return v;
}

void
store_dbi_put_be64 (uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p [i] = (uint8_t) v;
        v >>= 8;
    }
}

void
store_dbi_time_key (uint8_t out [40], uint64_t t, const uint8_t *key)
{
    store_dbi_put_be64 (out, t);
    memcpy (out + 8, key, STORE_KEY_SIZE);
}

size_t
store_dbi_fn_key (uint8_t *out, const char *fn, const uint8_t *key)
{
    size_t len = strlen (fn);
    if (len > STORE_FN_PREFIX)
        len = STORE_FN_PREFIX;
    memcpy (out, fn, len);
    out [len] = 0;
    memcpy (out + len + 1, key, STORE_KEY_SIZE);
    return len + 1 + STORE_KEY_SIZE;
}

char *
store_dbi_blob_path (store_db_t *self, const uint8_t *hash)
{
    char hex [IRH_HASH_HEX_SIZE];
    irh_hash_hex (hash, hex);
    return zsys_sprintf ("%s/%.2s/%s", self->blobs_dir, hex, hex);
}

uint64_t
store_db_now (store_db_t *self)
{
    if (self->clock_us)
        return self->clock_us;
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000000ULL + (uint64_t) tv.tv_usec;
}

void
store_db_set_clock (store_db_t *self, uint64_t now_us)
{
    self->clock_us = now_us;
}

const char *
store_db_error_code (store_db_t *self)
{
    return self->error_code;
}

const char *
store_db_error_text (store_db_t *self)
{
    return self->error_text;
}

void
store_db_count (store_db_t *self, store_counter_t counter, uint64_t n)
{
    assert (counter < STORE_COUNTERS);
    self->counters [counter] += n;
}

uint64_t
store_db_counter (store_db_t *self, store_counter_t counter)
{
    assert (counter < STORE_COUNTERS);
    return self->counters [counter];
}

void
store_dbi_list_purge (zlist_t *list)
{
    void *item;
    while ((item = zlist_pop (list)))
        free (item);
}

void
store_dbi_list_free (zlist_t **list_p)
{
    if (*list_p)
        store_dbi_list_purge (*list_p);
    zlist_destroy (list_p);
}

int
store_dbi_mkdir (const char *path)
{
    if (mkdir (path, 0700) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

//  --------------------------------------------------------------------------
//  Write transactions

int
store_dbi_meta_put_u64 (store_db_t *self, MDB_txn *txn, const char *name, uint64_t value)
{
    uint8_t buf [8];
    store_dbi_put_be64 (buf, value);
    MDB_val k = { strlen (name), (void *) name }, v = { 8, buf };
    return mdb_put (txn, self->meta, &k, &v, 0);
}

uint64_t
store_dbi_meta_get_u64 (store_db_t *self, MDB_txn *txn, const char *name)
{
    MDB_val k = { strlen (name), (void *) name }, v;
    if (mdb_get (txn, self->meta, &k, &v) || v.mv_size != 8)
        return 0;
    return store_dbi_get_be64 (v.mv_data);
}

int
store_dbi_begin (store_db_t *self, store_wtxn_t *w)
{
    memset (w, 0, sizeof (*w));
    int rc = mdb_txn_begin (self->env, NULL, 0, &w->txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin write transaction", rc);
    w->sums = self->sums;
    w->unlink = zlist_new ();
    w->digest_ops = zlist_new ();
    return 0;
}

void
store_dbi_abort (store_db_t *self, store_wtxn_t *w)
{
    (void) self;
    if (w->txn)
        mdb_txn_abort (w->txn);
    w->txn = NULL;
    store_dbi_list_free (&w->unlink);
    store_dbi_digest_apply (self, w, false);
}

int
store_dbi_commit (store_db_t *self, store_wtxn_t *w)
{
    int rc = 0;
    char name [64];
    uint64_t *sums = (uint64_t *) &w->sums;
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf (name, sizeof (name), "s:%s", store_dbi_sum_names [i]);
        rc = store_dbi_meta_put_u64 (self, w->txn, name, sums [i]);
    }
    for (int i = 0; i < STORE_COUNTERS && !rc; i++) {
        if (self->counters [i] == self->saved [i])
            continue;
        snprintf (name, sizeof (name), "c:%s", store_counter_names [i]);
        rc = store_dbi_meta_put_u64 (self, w->txn, name, self->counters [i]);
    }
    if (!rc) {
        rc = mdb_txn_commit (w->txn);
        w->txn = NULL;
    }
    if (rc) {
        store_dbi_abort (self, w);
        return rc;
    }
    self->sums = w->sums;
    self->dirty = true;
    memcpy (self->saved, self->counters, sizeof (self->saved));
    //  The records are gone: now their files may go. A crash before this
    //  leaves orphans for gc, never a record without its file.
    char *path;
    while ((path = zlist_pop (w->unlink))) {
        if (unlink (path) && errno != ENOENT)
            irh_warn ("store: cannot remove %s: %s", path, strerror (errno));
        free (path);
    }
    store_dbi_list_free (&w->unlink);
    //  Committed: the digests follow (kept in memory only, so never ahead
    //  of what a reader of the database sees).
    store_dbi_digest_apply (self, w, true);
    return 0;
}

//  --------------------------------------------------------------------------
//  Removing entries and blob references

int
store_dbi_del (MDB_txn *txn, MDB_dbi dbi, const void *key, size_t size)
{
    MDB_val k = { size, (void *) key };
    int rc = mdb_del (txn, dbi, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  Drop one reference to blob hash; at zero the blob goes (file after commit).
int
store_dbi_decref (store_db_t *self, store_wtxn_t *w, const uint8_t *hash)
{
    MDB_val k = { STORE_KEY_SIZE, (void *) hash }, v;
    uint64_t refs = 0;
    int rc = mdb_get (w->txn, self->refs, &k, &v);
    if (rc == 0 && v.mv_size == 8)
        refs = store_dbi_get_be64 (v.mv_data);
    else
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    if (refs > 1) {
        uint8_t buf [8];
        store_dbi_put_be64 (buf, refs - 1);
        MDB_val nv = { 8, buf };
        return mdb_put (w->txn, self->refs, &k, &nv, 0);
    }
    rc = mdb_get (w->txn, self->blobs, &k, &v);
    if (rc == 0) {
        irh_blob_t blob;
        bool decoded = irh_blob_decode_buf (v.mv_data, v.mv_size, &blob) == 0;
        if (decoded) {
            w->sums.bytes_total -= blob.size <= w->sums.bytes_total ? blob.size : w->sums.bytes_total;
            uint64_t *part = blob.kind == 1 ? &w->sums.file_bytes : &w->sums.inline_bytes;
            *part -= blob.size <= *part ? blob.size : *part;
            w->freed += blob.size;
        }
        //  A file blob (or a record too broken to tell) leaves its file unowned.
        if (!decoded || blob.kind != 0)
            zlist_append (w->unlink, store_dbi_blob_path (self, hash));
        rc = mdb_del (w->txn, self->blobs, &k, NULL);
    }
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    return store_dbi_del (w->txn, self->refs, hash, STORE_KEY_SIZE);
}

int
store_dbi_remove (store_db_t *self, store_wtxn_t *w, const uint8_t *key, const irh_manifest_t *m)
{
    int rc = store_dbi_del (w->txn, self->results, key, STORE_KEY_SIZE);
    if (!rc)
        store_dbi_digest_note (self, w, key, m, false);
    if (rc || !m)
        return rc;      //  undecodable manifest: its index entries are stale hints now
    uint8_t ik [STORE_FN_PREFIX + 1 + STORE_KEY_SIZE];
    store_dbi_time_key (ik, m->accessed_us, key);
    rc = store_dbi_del (w->txn, self->lru, ik, 40);
    if (!rc && m->expires_us) {
        store_dbi_time_key (ik, m->expires_us, key);
        rc = store_dbi_del (w->txn, self->expiry, ik, 40);
    }
    if (!rc)
        rc = store_dbi_del (w->txn, self->fnindex, ik, store_dbi_fn_key (ik, m->fn, key));
    if (!rc)
        rc = store_dbi_del (w->txn, self->ttl, key, STORE_KEY_SIZE);
    if (!rc)
        rc = store_dbi_decref (self, w, m->blob);
    return rc;
}

uint64_t
store_dbi_expiry_at (uint64_t now_us, uint64_t ttl_ms)
{
    if (ttl_ms == 0)
        return 0;
    return ttl_ms > (UINT64_MAX - now_us) / 1000ULL ? UINT64_MAX : now_us + ttl_ms * 1000ULL;
}

uint64_t
store_dbi_ttl (store_db_t *self, MDB_txn *txn, const uint8_t *key)
{
    MDB_val k = { STORE_KEY_SIZE, (void *) key }, v;
    if (mdb_get (txn, self->ttl, &k, &v) || v.mv_size != 8)
        return 0;
    return store_dbi_get_be64 (v.mv_data);
}

int
store_dbi_set_expiry (store_db_t *self, store_wtxn_t *w, const uint8_t *key,
                      irh_manifest_t *m, uint64_t expires_us)
{
    uint8_t ik [40];
    int rc = 0;
    if (m->expires_us) {
        store_dbi_time_key (ik, m->expires_us, key);
        rc = store_dbi_del (w->txn, self->expiry, ik, 40);
    }
    m->expires_us = expires_us;
    if (!rc && expires_us) {
        store_dbi_time_key (ik, expires_us, key);
        rc = mdb_put (w->txn, self->expiry, &(MDB_val) { 40, ik }, &(MDB_val) { 0, "" }, 0);
    }
    return rc;
}

//  Read and decode a manifest inside txn: 0 ok, MDB_NOTFOUND, 1 corrupt,
//  or an LMDB error.
int
store_dbi_manifest (store_db_t *self, MDB_txn *txn, const uint8_t *key, irh_manifest_t *m)
{
    MDB_val k = { STORE_KEY_SIZE, (void *) key }, v;
    int rc = mdb_get (txn, self->results, &k, &v);
    if (rc)
        return rc;
    return irh_manifest_decode_buf (v.mv_data, v.mv_size, m) ? 1 : 0;
}

int
store_dbi_put_manifest (store_db_t *self, MDB_txn *txn, const uint8_t *key, const irh_manifest_t *m)
{
    uint8_t buf [2048];
    size_t size = irh_manifest_encode_buf (m, buf, sizeof (buf));
    assert (size);      //  fields came through decoders with the same limits
    MDB_val k = { STORE_KEY_SIZE, (void *) key }, v = { size, buf };
    return mdb_put (txn, self->results, &k, &v, 0);
}

int
store_dbi_evict_lru (store_db_t *self, store_wtxn_t *w, uint64_t target, const uint8_t *keep)
{
    //  Each round re-finds the oldest entry (at or past the kept one), so
    //  deletions through other databases never leave a cursor dangling.
    uint8_t from [40];
    bool skip_from = false;
    int rc = 0;
    while (rc == 0 && w->sums.bytes_total > target) {
        MDB_cursor *cursor;
        rc = mdb_cursor_open (w->txn, self->lru, &cursor);
        if (rc)
            break;
        MDB_val k = { 40, from }, v;
        rc = mdb_cursor_get (cursor, &k, &v, skip_from ? MDB_SET_RANGE : MDB_FIRST);
        if (rc == 0 && skip_from && k.mv_size == 40 && memcmp (k.mv_data, from, 40) == 0)
            rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
        uint8_t ik [40];
        size_t ik_size = k.mv_size <= 40 ? k.mv_size : 40;
        if (rc == 0)
            memcpy (ik, k.mv_data, ik_size);
        mdb_cursor_close (cursor);
        if (rc)
            break;
        MDB_val dk = { k.mv_size, ik };
        if (k.mv_size != 40) {
            rc = mdb_del (w->txn, self->lru, &dk, NULL);    //  not ours: drop it
            continue;
        }
        const uint8_t *key = ik + 8;
        irh_manifest_t m;
        int mrc = store_dbi_manifest (self, w->txn, key, &m);
        if (mrc == 0 && keep && memcmp (key, keep, STORE_KEY_SIZE) == 0) {
            memcpy (from, ik, 40);
            skip_from = true;
        }
        else
        if (mrc == 0 && m.accessed_us == store_dbi_get_be64 (ik)) {
            rc = store_dbi_remove (self, w, key, &m);
            w->removed++;
            self->counters [STORE_EVICTIONS]++;
        }
        else
        if (mrc == 0 || mrc == MDB_NOTFOUND || mrc == 1) {
            //  A stale hint (entry gone, or touched since), or a corrupt manifest.
            if (mrc == 1) {
                rc = store_dbi_remove (self, w, key, NULL);
                self->counters [STORE_CORRUPT]++;
            }
            if (!rc) {
                rc = mdb_del (w->txn, self->lru, &dk, NULL);
                rc = rc == MDB_NOTFOUND ? 0 : rc;
            }
        }
        else
            rc = mrc;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  --------------------------------------------------------------------------
//  Touches: gets and Python's read-only hits note the access time in
//  memory; one transaction writes them all (store_db_flush, called every
//  ~100 ms by the actor and at the start of every put).

int
store_dbi_apply_touches (store_db_t *self, store_wtxn_t *w)
{
    int rc = 0;
    uint64_t *when;
    for (when = zhashx_first (self->touches); when && !rc; when = zhashx_next (self->touches)) {
        uint8_t key [STORE_KEY_SIZE];
        if (irh_hash_from_hex (zhashx_cursor (self->touches), key))
            continue;
        irh_manifest_t m;
        int mrc = store_dbi_manifest (self, w->txn, key, &m);
        if (mrc == MDB_NOTFOUND || mrc == 1)
            continue;       //  gone, or found corrupt later by a get
        if (mrc) {
            rc = mrc;
            break;
        }
        if (*when <= m.accessed_us)
            continue;
        uint8_t ik [40];
        store_dbi_time_key (ik, m.accessed_us, key);
        rc = store_dbi_del (w->txn, self->lru, ik, 40);
        m.accessed_us = *when;
        store_dbi_time_key (ik, m.accessed_us, key);
        MDB_val k = { 40, ik }, v = { 0, "" };
        if (!rc)
            rc = mdb_put (w->txn, self->lru, &k, &v, 0);
        //  An idle TTL counts from the last access.
        uint64_t ttl = m.expires_us ? store_dbi_ttl (self, w->txn, key) : 0;
        uint64_t expires = store_dbi_expiry_at (m.accessed_us, ttl);
        if (!rc && ttl && expires > m.expires_us)
            rc = store_dbi_set_expiry (self, w, key, &m, expires);
        if (!rc)
            rc = store_dbi_put_manifest (self, w->txn, key, &m);
    }
    if (!rc)
        zhashx_purge (self->touches);
    return rc;
}

static void
s_note_touch (store_db_t *self, const uint8_t *key)
{
    char hex [IRH_HASH_HEX_SIZE];
    irh_hash_hex (key, hex);
    char *when = zhashx_lookup (self->touches, hex);
    if (!when) {
        when = malloc (sizeof (uint64_t));
        assert (when);
        zhashx_insert (self->touches, hex, when);
    }
    *(uint64_t *) when = store_db_now (self);
}

size_t
store_db_pending (store_db_t *self)
{
    return zhashx_size (self->touches);
}

int
store_db_flush (store_db_t *self)
{
    if (self->reserve_retry_ms != INT64_MAX)
        store_dbi_reserve_make (self);
    if (zhashx_size (self->touches) == 0
    &&  memcmp (self->counters, self->saved, sizeof (self->saved)) == 0)
        return 0;
    store_wtxn_t w;
    if (store_dbi_begin (self, &w))
        return -1;
    int rc = store_dbi_apply_touches (self, &w);
    if (!rc)
        rc = store_dbi_commit (self, &w);
    else
        store_dbi_abort (self, &w);
    if (rc == MDB_MAP_FULL) {
        //  Access times are hints; never let them wedge the store.
        zhashx_purge (self->touches);
        self->counters [STORE_MAP_FULL]++;
        return 0;
    }
    return rc ? store_dbi_mdb_fail (self, "flush", rc) : 0;
}

int
store_db_touch (store_db_t *self, const uint8_t *key)
{
    int present = store_db_has (self, key);
    if (present == 1) {
        //  A hit the client served from its read-only tier: an access for
        //  LRU and idle TTL, and a hit in the stats.
        s_note_touch (self, key);
        self->counters [STORE_TOUCHES]++;
        self->counters [STORE_HITS_LOCAL]++;
    }
    return present;
}

int
store_db_has (store_db_t *self, const uint8_t *key)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin read transaction", rc);
    irh_manifest_t m;
    rc = store_dbi_manifest (self, txn, key, &m);
    mdb_txn_abort (txn);
    if (rc == 0)
        return m.expires_us == 0 || m.expires_us > store_db_now (self) ? 1 : 0;
    if (rc == MDB_NOTFOUND || rc == 1)
        return 0;
    return store_dbi_mdb_fail (self, "has", rc);
}

//  --------------------------------------------------------------------------
//  Get

//  Remove a corrupt entry; if the blob itself is bad, remove it for every
//  entry that shares it (they will miss as corrupt on their next get).
void
store_dbi_drop_corrupt (store_db_t *self, const uint8_t *key, const irh_manifest_t *m,
                bool blob_bad, const char *why)
{
    char hex [IRH_HASH_HEX_SIZE];
    irh_log (IRH_LOG_WARN, "store: corrupt result %s: %s; removed", irh_hash_hex (key, hex), why);
    self->counters [STORE_CORRUPT]++;
    store_wtxn_t w;
    if (store_dbi_begin_delete (self, &w))
        return;
    int rc = store_dbi_remove (self, &w, key, m);
    if (!rc && blob_bad && m) {
        MDB_val k = { STORE_KEY_SIZE, (void *) m->blob };
        rc = store_dbi_del (w.txn, self->refs, m->blob, STORE_KEY_SIZE);
        if (!rc && mdb_get (w.txn, self->blobs, &k, &(MDB_val) { 0, NULL }) == 0) {
            //  Force the blob out whatever its refcount: it is wrong for all.
            rc = store_dbi_decref (self, &w, m->blob);
        }
    }
    if (!rc)
        rc = store_dbi_commit (self, &w);
    else
        store_dbi_abort (self, &w);
    if (rc)
        store_dbi_mdb_fail (self, "remove corrupt entry", rc);
}

//  Read a whole file blob into a new frame and check its hash.
static int
s_read_file (const char *path, uint64_t size, const uint8_t *hash, zframe_t **frame_p,
             char *why, size_t why_size)
{
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (why, why_size, "blob file %s: %s", path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode) || (uint64_t) st.st_size != size) {
        snprintf (why, why_size, "blob file %s: not a regular file of %llu bytes",
                  path, (unsigned long long) size);
        close (fd);
        return -1;
    }
    zframe_t *frame = zframe_new (NULL, (size_t) size);
    assert (frame);
    uint8_t *data = zframe_data (frame);
    size_t done = 0;
    while (done < size) {
        ssize_t n = read (fd, data + done, (size_t) size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf (why, why_size, "blob file %s: short read", path);
            zframe_destroy (&frame);
            close (fd);
            return -1;
        }
        done += (size_t) n;
    }
    close (fd);
    uint8_t check [IRH_HASH_SIZE];
    irh_blake3 (data, (size_t) size, check);
    if (!irh_hash_equal (check, hash)) {
        snprintf (why, why_size, "blob file %s does not match its BLAKE3", path);
        zframe_destroy (&frame);
        return -1;
    }
    *frame_p = frame;
    return 0;
}

int
store_db_get (store_db_t *self, const uint8_t *key, bool want_path, store_db_hit_t *hit)
{
    memset (hit, 0, sizeof (*hit));
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin read transaction", rc);
    irh_manifest_t *m = &hit->manifest;
    rc = store_dbi_manifest (self, txn, key, m);
    if (rc == MDB_NOTFOUND || rc == 1 || (rc == 0 && m->expires_us
                                          && m->expires_us <= store_db_now (self))) {
        mdb_txn_abort (txn);
        self->counters [STORE_MISSES]++;
        hit->reason = rc == MDB_NOTFOUND ? 0 : rc == 1 ? 2 : 1;
        if (rc == 1)
            store_dbi_drop_corrupt (self, key, NULL, false, "manifest record does not decode");
        return 1;
    }
    if (rc) {
        mdb_txn_abort (txn);
        return store_dbi_mdb_fail (self, "get", rc);
    }
    MDB_val k = { STORE_KEY_SIZE, m->blob }, v;
    irh_blob_t blob;
    char why [600] = "";
    rc = mdb_get (txn, self->blobs, &k, &v);
    if (rc == MDB_NOTFOUND)
        snprintf (why, sizeof (why), "its blob record is missing");
    else
    if (rc) {
        mdb_txn_abort (txn);
        return store_dbi_mdb_fail (self, "get blob", rc);
    }
    else
    if (irh_blob_decode_buf (v.mv_data, v.mv_size, &blob) || blob.kind > 1
    ||  blob.size != m->size || (blob.kind == 0 && blob.data_size != blob.size))
        snprintf (why, sizeof (why), "blob record does not decode or disagrees with manifest");
    else
    if (blob.kind == 0) {
        uint8_t check [IRH_HASH_SIZE];
        irh_blake3 (blob.data, blob.data_size, check);
        if (irh_hash_equal (check, m->blob))
            hit->content = zframe_new (blob.data, blob.data_size);
        else
            snprintf (why, sizeof (why), "inline content does not match its BLAKE3");
    }
    mdb_txn_abort (txn);        //  blob.data is invalid from here on
    if (!*why && !hit->content) {
        //  File blob: read outside the transaction.
        char *path = store_dbi_blob_path (self, m->blob);
        if (want_path) {
            //  The client hashes what it reads; we check it is there.
            struct stat st;
            if (lstat (path, &st) || !S_ISREG (st.st_mode) || (uint64_t) st.st_size != m->size)
                snprintf (why, sizeof (why), "blob file %s is missing or has the wrong size", path);
            else
                snprintf (hit->path, sizeof (hit->path), "%s", path);
        }
        else
            s_read_file (path, m->size, m->blob, &hit->content, why, sizeof (why));
        zstr_free (&path);
    }
    if (*why) {
        irh_manifest_t copy = *m;
        memset (hit, 0, sizeof (*hit));
        hit->reason = 2;
        self->counters [STORE_MISSES]++;
        store_dbi_drop_corrupt (self, key, &copy, true, why);
        return 1;
    }
    self->counters [STORE_HITS]++;
    s_note_touch (self, key);
    return 0;
}
