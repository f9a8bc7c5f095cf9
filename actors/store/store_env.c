/*  store_env.c: the store's LMDB environment as a whole: opening it
    (after store_check.c has vetted it, setting a damaged one aside and
    starting empty), closing it, periodic sync, and the disk space reserve
    that lets deletions commit on a full filesystem (docs/store.md).
*/
#include "store_dbi.h"
#include "store_check.h"
#include "irh_log.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Disk space reserve: a file of S_RESERVE_BYTES kept in the store
//  directory. Deleting results needs a commit, and a commit needs a few
//  free pages; on a full filesystem the reserve is given up first, so
//  evict, gc and eviction for room always work. It comes back once there
//  is space again.

#define S_RESERVE_BYTES     (2 << 20)
#define S_RESERVE_RETRY_MS  5000

static char *
s_reserve_path (store_db_t *self)
{
    return zsys_sprintf ("%s/space.reserve", self->store_dir);
}

void
store_dbi_reserve_release (store_db_t *self)
{
    char *path = s_reserve_path (self);
    if (unlink (path) == 0)
        irh_info ("store: disk space reserve released to make room");
    zstr_free (&path);
    self->reserve_retry_ms = zclock_mono () + S_RESERVE_RETRY_MS;
}

//  Make the reserve if it is missing and there is room (retried every few
//  seconds, from store_db_flush).
void
store_dbi_reserve_make (store_db_t *self)
{
    int64_t now = zclock_mono ();
    if (now < self->reserve_retry_ms)
        return;
    self->reserve_retry_ms = now + S_RESERVE_RETRY_MS;
    char *path = s_reserve_path (self);
    struct stat st;
    if (lstat (path, &st) == 0 && S_ISREG (st.st_mode) && st.st_size >= S_RESERVE_BYTES) {
        self->reserve_retry_ms = INT64_MAX;     //  in place; released only on need
        zstr_free (&path);
        return;
    }
    unlink (path);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0 && posix_fallocate (fd, 0, S_RESERVE_BYTES) == 0)
        self->reserve_retry_ms = INT64_MAX;
    else
    if (fd >= 0)
        unlink (path);      //  no room yet: try again later
    if (fd >= 0)
        close (fd);
    zstr_free (&path);
}

int
store_dbi_begin_delete (store_db_t *self, store_wtxn_t *w)
{
    struct statvfs vfs;
    if (statvfs (self->store_dir, &vfs) == 0
    &&  (uint64_t) vfs.f_bavail * vfs.f_frsize < 2 * S_RESERVE_BYTES)
        store_dbi_reserve_release (self);
    return store_dbi_begin (self, w);
}

//  --------------------------------------------------------------------------
//  Open and close

//  LMDB errors that mean the environment's pages cannot be trusted.
static bool
s_damaged (int rc)
{
    return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND
        || rc == MDB_BAD_TXN || rc == MDB_VERSION_MISMATCH;
}

//  Format 1 -> 2: manifest records gained sign_key, sig_r and sig_s at the
//  end (96 bytes), so a format-1 record is a format-2 record without its
//  tail. Every record that decodes with a zero tail gets one (unsigned:
//  this node's results are signed when served, a peer's from before
//  signing is never served; proto/store-layout.md). One pass inside the
//  open transaction: the whole store changes format or nothing does. Cost:
//  every results page is rewritten once. Records that decode neither way
//  are left for get and gc to find and count as corrupt. Returns 0 or an
//  LMDB error.
#define S_V1_TAIL   (3 * 32)

static int
s_migrate_v1 (store_db_t *self, MDB_txn *txn)
{
    MDB_cursor *cursor;
    int rc = mdb_cursor_open (txn, self->results, &cursor);
    if (rc)
        return rc;
    uint64_t done = 0, left = 0;
    MDB_val k, v;
    uint8_t buf [IRH_PEER_MANIFEST_MANIFEST_MAX + S_V1_TAIL], key [64];
    irh_manifest_t m;
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        if (v.mv_size > IRH_PEER_MANIFEST_MANIFEST_MAX
        ||  irh_manifest_decode_buf (v.mv_data, v.mv_size, &m) == 0) {
            left++;
            continue;
        }
        memcpy (buf, v.mv_data, v.mv_size);
        memset (buf + v.mv_size, 0, S_V1_TAIL);
        MDB_val nv = { v.mv_size + S_V1_TAIL, buf };
        if (k.mv_size > sizeof key || irh_manifest_decode_buf (buf, nv.mv_size, &m) != 0) {
            left++;
            continue;
        }
        //  A longer value is a delete and an insert inside LMDB: the key
        //  must not point into the page being rewritten.
        memcpy (key, k.mv_data, k.mv_size);
        MDB_val nk = { k.mv_size, key };
        rc = mdb_cursor_put (cursor, &nk, &nv, MDB_CURRENT);
        if (rc)
            break;
        done++;
    }
    mdb_cursor_close (cursor);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (!rc)
        irh_info ("store: %s migrated from format 1 to %d: %" PRIu64 " results rewritten, "
                  "%" PRIu64 " left as they were", self->store_dir, STORE_DB_FORMAT, done, left);
    return rc;
}

static int
s_open_dbs (store_db_t *self, char **err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    struct { const char *name; MDB_dbi *dbi; } dbs [] = {
        { "results", &self->results }, { "blobs", &self->blobs }, { "refs", &self->refs },
        { "fnindex", &self->fnindex }, { "lru", &self->lru }, { "expiry", &self->expiry },
        { "claims", &self->claims }, { "meta", &self->meta }, { "ttl", &self->ttl },
        { "each", &self->each }
    };
    for (size_t i = 0; i < sizeof (dbs) / sizeof (dbs [0]) && !rc; i++)
        rc = mdb_dbi_open (txn, dbs [i].name, MDB_CREATE, dbs [i].dbi);
    if (rc) {
        *err = zsys_sprintf ("cannot open databases in %s: %s", self->store_dir, mdb_strerror (rc));
        if (txn)
            mdb_txn_abort (txn);
        return s_damaged (rc) ? 1 : -1;
    }
    uint64_t format = store_dbi_meta_get_u64 (self, txn, "format");
    if (format == 1) {
        rc = s_migrate_v1 (self, txn);
        if (!rc)
            format = 0;             //  now written as the current format
    }
    if (format == 0 && !rc)
        rc = store_dbi_meta_put_u64 (self, txn, "format", STORE_DB_FORMAT);
    else
    if (rc) {
        *err = zsys_sprintf ("cannot migrate %s to format %d: %s", self->store_dir,
                             STORE_DB_FORMAT, mdb_strerror (rc));
        mdb_txn_abort (txn);
        return s_damaged (rc) ? 1 : -1;
    }
    else
    if (format != STORE_DB_FORMAT) {
        *err = zsys_sprintf ("%s has store format %llu, this irohds-store reads %d",
                             self->store_dir, (unsigned long long) format, STORE_DB_FORMAT);
        mdb_txn_abort (txn);
        return -1;
    }
    char name [64];
    uint64_t *sums = (uint64_t *) &self->sums;
    for (int i = 0; i < 3; i++) {
        snprintf (name, sizeof (name), "s:%s", store_dbi_sum_names [i]);
        sums [i] = store_dbi_meta_get_u64 (self, txn, name);
    }
    for (int i = 0; i < STORE_COUNTERS; i++) {
        snprintf (name, sizeof (name), "c:%s", store_counter_names [i]);
        self->counters [i] = self->saved [i] = store_dbi_meta_get_u64 (self, txn, name);
    }
    MDB_val rk = { 12, "reset_reason" }, rv;
    if (mdb_get (txn, self->meta, &rk, &rv) == 0)
        snprintf (self->reset_reason, sizeof (self->reset_reason), "%.*s",
                  (int) (rv.mv_size < sizeof (self->reset_reason) ? rv.mv_size
                                                                  : sizeof (self->reset_reason) - 1),
                  (const char *) rv.mv_data);
    if (!rc)
        rc = mdb_txn_commit (txn);
    else
        mdb_txn_abort (txn);
    if (rc) {
        *err = zsys_sprintf ("cannot initialise %s: %s", self->store_dir, mdb_strerror (rc));
        return s_damaged (rc) ? 1 : -1;
    }
    return 0;
}

//  LMDB noticed broken pages: remember it for the next start (LMDB
//  aborts the process right after this returns).
static void
s_on_assert (MDB_env *env, const char *msg)
{
    (void) env;
    char why [512];
    snprintf (why, sizeof why, "LMDB assertion failed: %s", msg);
    store_check_suspect (why);
    irh_error ("store: %s; the environment will be set aside at the next start", why);
}

//  Create and open the environment and its databases: 0, 1 when it is
//  damaged (*err says how), -1 on any other failure.
static int
s_open_env (store_db_t *self, char **err)
{
    int rc = mdb_env_create (&self->env);
    if (!rc)
        rc = mdb_env_set_maxdbs (self->env, 16);
    if (!rc)
        rc = mdb_env_set_maxreaders (self->env, 510);
    if (!rc)
        rc = mdb_env_set_mapsize (self->env, (size_t) self->config.map_initial);
    if (!rc)
        rc = mdb_env_set_assert (self->env, s_on_assert);
    if (!rc)
        //  Periodic mode skips LMDB's per-commit fsync (docs/store.md: a
        //  killed store loses nothing, the page cache has it; an OS crash
        //  may undo the last interval's results, which every read detects
        //  through the content hash and recomputes). Without MDB_WRITEMAP,
        //  LMDB keeps its integrity under MDB_NOSYNC.
        rc = mdb_env_open (self->env, self->store_dir,
                           self->config.sync_interval_ms ? MDB_NOSYNC : 0, 0600);
    if (rc) {
        *err = zsys_sprintf ("cannot open LMDB environment %s: %s", self->store_dir,
                             mdb_strerror (rc));
        return s_damaged (rc) ? 1 : -1;
    }
    MDB_envinfo info;
    mdb_env_info (self->env, &info);
    self->map_now = info.me_mapsize;
    return s_open_dbs (self, err);
}

static void
s_close_env (store_db_t *self)
{
    if (self->env)
        mdb_env_close (self->env);
    self->env = NULL;
}

//  Set the environment aside and open a new, empty one. why: the reason.
static int
s_reset_env (store_db_t *self, const char *why, char **err)
{
    s_close_env (self);
    char *moved = NULL;
    if (store_check_reset (self->store_dir, &moved) || store_dbi_mkdir (self->store_dir)) {
        free (*err);
        *err = zsys_sprintf ("the LMDB environment %s is damaged (%s) and cannot be moved aside",
                             self->store_dir, why);
        return -1;
    }
    irh_error ("store: the LMDB environment %s is damaged (%s): moved to %s, starting empty; "
               "results are recomputed as needed", self->store_dir, why, moved);
    char none [8];
    store_check_env (self->store_dir, none, sizeof none);     //  marks the new one "opening"
    free (*err);
    *err = NULL;
    int rc = s_open_env (self, err);
    if (rc == 0) {
        snprintf (self->reset_reason, sizeof (self->reset_reason), "%s (moved to %s)", why, moved);
        self->counters [STORE_RESETS]++;
        store_wtxn_t w;
        rc = store_dbi_begin (self, &w);
        MDB_val k = { 12, "reset_reason" }, v = { strlen (self->reset_reason), self->reset_reason };
        if (!rc)
            rc = mdb_put (w.txn, self->meta, &k, &v, 0);
        if (!rc)
            rc = store_dbi_commit (self, &w);
        else
        if (w.txn)
            store_dbi_abort (self, &w);
        if (rc)
            irh_warn ("store: cannot record the reset: %s", self->error_text);
        rc = 0;
    }
    zstr_free (&moved);
    return rc ? -1 : 0;
}

store_db_t *
store_db_new (const char *store_dir, const char *blobs_dir, const char *staging_dir,
              const store_db_config_t *config, char **err)
{
    assert (store_dir && blobs_dir && staging_dir && config && err);
    *err = NULL;
    store_db_t *self = (store_db_t *) zmalloc (sizeof (store_db_t));
    assert (self);
    self->store_dir = strdup (store_dir);
    self->blobs_dir = strdup (blobs_dir);
    self->staging_dir = strdup (staging_dir);
    self->tmp_dir = zsys_sprintf ("%s/tmp", blobs_dir);
    self->config = *config;
    if (self->config.map_size == 0)
        self->config.map_size = STORE_DB_MAP_SIZE;
    if (self->config.map_initial == 0 || self->config.map_initial > self->config.map_size)
        self->config.map_initial = self->config.map_size;
    self->touches = zhashx_new ();
    zhashx_set_destructor (self->touches, (zhashx_destructor_fn *) zstr_free);
    self->digests = zhashx_new ();      //  replaced by store_dbi_digest_build

    if (store_dbi_mkdir (store_dir) || store_dbi_mkdir (blobs_dir) || store_dbi_mkdir (self->tmp_dir)
    ||  store_dbi_mkdir (staging_dir)) {
        *err = zsys_sprintf ("cannot create store directories under %s: %s",
                             store_dir, strerror (errno));
        store_db_destroy (&self);
        return NULL;
    }
    self->staging_real = realpath (staging_dir, NULL);
    //  Never map an environment that could fault or abort us: check it in
    //  a child first; a damaged one is set aside (store_check.c).
    char why [512];
    int rc = store_check_env (store_dir, why, sizeof why) ? 1 : s_open_env (self, err);
    if (rc == 1) {
        if (*err)
            snprintf (why, sizeof why, "%s", *err);
        rc = s_reset_env (self, why, err);
    }
    if (rc) {
        s_close_env (self);
        store_db_destroy (&self);
        return NULL;
    }
    //  The key digests are in memory only: one pass over the results.
    rc = store_dbi_digest_build (self);
    if (rc) {
        *err = zsys_sprintf ("cannot build the key digests from %s: %s", store_dir,
                             mdb_strerror (rc));
        s_close_env (self);
        store_db_destroy (&self);
        return NULL;
    }
    store_check_opened (store_dir);
    store_check_arm (store_dir);
    store_dbi_reserve_make (self);
    return self;
}

void
store_db_destroy (store_db_t **self_p)
{
    assert (self_p);
    store_db_t *self = *self_p;
    if (!self)
        return;
    if (self->env) {
        if (self->touches && store_db_flush (self))
            irh_warn ("store: final flush failed: %s", self->error_text);
        if (store_db_sync (self, true))
            irh_warn ("store: final sync failed: %s", self->error_text);
        mdb_env_close (self->env);
    }
    zhashx_destroy (&self->touches);
    store_dbi_digest_destroy (self);
    free (self->fetch_dir);
    free (self->fetch_real);
    free (self->store_dir);
    free (self->blobs_dir);
    free (self->staging_dir);
    free (self->staging_real);
    free (self->tmp_dir);
    free (self);
    *self_p = NULL;
}

bool
store_db_sync_always (store_db_t *self)
{
    assert (self);
    return self->config.sync_interval_ms == 0;
}

int
store_db_sync (store_db_t *self, bool force)
{
    assert (self);
    if (!self->dirty || store_db_sync_always (self))
        return 0;
    int64_t now = zclock_mono ();
    if (!force && now - self->synced_ms < (int64_t) self->config.sync_interval_ms)
        return 0;
    self->synced_ms = now;
    int rc = mdb_env_sync (self->env, 1);
    if (rc)
        return store_dbi_mdb_fail (self, "sync", rc);
    //  Blob files were renamed into place without their own fsync: one
    //  syncfs covers all of them (they share the home's filesystem).
    int fd = open (self->blobs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs (fd)) {
        int saved = errno;
        if (fd >= 0)
            close (fd);
        self->counters [STORE_IO_ERRORS]++;
        return store_dbi_fail (self, "io", "cannot sync %s: %s", self->blobs_dir,
                               strerror (saved));
    }
    close (fd);
    self->dirty = false;
    return 0;
}

