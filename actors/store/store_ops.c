/*  store_ops.c: the store's maintenance and bookkeeping operations on
    LMDB: ls, evict, TTL expiry, gc and claims (local run-once leases).
    Put and get are in store_put.c / store_db.c, the stats and info tables
    in store_stats.c.

    Index databases (fnindex, lru, expiry) are treated as hints: every
    entry found through one is checked against its manifest, and stale
    hints are dropped, so an index can never make us return or remove the
    wrong result.
*/
#include "store_dbi.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include "irh_msign.h"
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_DEFAULT_LEASE_MS  30000

static bool
s_live (store_db_t *self, const irh_manifest_t *m)
{
    return m->expires_us == 0 || m->expires_us > store_db_now (self);
}

static void
s_ls_row (irh_table_t *table, const uint8_t *key, const irh_manifest_t *m)
{
    irh_table_row (table);
    irh_table_hex (table, key, STORE_KEY_SIZE);
    irh_table_str (table, m->fn);
    irh_table_u64 (table, m->size);
    irh_table_str (table, m->codec);
    irh_table_u64 (table, m->created_us);
    irh_table_u64 (table, m->accessed_us);
    irh_table_u64 (table, m->expires_us);
    irh_table_str (table, m->ns);
    irh_table_hex (table, m->origin, 32);
    irh_table_bool (table, irh_msign_present (m));
}

//  Keys of fnindex entries for fn (copied out, 32 bytes each).
static int
s_fn_keys (store_db_t *self, MDB_txn *txn, const char *fn, zlist_t *keys)
{
    uint8_t prefix [STORE_FN_PREFIX + 1 + STORE_KEY_SIZE];
    uint8_t zeros [STORE_KEY_SIZE] = { 0 };
    size_t plen = store_dbi_fn_key (prefix, fn, zeros) - STORE_KEY_SIZE;
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->fnindex, &cursor);
    if (rc)
        return rc;
    MDB_val k = { plen, prefix }, v;
    rc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == plen + STORE_KEY_SIZE && memcmp (k.mv_data, prefix, plen) == 0) {
        zlist_append (keys, zmalloc (STORE_KEY_SIZE));
        memcpy (zlist_tail (keys), (uint8_t *) k.mv_data + plen, STORE_KEY_SIZE);
        rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
store_db_ls (store_db_t *self, const char *fn, uint32_t limit, irh_table_t *table)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin read transaction", rc);
    uint32_t rows = 0;
    if (*fn) {
        zlist_t *keys = zlist_new ();
        rc = s_fn_keys (self, txn, fn, keys);
        for (uint8_t *key = zlist_first (keys); key && !rc; key = zlist_next (keys)) {
            irh_manifest_t m;
            if (store_dbi_manifest (self, txn, key, &m) == 0 && streq (m.fn, fn) && s_live (self, &m)) {
                s_ls_row (table, key, &m);
                if (++rows == limit)
                    break;
            }
        }
        store_dbi_list_free (&keys);
    }
    else {
        MDB_cursor *cursor;
        rc = mdb_cursor_open (txn, self->results, &cursor);
        MDB_val k, v;
        if (!rc)
            rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
        while (rc == 0) {
            irh_manifest_t m;
            if (k.mv_size == STORE_KEY_SIZE && irh_manifest_decode_buf (v.mv_data, v.mv_size, &m) == 0
            &&  s_live (self, &m)) {
                s_ls_row (table, k.mv_data, &m);
                if (++rows == limit)
                    break;
            }
            rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
        }
        if (cursor)
            mdb_cursor_close (cursor);
        rc = rc == MDB_NOTFOUND ? 0 : rc;
    }
    mdb_txn_abort (txn);
    return rc ? store_dbi_mdb_fail (self, "ls", rc) : 0;
}

int
store_db_evict (store_db_t *self, const char *fn, const uint8_t *key, uint64_t *count,
                uint64_t *bytes)
{
    *count = *bytes = 0;
    store_wtxn_t w;
    if (store_dbi_begin_delete (self, &w))
        return -1;
    zlist_t *keys = zlist_new ();
    int rc = 0;
    if (*fn)
        rc = s_fn_keys (self, w.txn, fn, keys);
    else {
        zlist_append (keys, zmalloc (STORE_KEY_SIZE));
        memcpy (zlist_tail (keys), key, STORE_KEY_SIZE);
    }
    for (uint8_t *k = zlist_first (keys); k && !rc; k = zlist_next (keys)) {
        irh_manifest_t m;
        int mrc = store_dbi_manifest (self, w.txn, k, &m);
        if (mrc == 0 && (!*fn || streq (m.fn, fn))) {
            rc = store_dbi_remove (self, &w, k, &m);
            w.removed++;
        }
        else
        if (mrc == 1) {
            self->counters [STORE_CORRUPT]++;
            rc = store_dbi_remove (self, &w, k, NULL);
            w.removed++;
        }
        else
        if (mrc == MDB_NOTFOUND && *fn) {
            uint8_t ik [STORE_FN_PREFIX + 1 + STORE_KEY_SIZE];
            rc = store_dbi_del (w.txn, self->fnindex, ik, store_dbi_fn_key (ik, fn, k));
        }
        else
        if (mrc && mrc != MDB_NOTFOUND)
            rc = mrc;
    }
    store_dbi_list_free (&keys);
    uint64_t removed = w.removed, freed = w.freed;
    if (!rc)
        rc = store_dbi_commit (self, &w);
    else
        store_dbi_abort (self, &w);
    if (rc)
        return store_dbi_mdb_fail (self, "evict", rc);
    *count = removed;
    *bytes = freed;
    return 0;
}

//  Remove entries whose time-index key (expiry database) is at or before
//  now, inside w.
static int
s_expire_in (store_db_t *self, store_wtxn_t *w, uint64_t *count)
{
    uint64_t now = store_db_now (self);
    int rc = 0;
    while (rc == 0) {
        MDB_cursor *cursor;
        rc = mdb_cursor_open (w->txn, self->expiry, &cursor);
        if (rc)
            break;
        MDB_val k, v;
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
        uint8_t ik [40];
        size_t size = k.mv_size;
        if (rc == 0 && size == 40)
            memcpy (ik, k.mv_data, 40);
        if (rc == 0 && size != 40)
            rc = mdb_cursor_del (cursor, 0);        //  not ours: drop it
        mdb_cursor_close (cursor);
        if (rc || size != 40)
            continue;
        if (store_dbi_get_be64 (ik) > now)
            break;
        irh_manifest_t m;
        int mrc = store_dbi_manifest (self, w->txn, ik + 8, &m);
        if (mrc == 0 && m.expires_us == store_dbi_get_be64 (ik)) {
            rc = store_dbi_remove (self, w, ik + 8, &m);
            (*count)++;
            self->counters [STORE_EXPIRED]++;
        }
        else
        if (mrc == 0 || mrc == 1 || mrc == MDB_NOTFOUND)
            rc = store_dbi_del (w->txn, self->expiry, ik, 40);
        else
            rc = mrc;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int
store_db_expire (store_db_t *self, uint64_t *count)
{
    *count = 0;
    //  Look first with a read transaction: the common case is "nothing due".
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin read transaction", rc);
    MDB_cursor *cursor;
    MDB_val k, v;
    rc = mdb_cursor_open (txn, self->expiry, &cursor);
    if (!rc) {
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
        if (rc == 0 && k.mv_size == 40 && store_dbi_get_be64 (k.mv_data) > store_db_now (self))
            rc = MDB_NOTFOUND;
        mdb_cursor_close (cursor);
    }
    mdb_txn_abort (txn);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return store_dbi_mdb_fail (self, "expire", rc);
    store_wtxn_t w;
    if (store_dbi_begin_delete (self, &w))
        return -1;
    rc = s_expire_in (self, &w, count);
    if (!rc)
        rc = store_dbi_commit (self, &w);
    else
        store_dbi_abort (self, &w);
    if (rc) {
        *count = 0;
        return store_dbi_mdb_fail (self, "expire", rc);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  gc

//  Recount references from the manifests; drop corrupt manifests, those
//  whose blob is gone, unreferenced or undecodable blobs, stray refs; and
//  recompute the size sums from what is left. Inside w.
static int
s_recount (store_db_t *self, store_wtxn_t *w, irh_gc_reply_t *reply)
{
    zhashx_t *counts = zhashx_new ();          //  hex blob -> count
    zhashx_set_destructor (counts, (zhashx_destructor_fn *) zstr_free);
    zlist_t *drop = zlist_new ();              //  result keys to remove
    MDB_cursor *cursor;
    MDB_val k, v;
    char hex [IRH_HASH_HEX_SIZE];
    int rc = mdb_cursor_open (w->txn, self->results, &cursor);
    if (!rc)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (rc == 0) {
        irh_manifest_t m;
        MDB_val bk, bv;
        bool bad = k.mv_size != STORE_KEY_SIZE
                || irh_manifest_decode_buf (v.mv_data, v.mv_size, &m) != 0;
        if (!bad) {
            bk = (MDB_val) { STORE_KEY_SIZE, m.blob };
            bad = mdb_get (w->txn, self->blobs, &bk, &bv) != 0;
        }
        if (bad) {
            if (k.mv_size == STORE_KEY_SIZE) {
                zlist_append (drop, zmalloc (STORE_KEY_SIZE));
                memcpy (zlist_tail (drop), k.mv_data, STORE_KEY_SIZE);
            }
        }
        else {
            uint64_t *n = zhashx_lookup (counts, irh_hash_hex (m.blob, hex));
            if (!n) {
                n = zmalloc (sizeof (uint64_t));
                zhashx_insert (counts, hex, n);
            }
            (*n)++;
        }
        rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (cursor)
        mdb_cursor_close (cursor);
    rc = rc == MDB_NOTFOUND ? 0 : rc;
    for (uint8_t *key = zlist_first (drop); key && !rc; key = zlist_next (drop)) {
        irh_manifest_t m;
        bool ok = store_dbi_manifest (self, w->txn, key, &m) == 0;
        irh_log (IRH_LOG_WARN, "store: gc: removing result %s (%s)", irh_hash_hex (key, hex),
                 ok ? "its blob is missing" : "manifest does not decode");
        self->counters [STORE_CORRUPT]++;
        //  Its blob reference was not counted above: drop only the entry.
        rc = store_dbi_del (w->txn, self->results, key, STORE_KEY_SIZE);
        if (!rc)
            store_dbi_digest_note (self, w, key, ok ? &m : NULL, false);
    }
    store_dbi_list_purge (drop);
    //  Blobs: keep the referenced ones with the right refcount.
    store_sums_t sums = { 0, 0, 0 };
    if (!rc)
        rc = mdb_cursor_open (w->txn, self->blobs, &cursor);
    if (!rc)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (rc == 0) {
        irh_blob_t blob;
        uint64_t *n = k.mv_size == STORE_KEY_SIZE ? zhashx_lookup (counts, irh_hash_hex (k.mv_data, hex))
                                                  : NULL;
        bool decoded = irh_blob_decode_buf (v.mv_data, v.mv_size, &blob) == 0 && blob.kind <= 1;
        if (n && decoded) {
            uint8_t buf [8];
            store_dbi_put_be64 (buf, *n);
            MDB_val rv = { 8, buf };
            rc = mdb_put (w->txn, self->refs, &k, &rv, 0);
            sums.bytes_total += blob.size;
            (blob.kind ? &sums.file_bytes : &sums.inline_bytes) [0] += blob.size;
        }
        else {
            zlist_append (drop, zmalloc (k.mv_size + sizeof (size_t)));
            *(size_t *) zlist_tail (drop) = k.mv_size;
            memcpy ((uint8_t *) zlist_tail (drop) + sizeof (size_t), k.mv_data, k.mv_size);
            reply->blobs++;
            if (decoded) {
                reply->bytes += blob.size;
                w->freed += blob.size;
            }
            if (!decoded || blob.kind == 1)
                if (k.mv_size == STORE_KEY_SIZE)
                    zlist_append (w->unlink, store_dbi_blob_path (self, k.mv_data));
        }
        if (!rc)
            rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (cursor)
        mdb_cursor_close (cursor);
    rc = rc == MDB_NOTFOUND ? 0 : rc;
    for (uint8_t *item = zlist_first (drop); item && !rc; item = zlist_next (drop)) {
        size_t size = *(size_t *) item;
        rc = store_dbi_del (w->txn, self->blobs, item + sizeof (size_t), size);
        if (!rc)
            rc = store_dbi_del (w->txn, self->refs, item + sizeof (size_t), size);
    }
    store_dbi_list_purge (drop);
    //  refs without a blob
    if (!rc)
        rc = mdb_cursor_open (w->txn, self->refs, &cursor);
    if (!rc)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (rc == 0) {
        MDB_val bv;
        if (mdb_get (w->txn, self->blobs, &k, &bv) == MDB_NOTFOUND)
            rc = mdb_cursor_del (cursor, 0);
        if (!rc)
            rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (cursor)
        mdb_cursor_close (cursor);
    rc = rc == MDB_NOTFOUND ? 0 : rc;
    store_dbi_list_free (&drop);
    zhashx_destroy (&counts);
    if (!rc)
        w->sums = sums;
    return rc;
}

//  Remove expired or undecodable claims, inside w.
static int
s_expire_claims (store_db_t *self, store_wtxn_t *w)
{
    MDB_cursor *cursor;
    MDB_val k, v;
    uint64_t now = store_db_now (self);
    int rc = mdb_cursor_open (w->txn, self->claims, &cursor);
    if (!rc)
        rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST);
    while (rc == 0) {
        irh_claim_rec_t claim;
        if (irh_claim_rec_decode_buf (v.mv_data, v.mv_size, &claim) || claim.expires_us <= now)
            rc = mdb_cursor_del (cursor, 0);
        if (!rc)
            rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (cursor)
        mdb_cursor_close (cursor);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

//  Is name a blob file name of a known file blob? 1 yes, 0 no (orphan).
static int
s_known_file (store_db_t *self, MDB_txn *txn, const char *name)
{
    uint8_t hash [IRH_HASH_SIZE];
    if (irh_hash_from_hex (name, hash))
        return 0;
    MDB_val k = { IRH_HASH_SIZE, hash }, v;
    irh_blob_t blob;
    return mdb_get (txn, self->blobs, &k, &v) == 0
        && irh_blob_decode_buf (v.mv_data, v.mv_size, &blob) == 0 && blob.kind == 1;
}

//  Open directory name (relative to dirfd, or a path with AT_FDCWD) for
//  gc, never through a symlink: gc deletes what it finds, so it must never
//  be led out of the home. A refusal is counted and logged once.
static int
s_gc_opendir (store_db_t *self, int dirfd, const char *name)
{
    int fd = openat (dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT) {
        self->counters [STORE_GC_REFUSED]++;
        if (!(self->logged & (1ULL << STORE_GC_REFUSED))) {
            self->logged |= 1ULL << STORE_GC_REFUSED;
            irh_warn ("store: gc: not entering %s (%s; a symlink?): its files are left alone "
                      "(logged once)", name, strerror (errno));
        }
    }
    return fd;
}

//  Remove files in directory fd for which keep () says no; nothing is
//  followed (a symlink is removed as a link). Returns files removed.
static uint64_t
s_sweep (int fd, uint64_t *bytes, int (*keep) (void *, const char *, struct stat *), void *arg)
{
    if (fd < 0)
        return 0;
    int dup_fd = dup (fd);
    DIR *handle = dup_fd >= 0 ? fdopendir (dup_fd) : NULL;
    if (!handle) {
        if (dup_fd >= 0)
            close (dup_fd);
        return 0;
    }
    uint64_t removed = 0;
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        if (entry->d_name [0] == '.')
            continue;
        struct stat st;
        if (fstatat (fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR (st.st_mode)
        &&  !keep (arg, entry->d_name, &st)) {
            if (unlinkat (fd, entry->d_name, 0) == 0) {
                removed++;
                *bytes += S_ISREG (st.st_mode) ? (uint64_t) st.st_size : 0;
            }
        }
    }
    closedir (handle);
    return removed;
}

typedef struct { store_db_t *self; MDB_txn *txn; uint64_t now_s; } s_sweep_t;

static int
s_keep_blob (void *arg, const char *name, struct stat *st)
{
    (void) st;
    s_sweep_t *sw = arg;
    return s_known_file (sw->self, sw->txn, name);
}

static int
s_keep_none (void *arg, const char *name, struct stat *st)
{
    (void) arg, (void) name, (void) st;
    return 0;
}

static int
s_keep_recent (void *arg, const char *name, struct stat *st)
{
    (void) name;
    s_sweep_t *sw = arg;
    return (uint64_t) st->st_mtime + 3600 > sw->now_s;
}

int
store_db_gc (store_db_t *self, irh_gc_reply_t *reply)
{
    memset (reply, 0, sizeof (*reply));
    self->counters [STORE_GC_RUNS]++;
    store_wtxn_t w;
    if (store_dbi_begin_delete (self, &w))
        return -1;
    int rc = store_dbi_apply_touches (self, &w);
    if (!rc)
        rc = s_expire_in (self, &w, &reply->expired);
    if (!rc)
        rc = s_recount (self, &w, reply);
    if (!rc)
        rc = s_expire_claims (self, &w);
    if (!rc && self->config.max_bytes && w.sums.bytes_total > self->config.max_bytes)
        rc = store_dbi_evict_lru (self, &w, self->config.max_bytes, NULL);
    uint64_t freed = w.freed;
    if (!rc)
        rc = store_dbi_commit (self, &w);
    else
        store_dbi_abort (self, &w);
    if (rc)
        return store_dbi_mdb_fail (self, "gc", rc);
    //  Namespaces whose last result went lose their digest now (until
    //  then peers learned through deltas that its keys are gone).
    store_dbi_digest_prune (self);
    reply->bytes = freed;
    //  Files: after the commit, so every file the databases still name is kept.
    MDB_txn *txn;
    rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin read transaction", rc);
    s_sweep_t sw = { self, txn, store_db_now (self) / 1000000ULL };
    int blobs_fd = s_gc_opendir (self, AT_FDCWD, self->blobs_dir);
    int list_fd = blobs_fd >= 0 ? dup (blobs_fd) : -1;
    DIR *handle = list_fd >= 0 ? fdopendir (list_fd) : NULL;
    if (!handle && list_fd >= 0)
        close (list_fd);
    struct dirent *entry;
    while (handle && (entry = readdir (handle))) {
        if (strlen (entry->d_name) != 2 || !isxdigit (entry->d_name [0])
        ||  !isxdigit (entry->d_name [1]))
            continue;
        int fd = s_gc_opendir (self, blobs_fd, entry->d_name);
        reply->files += s_sweep (fd, &reply->bytes, s_keep_blob, &sw);
        if (fd >= 0) {
            close (fd);
            unlinkat (blobs_fd, entry->d_name, AT_REMOVEDIR);  //  fails, harmlessly, unless empty
        }
    }
    if (handle)
        closedir (handle);
    mdb_txn_abort (txn);
    //  No put runs during gc (one thread), so every temp file is a leftover.
    int fd = blobs_fd >= 0 ? s_gc_opendir (self, blobs_fd, "tmp") : -1;
    reply->files += s_sweep (fd, &reply->bytes, s_keep_none, NULL);
    if (fd >= 0)
        close (fd);
    if (blobs_fd >= 0)
        close (blobs_fd);
    //  Staged files are the clients'; only the abandoned (over an hour old) go.
    fd = s_gc_opendir (self, AT_FDCWD, self->staging_dir);
    reply->files += s_sweep (fd, &reply->bytes, s_keep_recent, &sw);
    if (fd >= 0)
        close (fd);
    irh_info ("store: gc: %llu expired, %llu blobs, %llu files, %llu bytes freed",
              (unsigned long long) reply->expired, (unsigned long long) reply->blobs,
              (unsigned long long) reply->files, (unsigned long long) reply->bytes);
    return 0;
}

//  --------------------------------------------------------------------------
//  Claims

//  Is holder ("<pid>@<host>/<uuid>", as clients make them) a process of
//  this machine that no longer exists? Then its claims are worthless and
//  waiters need not sit out its lease. Only a definite "no such process"
//  counts: another user's process (EPERM), a pid reused, a holder from
//  another host or in another form all stay held.
bool
store_dbi_holder_dead (const char *holder)
{
    char *end;
    errno = 0;
    long pid = strtol (holder, &end, 10);
    if (end == holder || *end != '@' || pid <= 0 || pid > 4194304 || errno)
        return false;
    const char *host = end + 1;
    const char *slash = strchr (host, '/');
    size_t host_len = slash ? (size_t) (slash - host) : strlen (host);
    char name [256] = "";
    if (gethostname (name, sizeof (name) - 1))
        return false;
    name [64] = 0;              //  clients keep the first 64 characters
    if (host_len != strlen (name) || memcmp (host, name, host_len) != 0)
        return false;
    return kill ((pid_t) pid, 0) == -1 && errno == ESRCH;
}

bool
store_dbi_holder_remote (const char *holder)
{
    if (holder [0] != 'n')
        return false;
    for (int i = 1; i <= 16; i++)
        if (!isxdigit ((unsigned char) holder [i]))
            return false;
    return holder [17] == ':';
}

bool
store_dbi_live (store_db_t *self, const irh_manifest_t *m)
{
    return s_live (self, m);
}

int
store_dbi_claim_step (store_db_t *self, MDB_txn *txn, const uint8_t *key, const char *holder,
                      uint64_t lease_ms, bool grant, irh_claim_rec_t *claim, int *mdb_rc)
{
    *mdb_rc = 0;
    uint64_t now = store_db_now (self);
    irh_manifest_t m;
    int rc = store_dbi_manifest (self, txn, key, &m);
    if (rc == 0 && s_live (self, &m))
        return 2;
    if (rc != 0 && rc != 1 && rc != MDB_NOTFOUND) {
        *mdb_rc = rc;
        return -1;
    }
    MDB_val k = { STORE_KEY_SIZE, (void *) key }, v;
    if (mdb_get (txn, self->claims, &k, &v) == 0
    &&  irh_claim_rec_decode_buf (v.mv_data, v.mv_size, claim) == 0
    &&  claim->expires_us > now && !streq (claim->holder, holder)) {
        if (!store_dbi_holder_dead (claim->holder)) {
            self->counters [STORE_CLAIMS_HELD]++;
            return 1;
        }
        irh_info ("store: claim of %s released: its holder is gone", claim->holder);
        self->counters [STORE_CLAIMS_DEAD]++;
    }
    //  Free, expired, undecodable, ours already (a renewal), or its holder died.
    memset (claim, 0, sizeof (*claim));
    if (!grant)
        return 3;
    if (lease_ms == 0)
        lease_ms = S_DEFAULT_LEASE_MS;
    snprintf (claim->holder, sizeof (claim->holder), "%s", holder);
    claim->expires_us = lease_ms > (UINT64_MAX - now) / 1000 ? UINT64_MAX : now + lease_ms * 1000;
    uint8_t buf [512];
    size_t size = irh_claim_rec_encode_buf (claim, buf, sizeof (buf));
    assert (size);
    MDB_val nv = { size, buf };
    rc = mdb_put (txn, self->claims, &k, &nv, 0);
    if (rc) {
        *mdb_rc = rc;
        return -1;
    }
    self->counters [STORE_CLAIMS_GRANTED]++;
    return 0;
}

int
store_db_claim (store_db_t *self, const uint8_t *key, const char *holder, uint64_t lease_ms,
                irh_claim_reply_t *reply)
{
    memset (reply, 0, sizeof (*reply));
    if (!*holder) {
        self->counters [STORE_BAD_REQUESTS]++;
        return store_dbi_fail (self, "bad-request", "claim needs a holder");
    }
    store_wtxn_t w;
    if (store_dbi_begin (self, &w))
        return -1;
    irh_claim_rec_t claim;
    int rc;
    int state = store_dbi_claim_step (self, w.txn, key, holder, lease_ms, true, &claim, &rc);
    if (state != 0) {
        store_dbi_abort (self, &w);
        if (state < 0)
            return store_dbi_mdb_fail (self, "claim", rc);
        reply->status = (uint8_t) state;
        if (state == 1) {
            strcpy (reply->holder, claim.holder);
            reply->expires_us = claim.expires_us;
        }
        return 0;
    }
    rc = store_dbi_commit (self, &w);
    if (rc) {
        self->counters [STORE_CLAIMS_GRANTED]--;
        return store_dbi_mdb_fail (self, "claim", rc);
    }
    reply->status = 0;
    strcpy (reply->holder, claim.holder);
    reply->expires_us = claim.expires_us;
    return 0;
}

int
store_db_release (store_db_t *self, const uint8_t *key, const char *holder)
{
    store_wtxn_t w;
    if (store_dbi_begin (self, &w))
        return -1;
    MDB_val k = { STORE_KEY_SIZE, (void *) key }, v;
    irh_claim_rec_t claim;
    int rc = mdb_get (w.txn, self->claims, &k, &v);
    int released = 1;
    if (rc == 0) {
        bool decoded = irh_claim_rec_decode_buf (v.mv_data, v.mv_size, &claim) == 0;
        if (!decoded || streq (claim.holder, holder)) {
            rc = mdb_del (w.txn, self->claims, &k, NULL);
            released = decoded ? 0 : 1;
        }
    }
    else
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (released == 0)
        self->counters [STORE_CLAIMS_RELEASED]++;
    if (!rc)
        rc = store_dbi_commit (self, &w);
    else
        store_dbi_abort (self, &w);
    return rc ? store_dbi_mdb_fail (self, "release", rc) : released;
}

int
store_db_reap (store_db_t *self, const uint8_t *key)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin read transaction", rc);
    MDB_val k = { STORE_KEY_SIZE, (void *) key }, v;
    irh_claim_rec_t claim;
    bool dead = mdb_get (txn, self->claims, &k, &v) == 0
             && irh_claim_rec_decode_buf (v.mv_data, v.mv_size, &claim) == 0
             && store_dbi_holder_dead (claim.holder);
    mdb_txn_abort (txn);
    if (!dead)
        return 0;
    irh_info ("store: claim of %s released: its holder is gone", claim.holder);
    self->counters [STORE_CLAIMS_DEAD]++;
    return store_db_release (self, key, claim.holder) < 0 ? -1 : 1;
}

int
store_db_state (store_db_t *self, const uint8_t *key, uint64_t *expires_us)
{
    *expires_us = 0;
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_dbi_mdb_fail (self, "begin read transaction", rc);
    irh_manifest_t m;
    int state = 2;
    if (store_dbi_manifest (self, txn, key, &m) == 0 && s_live (self, &m))
        state = 0;
    else {
        MDB_val k = { STORE_KEY_SIZE, (void *) key }, v;
        irh_claim_rec_t claim;
        if (mdb_get (txn, self->claims, &k, &v) == 0
        &&  irh_claim_rec_decode_buf (v.mv_data, v.mv_size, &claim) == 0
        &&  claim.expires_us > store_db_now (self)) {
            state = 1;
            *expires_us = claim.expires_us;
        }
    }
    mdb_txn_abort (txn);
    return state;
}
