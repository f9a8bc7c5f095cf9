/*  store_put.c: storing one result (store_db_put).

    The content is hashed (BLAKE3), deduplicated against the blobs
    database, and either kept inline in LMDB or, when it is larger than
    store.inline_max or is a FileRef, written as a read-only file
    <blobs>/<hh>/<hex>: temp file in <blobs>/tmp, fsync, chmod 0444,
    rename, all before the one write transaction that records manifest,
    blob, refcount and indexes commits. A staged file (src 1) is renamed
    into place instead of copied.

    MDB_MAP_FULL: grow the map (up to store.map_size), else evict least
    recently used results in their own transaction and retry; when nothing
    is left to evict, fail the put with "full".
*/
#include "store_dbi.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

//  Where the content comes from, once validated.
typedef struct {
    const uint8_t *data;        //  in memory (src 0, or a small staged file read in)
    size_t size;
    uint8_t *owned;             //  malloc'd copy of a small staged file
    int fd;                     //  staged file, or -1
    char *staged;               //  its resolved path
    dev_t dev;                  //  and its inode, as validated
    ino_t ino;
    uint8_t hash [IRH_HASH_SIZE];
    bool want_file;
    char *installed;            //  blob file this put created, for undo on failure
    bool no_space;              //  installing it failed for lack of disk space
} s_content_t;

//  Open real (resolved from path) as content the store takes over: a
//  regular file of ours with one link, opened without blocking (a FIFO
//  would block open) and without following a symlink at the last step.
//  real is taken. A refusal counts counter.
static int
s_open_fresh (store_db_t *self, const char *path, char *real, store_counter_t counter,
              s_content_t *c)
{
    c->fd = open (real, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    const char *bad = NULL;
    if (c->fd < 0 || fstat (c->fd, &st))
        bad = strerror (errno);
    else
    if (!S_ISREG (st.st_mode))
        bad = S_ISFIFO (st.st_mode) ? "a FIFO, not a regular file" : "not a regular file";
    else
    if (st.st_uid != geteuid ())
        bad = "owned by another user";
    else
    if (st.st_nlink != 1)
        bad = "has more than one link (a hard link to a file the store would not own)";
    if (bad) {
        store_dbi_refuse (self, counter, "%s path %.300s: %s",
                          counter == STORE_BAD_PATHS ? "staged" : "fetched", path, bad);
        free (real);
        return -1;
    }
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->staged = real;
    return 0;
}

//  Validate and open a staged file. It must resolve to a path strictly
//  inside the staging directory, and be a regular file with exactly one
//  link, owned by us: the store takes that inode over as the blob (chmod
//  0444 and rename), so it must be the client's own fresh file, never a
//  hard link to a file someone else can still write (that would change
//  the stored content under us and alter the user's file's mode). Opened
//  without blocking (a FIFO would block open), without following a
//  symlink at the last step.
static int
s_staged_open (store_db_t *self, const char *path, s_content_t *c)
{
    if (!*path || !self->staging_real)
        return store_dbi_refuse (self, STORE_BAD_PATHS, "put src=1 needs a path under %s",
                                 self->staging_dir);
    char *real = realpath (path, NULL);
    size_t base = strlen (self->staging_real);
    if (!real || strncmp (real, self->staging_real, base) != 0 || real [base] != '/') {
        int rc = store_dbi_refuse (self, STORE_BAD_PATHS,
                                   "staged path %.300s is not a file under %s (%s)", path,
                                   self->staging_dir,
                                   real ? "outside the staging directory" : strerror (errno));
        free (real);
        return rc;
    }
    if (s_open_fresh (self, path, real, STORE_BAD_PATHS, c))
        return -1;
    uint64_t size;
    if (irh_blake3_fd (c->fd, c->hash, &size)) {
        self->counters [STORE_IO_ERRORS]++;
        return store_dbi_fail (self, "io", "cannot read staged file %.300s: %s", path,
                               strerror (errno));
    }
    c->size = (size_t) size;
    return 0;
}

//  Read a (small) staged file into memory for an inline blob.
static int
s_staged_read (store_db_t *self, s_content_t *c)
{
    c->owned = malloc (c->size ? c->size : 1);
    assert (c->owned);
    size_t done = 0;
    while (done < c->size) {
        ssize_t n = pread (c->fd, c->owned + done, c->size - done, (off_t) done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            self->counters [STORE_IO_ERRORS]++;
            return store_dbi_fail (self, "io", "staged file %s changed while being stored",
                                   c->staged);
        }
        done += (size_t) n;
    }
    uint8_t check [IRH_HASH_SIZE];
    irh_blake3 (c->owned, c->size, check);
    if (!irh_hash_equal (check, c->hash))
        return store_dbi_fail (self, "bad-request", "staged file %s changed while being stored",
                               c->staged);
    c->data = c->owned;
    return 0;
}

static int
s_write_all (int fd, const uint8_t *data, size_t size)
{
    while (size) {
        ssize_t n = write (fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t) n;
    }
    return 0;
}

//  Put the content in place as <blobs>/<hh>/<hex>, read-only.
static int
s_install_file (store_db_t *self, s_content_t *c)
{
    char *final = store_dbi_blob_path (self, c->hash);
    char *dir = strdup (final);
    *strrchr (dir, '/') = 0;
    if (mkdir (dir, 0700) && errno != EEXIST) {
        self->counters [STORE_IO_ERRORS]++;
        store_dbi_fail (self, "io", "cannot create %s: %s", dir, strerror (errno));
        free (dir);
        zstr_free (&final);
        return -1;
    }
    free (dir);
    char *tmp = NULL;
    int rc = -1;
    if (c->staged) {
        //  Same filesystem: the staged file (ours, one link: checked at
        //  open) itself becomes the blob.
        if ((!store_db_sync_always (self) || fsync (c->fd) == 0)
        &&  fchmod (c->fd, 0444) == 0 && rename (c->staged, final) == 0) {
            //  The name could have been swapped between open and rename:
            //  what we installed must be the inode we hashed.
            struct stat st;
            if (lstat (final, &st) || st.st_dev != c->dev || st.st_ino != c->ino) {
                unlink (final);
                store_dbi_refuse (self, STORE_BAD_PATHS, "staged file %s was replaced while "
                                  "being stored", c->staged);
                zstr_free (&final);
                return -1;
            }
            rc = 0;
        }
        else
        if (errno != EXDEV)
            goto failed;
    }
    if (rc) {
        tmp = zsys_sprintf ("%s/put-XXXXXX", self->tmp_dir);
        int fd = mkstemp (tmp);
        if (fd < 0)
            goto failed;
        int wrc = 0;
        if (c->data)
            wrc = s_write_all (fd, c->data, c->size);
        else {
            //  A staged file on another filesystem: copy it.
            uint8_t buf [1 << 16];
            off_t pos = 0;
            ssize_t n;
            while (wrc == 0 && (n = pread (c->fd, buf, sizeof (buf), pos)) > 0) {
                wrc = s_write_all (fd, buf, (size_t) n);
                pos += n;
            }
        }
        bool closed = false;
        if (wrc || (store_db_sync_always (self) && fsync (fd))
        ||  fchmod (fd, 0444) || (closed = true, close (fd)) || rename (tmp, final)) {
            int saved = errno;
            if (!closed)
                close (fd);
            unlink (tmp);
            errno = saved;
            goto failed;
        }
        if (c->staged)
            unlink (c->staged);
    }
    zstr_free (&tmp);
    free (c->staged);
    c->staged = NULL;           //  consumed
    c->installed = final;
    return 0;
failed:
    c->no_space = errno == ENOSPC || errno == EDQUOT;
    if (!c->no_space)
        self->counters [STORE_IO_ERRORS]++;
    store_dbi_fail (self, c->no_space ? "full" : "io", "cannot write blob file %s: %s", final,
                    strerror (errno));
    if (!c->no_space)
        irh_error ("store: %s", self->error_text);
    zstr_free (&tmp);
    zstr_free (&final);
    return -1;
}

//  Does a file blob exist on disk with the right size, as a file only the
//  store can change (ours, one link, read-only)? Deduplicating against
//  anything else could hand out bytes that change later; such a file is
//  replaced by a fresh copy.
static bool
s_file_ok (store_db_t *self, const uint8_t *hash, uint64_t size)
{
    char *path = store_dbi_blob_path (self, hash);
    struct stat st;
    bool ok = lstat (path, &st) == 0 && S_ISREG (st.st_mode) && (uint64_t) st.st_size == size
           && st.st_nlink == 1 && st.st_uid == geteuid () && (st.st_mode & 0222) == 0;
    zstr_free (&path);
    return ok;
}

//  What a put or an ingest stores besides the content.
typedef struct {
    const uint8_t *key;
    irh_manifest_t m;           //  codec, fn, ns, cost record, origin, flags;
                                //  created_us (0: now)
    uint64_t ttl_ms;            //  idle TTL, 0: none
    bool ingest;                //  never replaces a live result
} s_record_t;

//  An ingest finds a live result under its key: -4 from s_put_txn.
#define S_EXISTS    (-4)

//  One write transaction for the whole put. Returns 0, an LMDB error,
//  -2 when a non-LMDB step failed (error already set), -3 when the disk
//  is full, S_EXISTS.
static int
s_put_txn (store_db_t *self, const s_record_t *rec, s_content_t *c, irh_put_ok_t *reply)
{
    store_wtxn_t w;
    if (store_dbi_begin (self, &w))
        return -2;
    irh_manifest_t m;
    if (rec->ingest && store_dbi_manifest (self, w.txn, rec->key, &m) == 0
    &&  (m.expires_us == 0 || m.expires_us > store_db_now (self))) {
        //  Never replace a result of ours with a peer's copy.
        store_dbi_abort (self, &w);
        return S_EXISTS;
    }
    int rc = store_dbi_apply_touches (self, &w);
    //  1. the blob: reuse (refcount + 1) or create
    MDB_val bk = { IRH_HASH_SIZE, c->hash }, bv;
    irh_blob_t old;
    bool have = false;
    int get_rc = rc ? rc : mdb_get (w.txn, self->blobs, &bk, &bv);
    if (get_rc == 0) {
        if (irh_blob_decode_buf (bv.mv_data, bv.mv_size, &old) == 0 && old.kind <= 1
        &&  old.size == c->size && (old.kind == 1 || old.data_size == c->size))
            have = true;
        else {
            self->counters [STORE_CORRUPT]++;
            irh_warn ("store: blob record of a put did not decode; rewritten");
            //  Keep the sums honest: forget what the bad record claimed.
            rc = store_dbi_del (w.txn, self->refs, c->hash, IRH_HASH_SIZE);
        }
    }
    else
    if (get_rc != MDB_NOTFOUND)
        rc = get_rc;
    bool file_missing = have && old.kind == 1 && !c->installed && !s_file_ok (self, c->hash, c->size);
    bool to_file = c->want_file || (have && old.kind == 1);
    bool write_record = !have || (to_file && old.kind == 0) || file_missing;
    if (!rc && to_file && write_record && !c->installed && s_install_file (self, c)) {
        store_dbi_abort (self, &w);
        return c->no_space ? -3 : -2;
    }
    if (!rc && write_record) {
        irh_blob_t rec = { .kind = to_file ? 1 : 0, .size = c->size };
        if (!to_file) {
            rec.data = c->data;
            rec.data_size = c->size;
        }
        size_t size = irh_blob_encoded_size (&rec);
        assert (size);      //  inline content is at most inline_max, far below the limit
        MDB_val rv = { size, NULL };
        rc = mdb_put (w.txn, self->blobs, &bk, &rv, MDB_RESERVE);
        if (!rc)
            irh_blob_encode_buf (&rec, rv.mv_data, size);
        if (!have) {
            w.sums.bytes_total += c->size;
            (to_file ? &w.sums.file_bytes : &w.sums.inline_bytes) [0] += c->size;
        }
        else
        if (old.kind == 0 && to_file) {
            w.sums.inline_bytes -= c->size <= w.sums.inline_bytes ? c->size : w.sums.inline_bytes;
            w.sums.file_bytes += c->size;
        }
    }
    if (!rc) {
        uint64_t refs = 0;
        if (have && mdb_get (w.txn, self->refs, &bk, &bv) == 0 && bv.mv_size == 8)
            refs = store_dbi_get_be64 (bv.mv_data);
        uint8_t buf [8];
        store_dbi_put_be64 (buf, refs + 1);
        MDB_val nv = { 8, buf };
        rc = mdb_put (w.txn, self->refs, &bk, &nv, 0);
    }
    //  2. the previous result under this key, if any, lets go of its blob
    if (!rc) {
        int mrc = store_dbi_manifest (self, w.txn, rec->key, &m);
        if (mrc == 0)
            rc = store_dbi_remove (self, &w, rec->key, &m);
        else
        if (mrc == 1) {
            self->counters [STORE_CORRUPT]++;
            rc = store_dbi_remove (self, &w, rec->key, NULL);
        }
        else
        if (mrc != MDB_NOTFOUND)
            rc = mrc;
    }
    //  3. manifest and indexes
    if (!rc) {
        uint64_t now = store_db_now (self);
        uint64_t ttl = rec->ttl_ms;
        m = rec->m;
        memcpy (m.blob, c->hash, IRH_HASH_SIZE);
        m.size = c->size;
        if (!m.created_us)
            m.created_us = now;
        m.accessed_us = now;
        m.expires_us = store_dbi_expiry_at (now, ttl);
        rc = store_dbi_put_manifest (self, w.txn, rec->key, &m);
        if (!rc)
            store_dbi_digest_note (self, &w, rec->key, &m, true);
        uint8_t ik [STORE_FN_PREFIX + 1 + STORE_KEY_SIZE];
        MDB_val empty = { 0, "" };
        if (!rc) {
            store_dbi_time_key (ik, m.accessed_us, rec->key);
            rc = mdb_put (w.txn, self->lru, &(MDB_val) { 40, ik }, &empty, 0);
        }
        if (!rc && m.expires_us) {
            store_dbi_time_key (ik, m.expires_us, rec->key);
            rc = mdb_put (w.txn, self->expiry, &(MDB_val) { 40, ik }, &empty, 0);
        }
        if (!rc) {
            size_t size = store_dbi_fn_key (ik, m.fn, rec->key);
            rc = mdb_put (w.txn, self->fnindex, &(MDB_val) { size, ik }, &empty, 0);
        }
        if (!rc && !ttl)        //  a stale hint left by gc must not apply
            rc = store_dbi_del (w.txn, self->ttl, rec->key, STORE_KEY_SIZE);
        if (!rc && ttl) {
            uint8_t buf [8];
            store_dbi_put_be64 (buf, ttl);
            rc = mdb_put (w.txn, self->ttl, &(MDB_val) { STORE_KEY_SIZE, (void *) rec->key },
                          &(MDB_val) { 8, buf }, 0);
        }
    }
    //  4. the result is here: any claim on the key is over
    if (!rc)
        rc = store_dbi_del (w.txn, self->claims, rec->key, STORE_KEY_SIZE);
    //  5. size cap: oldest first, never the result just stored
    uint64_t evicted = 0;
    if (!rc && self->config.max_bytes && w.sums.bytes_total > self->config.max_bytes) {
        rc = store_dbi_evict_lru (self, &w, self->config.max_bytes, rec->key);
        evicted = w.removed;
    }
    if (rc) {
        store_dbi_abort (self, &w);
        return rc;
    }
    store_counter_t counted = rec->ingest ? STORE_INGESTED : STORE_PUTS;
    if (have)
        self->counters [STORE_DEDUPED]++;
    self->counters [counted]++;
    rc = store_dbi_commit (self, &w);
    if (rc) {
        self->counters [counted]--;
        if (have)
            self->counters [STORE_DEDUPED]--;
        self->counters [STORE_EVICTIONS] -= evicted;
        return rc;
    }
    memcpy (reply->blob, c->hash, IRH_HASH_SIZE);
    reply->size = c->size;
    reply->stored = to_file ? 1 : 0;
    reply->evicted = evicted;
    return 0;
}

//  MAP_FULL: evict about a quarter of the content, oldest first, in its
//  own transaction. Returns entries evicted (0: nothing left), -1 on error.
static int64_t
s_make_room (store_db_t *self)
{
    store_wtxn_t w;
    if (store_dbi_begin_delete (self, &w))
        return -1;
    uint64_t total = w.sums.bytes_total;
    int rc = store_dbi_evict_lru (self, &w, total - total / 4 - 1 < total ? total - total / 4 - 1 : 0,
                                  NULL);
    uint64_t removed = w.removed;
    if (!rc)
        rc = store_dbi_commit (self, &w);
    else
        store_dbi_abort (self, &w);
    if (rc) {
        self->counters [STORE_EVICTIONS] -= removed;
        return -1;
    }
    return (int64_t) removed;
}

//  Store content c under rec: the put transaction, growing the map or
//  evicting for room as needed. Consumes c (the staged or fetched file
//  becomes the blob, or is deleted when spare); on failure it is left.
static int
s_store (store_db_t *self, const s_record_t *rec, s_content_t *c, irh_put_ok_t *reply)
{
    int rc = 0;
    uint64_t room = 0;          //  entries evicted for MAP_FULL
    for (int attempt = 0; rc == 0; attempt++) {
        int trc = s_put_txn (self, rec, c, reply);
        if (trc == 0)
            break;
        if (trc == -2) {
            rc = -1;
            break;
        }
        if (trc == S_EXISTS) {
            self->counters [STORE_INGEST_EXISTS]++;
            rc = store_dbi_fail (self, "exists", "a result of this key is held here: an "
                                 "ingest never replaces it");
            break;
        }
        bool no_space = trc == -3 || trc == ENOSPC || trc == EDQUOT;
        if ((trc != MDB_MAP_FULL && !no_space) || attempt > 64) {
            rc = store_dbi_mdb_fail (self, "put", trc);
            break;
        }
        if (no_space) {
            //  The filesystem is full: make room the same way as for a full
            //  map, with the reserve given up first so deleting can commit.
            self->counters [STORE_NO_SPACE]++;
            if (!(self->logged & (1ULL << STORE_NO_SPACE))) {
                self->logged |= 1ULL << STORE_NO_SPACE;
                irh_warn ("store: no space left under %s: evicting least recently used "
                          "results to make room (logged once)", self->store_dir);
            }
            store_dbi_reserve_release (self);
        }
        else
            self->counters [STORE_MAP_FULL]++;
        if (!no_space && self->map_now < self->config.map_size) {
            uint64_t next = self->map_now * 2 < self->config.map_size ? self->map_now * 2
                                                                      : self->config.map_size;
            if (mdb_env_set_mapsize (self->env, (size_t) next) == 0) {
                irh_info ("store: LMDB map grown to %llu bytes", (unsigned long long) next);
                self->map_now = next;
                self->counters [STORE_MAP_GROWN]++;
                continue;
            }
        }
        int64_t evicted = s_make_room (self);
        if (evicted <= 0 && no_space) {
            rc = store_dbi_fail (self, "full", "no space left on the device of %s, even after "
                                 "evicting", self->store_dir);
            irh_warn ("store: %s", self->error_text);
            break;
        }
        if (evicted <= 0) {
            rc = store_dbi_fail (self, "full", "store is full: LMDB map of %llu bytes cannot hold "
                                 "this result even after evicting (raise store.map_size)",
                                 (unsigned long long) self->map_now);
            irh_warn ("store: %s", self->error_text);
            break;
        }
        room += (uint64_t) evicted;
    }
    if (rc) {
        if (!rec->ingest || streq (self->error_code, "full") || streq (self->error_code, "io"))
            self->counters [STORE_PUT_ERRORS]++;
        if (c->installed) {
            //  Nothing committed points at it (no record existed before us).
            unlink (c->installed);
        }
    }
    else {
        reply->evicted += room;
        if (c->staged)
            unlink (c->staged); //  deduplicated or kept inline: the staged copy is spare
    }
    return rc;
}

static void
s_content_free (s_content_t *c)
{
    if (c->fd >= 0)
        close (c->fd);
    free (c->staged);
    free (c->owned);
    zstr_free (&c->installed);
}

int
store_db_put (store_db_t *self, const irh_put_t *put, const uint8_t *data, size_t size,
              irh_put_ok_t *reply)
{
    assert (self && put && reply);
    memset (reply, 0, sizeof (*reply));
    if (put->src > 1) {
        self->counters [STORE_BAD_REQUESTS]++;
        self->counters [STORE_PUT_ERRORS]++;
        return store_dbi_fail (self, "bad-request", "put src must be 0 (frame) or 1 (staged file)");
    }
    s_record_t rec = { .key = put->key };
    irh_manifest_t *m = &rec.m;
    strcpy (m->codec, put->codec);
    strcpy (m->fn, put->fn);
    strcpy (m->ns, put->ns);
    m->flops = put->flops;
    m->mem_bytes = put->mem_bytes;
    m->peak_mem = put->peak_mem;
    m->result_bytes = put->result_bytes;
    m->wall_us = put->wall_us;
    m->cpu_us = put->cpu_us;
    m->rss_growth = put->rss_growth;
    memcpy (m->origin, put->origin, IRH_HASH_SIZE);
    m->flags = put->flags;
    rec.ttl_ms = put->ttl_ms ? put->ttl_ms
               : put->ttl_s ? (put->ttl_s > UINT64_MAX / 1000 ? UINT64_MAX : put->ttl_s * 1000)
               : self->config.default_ttl_ms;

    s_content_t c = { .data = data, .size = size, .fd = -1 };
    int rc = 0;
    if (put->src == 1)
        rc = s_staged_open (self, put->path, &c);
    else
        irh_blake3 (data, size, c.hash);
    c.want_file = (put->flags & 1) || c.size > self->config.inline_max;
    if (!rc && put->src == 1 && !c.want_file)
        rc = s_staged_read (self, &c);
    if (!rc)
        rc = s_store (self, &rec, &c, reply);
    else
        self->counters [STORE_PUT_ERRORS]++;
    s_content_free (&c);
    return rc;
}

//  --------------------------------------------------------------------------
//  Ingest: a result the gossip actor fetched from a peer

int
store_db_set_fetch_dir (store_db_t *self, const char *fetch_dir)
{
    assert (self && fetch_dir);
    if (store_dbi_mkdir (fetch_dir))
        return store_dbi_fail (self, "io", "cannot create %s: %s", fetch_dir, strerror (errno));
    char *real = realpath (fetch_dir, NULL);
    if (!real)
        return store_dbi_fail (self, "io", "cannot resolve %s: %s", fetch_dir, strerror (errno));
    free (self->fetch_dir);
    free (self->fetch_real);
    self->fetch_dir = strdup (fetch_dir);
    self->fetch_real = real;
    return 0;
}

//  Open a fetched file: its directory must resolve to the fetch directory
//  or one below it, and its last component is opened as it is, never
//  through a symlink (O_NOFOLLOW: even one that points back inside).
static int
s_fetched_open (store_db_t *self, const char *path, s_content_t *c)
{
    if (!self->fetch_real)
        return store_dbi_refuse (self, STORE_INGEST_REFUSED, "ingest: no fetch directory set");
    const char *slash = strrchr (path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!slash || !*name || streq (name, ".") || streq (name, ".."))
        return store_dbi_refuse (self, STORE_INGEST_REFUSED, "ingest: %.300s is not a file "
                                 "path under %s", path, self->fetch_dir);
    char *dir = strndup (path, slash == path ? 1 : (size_t) (slash - path));
    char *real_dir = realpath (dir, NULL);
    free (dir);
    size_t base = strlen (self->fetch_real);
    if (!real_dir || strncmp (real_dir, self->fetch_real, base) != 0
    ||  (real_dir [base] != '/' && real_dir [base] != 0)) {
        int rc = store_dbi_refuse (self, STORE_INGEST_REFUSED, "ingest: %.300s is not under %s "
                                   "(%s)", path, self->fetch_dir,
                                   real_dir ? "outside the fetch directory" : strerror (errno));
        free (real_dir);
        return rc;
    }
    char *real = zsys_sprintf ("%s/%s", real_dir, name);
    free (real_dir);
    char *owned = strdup (real);        //  s_open_fresh takes a malloc'd path
    zstr_free (&real);
    return s_open_fresh (self, path, owned, STORE_INGEST_REFUSED, c);
}

//  Is key held here (a live result)? 1, 0, or -1 on an LMDB error.
static int
s_held (store_db_t *self, const uint8_t *key)
{
    int present = store_db_has (self, key);
    if (present == 1)
        self->counters [STORE_INGEST_EXISTS]++;
    if (present == 1)
        store_dbi_fail (self, "exists", "a result of this key is held here: an ingest never "
                        "replaces it");
    return present;
}

int
store_db_ingest (store_db_t *self, const irh_ingest_t *ingest, irh_put_ok_t *reply)
{
    assert (self && ingest && reply);
    memset (reply, 0, sizeof (*reply));
    static const uint8_t zeros [IRH_HASH_SIZE] = { 0 };
    s_record_t rec = { .key = ingest->key, .ingest = true,
                       .ttl_ms = self->config.default_ttl_ms };
    irh_manifest_t *m = &rec.m;
    if (irh_manifest_decode_buf (ingest->manifest, ingest->manifest_size, m))
        return store_dbi_refuse (self, STORE_INGEST_REFUSED, "ingest: manifest does not decode: "
                                 "%s", irh_msgs_error ());
    if (memcmp (m->origin, zeros, IRH_HASH_SIZE) == 0)
        return store_dbi_refuse (self, STORE_INGEST_REFUSED, "ingest: manifest origin is all "
                                 "zeros (a peer's result names the node that computed it)");
    //  A peer never serves local_only results: whatever it claims, ours
    //  goes into the digest like any other.
    m->flags &= ~2U;
    //  Refusals that cost nothing come before hashing the file.
    int held = s_held (self, ingest->key);
    if (held)
        return -1;
    s_content_t c = { .fd = -1 };
    int rc = 0;
    uint64_t size = 0;
    if (!ingest->path [0] && ingest->content_size == 0 && m->size != 0)
        rc = store_dbi_refuse (self, STORE_INGEST_REFUSED, "ingest: neither a path nor content");
    else
    if (!ingest->path [0]) {
        //  A small result that came whole with its manifest: hashed here
        //  like a file would be, kept inline (or written as a file for a
        //  FileRef or a small inline_max) by the same put transaction.
        c.data = ingest->content;
        size = ingest->content_size;
        irh_blake3 (c.data, (size_t) size, c.hash);
    }
    else
    if (ingest->content_size)
        rc = store_dbi_refuse (self, STORE_INGEST_REFUSED, "ingest: both a path and content");
    else
        rc = s_fetched_open (self, ingest->path, &c);
    if (!rc && c.fd >= 0 && irh_blake3_fd (c.fd, c.hash, &size)) {
        self->counters [STORE_IO_ERRORS]++;
        rc = store_dbi_fail (self, "io", "cannot read fetched file %.300s: %s", ingest->path,
                             strerror (errno));
    }
    c.size = (size_t) size;
    if (!rc && (size != m->size || !irh_hash_equal (c.hash, m->blob))) {
        self->counters [STORE_INGEST_MISMATCH]++;
        rc = store_dbi_fail (self, "mismatch", "fetched file %.300s is %llu bytes %s; the "
                             "manifest says %llu bytes", ingest->path, (unsigned long long) size,
                             irh_hash_equal (c.hash, m->blob) ? "with the manifest's BLAKE3"
                                                              : "of another BLAKE3",
                             (unsigned long long) m->size);
        irh_info ("store: ingest refused: %s", self->error_text);
    }
    c.want_file = (m->flags & 1) || c.size > self->config.inline_max;
    if (!rc && !c.want_file && c.fd >= 0)
        rc = s_staged_read (self, &c);
    if (!rc)
        rc = s_store (self, &rec, &c, reply);
    s_content_free (&c);
    return rc;
}
