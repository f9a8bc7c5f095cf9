/*  store_digest_test.c: self-test of the store's key digests and ingest
    (store_digest.c, store_put.c), run by ctest as "c.store_digest". Real
    LMDB in a temp directory, real files (regular, symlink, FIFO) in a real
    fetch directory; the clock is set by hand for expiry.

    The digests are checked against what the store holds after every kind
    of change: the count of each namespace's digest must equal the results
    of that namespace that are not local_only, held keys must test present,
    and nothing may be counted as inconsistent on the normal paths.
*/
#include "store_dbi.h"
#include "store_scratch.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static store_db_t *
s_open (store_scratch_t *d, store_db_config_t *config)
{
    if (!config->map_size)
        config->map_size = 256ULL << 20;    //  small enough for valgrind's address space
    store_db_t *db = store_scratch_open (d, config);
    assert (store_db_set_fetch_dir (db, d->fetch) == 0);
    return db;
}

static void
s_key (uint8_t *key, int n)
{
    char text [32];
    snprintf (text, sizeof (text), "digest-key-%d", n);
    irh_blake3 (text, strlen (text), key);
}

//  Put key n in namespace ns with flags; content "value-<n>" (or size bytes).
static int
s_put (store_db_t *db, int n, const char *ns, uint32_t flags, uint64_t ttl_ms)
{
    irh_put_t put;
    memset (&put, 0, sizeof (put));
    s_key (put.key, n);
    strcpy (put.codec, "raw");
    snprintf (put.fn, sizeof (put.fn), "t.f%d", n % 3);
    snprintf (put.ns, sizeof (put.ns), "%s", ns);
    put.flags = flags;
    put.ttl_ms = ttl_ms;
    char data [32];
    int size = snprintf (data, sizeof (data), "value-%d", n);
    irh_put_ok_t ok;
    return store_db_put (db, &put, (const uint8_t *) data, (size_t) size, &ok);
}

static size_t
s_count (store_db_t *db, const char *ns)
{
    irh_digest_t *digest = store_db_digest (db, ns);
    return digest ? irh_digest_count (digest) : 0;
}

static bool
s_in (store_db_t *db, const char *ns, int n)
{
    uint8_t key [32];
    s_key (key, n);
    irh_digest_t *digest = store_db_digest (db, ns);
    return digest && irh_digest_contains (digest, key);
}

//  Results per namespace, straight from the database (not local_only).
static size_t
s_held (store_db_t *db, const char *ns)
{
    MDB_txn *txn;
    assert (mdb_txn_begin (db->env, NULL, MDB_RDONLY, &txn) == 0);
    MDB_cursor *cursor;
    assert (mdb_cursor_open (txn, db->results, &cursor) == 0);
    MDB_val k, v;
    size_t n = 0;
    for (int op = MDB_FIRST; mdb_cursor_get (cursor, &k, &v, op) == 0; op = MDB_NEXT) {
        irh_manifest_t m;
        if (irh_manifest_decode_buf (v.mv_data, v.mv_size, &m) == 0 && streq (m.ns, ns)
        &&  !(m.flags & 2))
            n++;
    }
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    return n;
}

static void
s_check (store_db_t *db, const char *ns)
{
    assert (s_count (db, ns) == s_held (db, ns));
    assert (store_db_counter (db, STORE_DIGEST_INCONSISTENT) == 0);
}

//  put, local_only, replace, evict (key and fn), expiry, size cap, gc,
//  reopen
static void
s_test_maintenance (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "digesttest");
    store_db_config_t config = { .inline_max = 1024 };
    store_db_t *db = s_open (&d, &config);
    assert (store_db_stat (db, "digests") == 0);
    for (int n = 0; n < 10; n++)
        assert (s_put (db, n, n < 6 ? "a" : "", 0, 0) == 0);
    //  the empty name is the default namespace, a real one
    assert (s_count (db, "a") == 6 && s_count (db, "") == 4);
    assert (store_db_stat (db, "digests") == 2 && store_db_stat (db, "digest_keys") == 10);
    for (int n = 0; n < 10; n++)
        assert (s_in (db, n < 6 ? "a" : "", n));
    //  local_only: stored and served, in no digest
    assert (s_put (db, 20, "a", 2, 0) == 0);
    assert (s_count (db, "a") == 6 && store_db_stat (db, "entries") == 11);
    uint8_t key [32];
    s_key (key, 20);
    assert (store_db_has (db, key) == 1);
    //  a shared result that becomes local_only leaves the digest; moving
    //  to another namespace moves it
    assert (s_put (db, 5, "a", 2, 0) == 0);
    assert (s_count (db, "a") == 5 && !s_in (db, "a", 5));
    assert (s_put (db, 4, "b", 0, 0) == 0);
    assert (s_count (db, "a") == 4 && s_count (db, "b") == 1 && s_in (db, "b", 4));
    uint64_t epoch = irh_digest_epoch (store_db_digest (db, "b"));
    assert (s_put (db, 4, "b", 0, 0) == 0);        //  same again: still one, no bit flipped
    assert (s_count (db, "b") == 1 && s_in (db, "b", 4));
    assert (irh_digest_epoch (store_db_digest (db, "b")) == epoch);
    s_check (db, "a");
    s_check (db, "b");
    s_check (db, "");

    //  evict one key, then a function (t.f0: keys 0, 3, 6, 9)
    uint64_t count, bytes;
    s_key (key, 1);
    assert (store_db_evict (db, "", key, &count, &bytes) == 0 && count == 1);
    assert (!s_in (db, "a", 1) && s_count (db, "a") == 3);
    assert (store_db_evict (db, "t.f0", key, &count, &bytes) == 0 && count == 4);
    assert (s_count (db, "a") == 1 && s_count (db, "") == 2);
    assert (!s_in (db, "a", 0) && !s_in (db, "", 9) && s_in (db, "", 7));
    s_check (db, "a");
    s_check (db, "");

    //  expiry
    store_db_set_clock (db, 1000000000000ULL);
    assert (s_put (db, 30, "c", 0, 1000) == 0);
    assert (s_put (db, 31, "c", 0, 0) == 0);
    assert (s_count (db, "c") == 2);
    store_db_set_clock (db, 1000000000000ULL + 2000000ULL);
    assert (store_db_expire (db, &count) == 0 && count == 1);
    assert (s_count (db, "c") == 1 && !s_in (db, "c", 30) && s_in (db, "c", 31));
    s_check (db, "c");
    store_db_set_clock (db, 0);

    //  gc: a result whose blob record is gone is removed, and so is its key
    s_key (key, 31);
    MDB_txn *txn;
    irh_manifest_t m;
    assert (mdb_txn_begin (db->env, NULL, 0, &txn) == 0);
    assert (store_dbi_manifest (db, txn, key, &m) == 0);
    assert (mdb_del (txn, db->blobs, &(MDB_val) { 32, m.blob }, NULL) == 0);
    assert (mdb_txn_commit (txn) == 0);
    irh_gc_reply_t gc;
    assert (store_db_gc (db, &gc) == 0);
    assert (store_db_has (db, key) == 0);
    //  namespace c is empty now: gc dropped its digest
    assert (store_db_digest (db, "c") == NULL && s_count (db, "c") == 0);
    s_check (db, "a");

    //  reopen: rebuilt from the database, a new generation
    uint64_t seed = irh_digest_seed (store_db_digest (db, "a"));
    size_t keys = store_db_stat (db, "digest_keys");
    store_db_destroy (&db);
    db = s_open (&d, &config);
    assert (store_db_stat (db, "digest_keys") == keys);
    assert (irh_digest_seed (store_db_digest (db, "a")) != seed);
    assert (s_in (db, "a", 2) && s_in (db, "", 7) && s_in (db, "b", 4));
    s_check (db, "a");
    s_check (db, "b");
    s_check (db, "");
    store_db_destroy (&db);

    //  size cap: puts evict the least recently used; each leaves its digest
    config.max_bytes = 40;
    db = s_open (&d, &config);
    for (int n = 40; n < 60; n++)
        assert (s_put (db, n, "cap", 0, 0) == 0);
    assert (store_db_counter (db, STORE_EVICTIONS) > 0);
    s_check (db, "cap");
    s_check (db, "a");
    s_check (db, "");
    assert (s_in (db, "cap", 59));

    //  a removal the digest cannot explain (a manifest that no longer
    //  decodes) is counted, not trusted
    s_key (key, 59);
    assert (mdb_txn_begin (db->env, NULL, 0, &txn) == 0);
    assert (mdb_put (txn, db->results, &(MDB_val) { 32, key }, &(MDB_val) { 3, "bad" }, 0) == 0);
    assert (mdb_txn_commit (txn) == 0);
    assert (store_db_evict (db, "", key, &count, &bytes) == 0 && count == 1);
    assert (store_db_counter (db, STORE_DIGEST_INCONSISTENT) == 1);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   put, local_only, evict, expiry, gc, reopen, size cap: OK\n");
}

//  Growth past the design size rebuilds with a new seed; deltas and whole
//  digests through store_db_digest_get reproduce the digest in a peer copy.
static void
s_test_rebuild_and_get (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "digesttest");
    store_db_config_t config = { .inline_max = 1024, .sync_interval_ms = 1000 };
    store_db_t *db = s_open (&d, &config);
    assert (s_put (db, 0, "grow", 0, 0) == 0);
    irh_digest_t *digest = store_db_digest (db, "grow");
    size_t design = irh_digest_design (digest);
    uint64_t seed = irh_digest_seed (digest);
    //  a peer's copy, whole first
    irh_digest_remote_t *remote = irh_digest_remote_new ();
    zframe_t *frame = store_db_digest_get (db, "grow", 0, 0);
    assert (frame && irh_msgs_id (frame) == IRH_MSG_PEER_DIGEST_FULL);
    assert (irh_digest_remote_apply (remote, zframe_data (frame), zframe_size (frame)) == 0);
    zframe_destroy (&frame);
    //  a few more keys: a delta from the copy's epoch
    for (int n = 1; n < 5; n++)
        assert (s_put (db, n, "grow", 0, 0) == 0);
    frame = store_db_digest_get (db, "grow", irh_digest_remote_seed (remote),
                                 irh_digest_remote_epoch (remote));
    assert (frame && irh_msgs_id (frame) == IRH_MSG_PEER_DIGEST_DELTA);
    assert (irh_digest_remote_apply (remote, zframe_data (frame), zframe_size (frame)) == 0);
    zframe_destroy (&frame);
    uint8_t key [32];
    for (int n = 0; n < 5; n++) {
        s_key (key, n);
        assert (irh_digest_remote_contains (remote, key));
    }
    assert (irh_digest_remote_epoch (remote) == irh_digest_epoch (digest));
    //  unknown namespace
    assert (store_db_digest_get (db, "nope", 0, 0) == NULL);
    assert (streq (store_db_error_code (db), "not-found"));

    //  grow past the design size: one rebuild, a new seed, every key in
    int total = (int) design + 1;
    for (int n = 5; n < total; n++)
        assert (s_put (db, n, "grow", 0, 0) == 0);
    assert (store_db_counter (db, STORE_DIGEST_REBUILDS) == 1);
    digest = store_db_digest (db, "grow");
    assert (irh_digest_seed (digest) != seed && irh_digest_design (digest) > design);
    assert (irh_digest_count (digest) == (size_t) total);
    for (int n = 0; n < total; n++) {
        s_key (key, n);
        assert (irh_digest_contains (digest, key));
    }
    //  the copy is of the old generation: whole again
    frame = store_db_digest_get (db, "grow", irh_digest_remote_seed (remote),
                                 irh_digest_remote_epoch (remote));
    assert (frame && irh_msgs_id (frame) == IRH_MSG_PEER_DIGEST_FULL);
    assert (irh_digest_remote_apply (remote, zframe_data (frame), zframe_size (frame)) == 0);
    zframe_destroy (&frame);
    s_key (key, total - 1);
    assert (irh_digest_remote_contains (remote, key));
    //  digest_list shows it
    irh_table_t *table = irh_table_new (STORE_DB_DIGEST_COLUMNS);
    store_db_digest_list (db, table);
    assert (irh_table_rows (table) == 1 && streq (irh_table_get (table, 0, "ns"), "grow"));
    assert (strtoull (irh_table_get (table, 0, "count"), NULL, 10) == (uint64_t) total);
    irh_table_destroy (&table);
    irh_digest_remote_destroy (&remote);
    assert (store_db_counter (db, STORE_DIGEST_INCONSISTENT) == 0);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   rebuild, digest_get delta and whole: OK\n");
}

//  The open-time scan's manifest reader agrees with the decoder (the
//  fuzz target fuzz_manifest_peek checks it on arbitrary bytes); records
//  that do not decode are in no digest after a reopen.
static void
s_peek_agrees (const uint8_t *buf, size_t size, bool valid)
{
    char ns [IRH_MANIFEST_NS_MAX + 1];
    uint32_t flags;
    irh_manifest_t m;
    int decoded = irh_manifest_decode_buf (buf, size, &m);
    int peeked = store_dbi_manifest_peek (buf, size, ns, &flags);
    assert ((decoded == 0) == valid && (peeked == 0) == valid);
    if (valid)
        assert (streq (ns, m.ns) && flags == m.flags);
}

static void
s_test_peek (bool verbose)
{
    irh_manifest_t m;
    memset (&m, 0, sizeof (m));
    strcpy (m.codec, "pickle5");
    strcpy (m.fn, "pkg.mod.f\xc3\xa9");       //  UTF-8 (e acute)
    strcpy (m.ns, "\xc3\xa9quipe");
    m.flags = 3;
    uint8_t buf [2048];
    size_t size = irh_manifest_encode_buf (&m, buf, sizeof (buf));
    assert (size);
    s_peek_agrees (buf, size, true);
    m.ns [0] = 0;                               //  the default namespace
    strcpy (m.fn, "an.ascii.function.name.longer.than.eight");
    size = irh_manifest_encode_buf (&m, buf, sizeof (buf));
    s_peek_agrees (buf, size, true);
    s_peek_agrees (buf, size - 1, false);       //  truncated
    buf [size] = 0;
    s_peek_agrees (buf, size + 1, false);       //  a trailing byte
    size_t fn_at = 1 + 32 + 8 + 2 + strlen (m.codec) + 2;
    buf [fn_at + 3] = 0xFF;                     //  not UTF-8
    s_peek_agrees (buf, size, false);
    buf [fn_at + 3] = 0;                        //  a NUL
    s_peek_agrees (buf, size, false);
    buf [fn_at + 3] = 'x';
    buf [0] = IRH_MSG_BLOB;                     //  another record
    s_peek_agrees (buf, size, false);
    s_peek_agrees (buf, 0, false);

    //  A record with a bad fn in the database: in no digest after a reopen.
    store_scratch_t d;
    store_scratch_make (&d, "digesttest");
    store_db_config_t config = { .inline_max = 1024 };
    store_db_t *db = s_open (&d, &config);
    assert (s_put (db, 1, "p", 0, 0) == 0 && s_put (db, 2, "p", 0, 0) == 0);
    uint8_t key [32];
    s_key (key, 2);
    MDB_txn *txn;
    assert (mdb_txn_begin (db->env, NULL, 0, &txn) == 0);
    MDB_val k = { 32, key }, v;
    assert (mdb_get (txn, db->results, &k, &v) == 0);
    memcpy (buf, v.mv_data, v.mv_size);
    size = v.mv_size;
    fn_at = 1 + 32 + 8 + 2 + strlen ("raw") + 2;   //  this put's codec
    buf [fn_at] = 0xC0;                         //  an overlong lead byte: never UTF-8
    assert (mdb_put (txn, db->results, &k, &(MDB_val) { size, buf }, 0) == 0);
    assert (mdb_txn_commit (txn) == 0);
    store_db_destroy (&db);
    db = s_open (&d, &config);
    assert (s_count (db, "p") == 1 && s_held (db, "p") == 1 && !s_in (db, "p", 2));
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   manifest reader of the open-time scan: OK\n");
}

//  --------------------------------------------------------------------------
//  Ingest

static char *
s_write_file (const char *dir, const char *name, const void *data, size_t size)
{
    char *path = zsys_sprintf ("%s/%s", dir, name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert (fd >= 0 && write (fd, data, size) == (ssize_t) size);
    close (fd);
    return path;
}

//  An ingest request for key n: file path, manifest of data/size.
static void
s_ingest_req (irh_ingest_t *req, uint8_t *buf, size_t cap, int n, const char *path,
              const void *data, size_t size, uint32_t flags, bool origin)
{
    irh_manifest_t m;
    memset (&m, 0, sizeof (m));
    irh_blake3 (data, size, m.blob);
    m.size = size;
    strcpy (m.codec, "pickle5");
    strcpy (m.fn, "peer.f");
    strcpy (m.ns, "shared");
    m.created_us = 1234567;
    m.accessed_us = 7654321;
    m.flops = 99;
    m.wall_us = 5000;
    m.flags = flags;
    if (origin)
        memset (m.origin, 0xAB, sizeof (m.origin));
    memset (req, 0, sizeof (*req));
    s_key (req->key, n);
    snprintf (req->path, sizeof (req->path), "%s", path);
    req->manifest = buf;
    req->manifest_size = irh_manifest_encode_buf (&m, buf, cap);
    assert (req->manifest_size);
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

static void
s_test_ingest (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "digesttest");
    store_db_config_t config = { .inline_max = 64 };
    store_db_t *db = s_open (&d, &config);
    irh_ingest_t req;
    uint8_t buf [4096];
    irh_put_ok_t ok;
    const char *small = "a small pickled result";

    //  happy path, inline; the claim on the key ends
    uint8_t key [32];
    s_key (key, 1);
    irh_claim_reply_t claim;
    assert (store_db_claim (db, key, "1@h/x", 0, &claim) == 0 && claim.status == 0);
    char *path = s_write_file (d.fetch, "one", small, strlen (small));
    s_ingest_req (&req, buf, sizeof (buf), 1, path, small, strlen (small), 2, true);
    assert (store_db_ingest (db, &req, &ok) == 0 && ok.stored == 0 && ok.size == strlen (small));
    assert (!s_exists (path));              //  consumed
    uint64_t expires;
    assert (store_db_state (db, key, &expires) == 0);
    store_db_hit_t hit;
    assert (store_db_get (db, key, false, &hit) == 0);
    assert (zframe_size (hit.content) == strlen (small));
    assert (memcmp (zframe_data (hit.content), small, strlen (small)) == 0);
    zframe_destroy (&hit.content);
    assert (hit.manifest.created_us == 1234567 && hit.manifest.accessed_us != 7654321);
    assert (hit.manifest.flops == 99 && hit.manifest.wall_us == 5000);
    assert (hit.manifest.origin [0] == 0xAB && streq (hit.manifest.fn, "peer.f"));
    assert (hit.manifest.flags == 0);       //  local_only dropped
    assert (streq (hit.manifest.ns, "shared") && s_in (db, "shared", 1));
    assert (store_db_counter (db, STORE_INGESTED) == 1);
    assert (store_db_counter (db, STORE_PUTS) == 0);

    //  exists: never replaces, even with other content
    char *again = s_write_file (d.fetch, "again", "other", 5);
    s_ingest_req (&req, buf, sizeof (buf), 1, again, "other", 5, 0, true);
    assert (store_db_ingest (db, &req, &ok) == -1 && streq (store_db_error_code (db), "exists"));
    assert (store_db_counter (db, STORE_INGEST_EXISTS) == 1 && s_exists (again));

    //  a large one (and a FileRef) becomes a file blob: the fetched file itself
    uint8_t large [1000];
    for (size_t i = 0; i < sizeof (large); i++)
        large [i] = (uint8_t) (i * 13);
    char *big = s_write_file (d.fetch, "big", large, sizeof (large));
    s_ingest_req (&req, buf, sizeof (buf), 2, big, large, sizeof (large), 0, true);
    assert (store_db_ingest (db, &req, &ok) == 0 && ok.stored == 1 && !s_exists (big));
    char *ref = s_write_file (d.fetch, "ref", "fileref", 7);
    s_ingest_req (&req, buf, sizeof (buf), 3, ref, "fileref", 7, 1, true);
    assert (store_db_ingest (db, &req, &ok) == 0 && ok.stored == 1);
    s_key (key, 3);
    assert (store_db_get (db, key, true, &hit) == 0 && *hit.path && hit.manifest.flags == 1);

    //  mismatch: size, then hash of the same size
    char *bad = s_write_file (d.fetch, "bad", "12345", 5);
    s_ingest_req (&req, buf, sizeof (buf), 4, bad, "1234", 4, 0, true);
    assert (store_db_ingest (db, &req, &ok) == -1 && streq (store_db_error_code (db), "mismatch"));
    s_ingest_req (&req, buf, sizeof (buf), 4, bad, "54321", 5, 0, true);
    assert (store_db_ingest (db, &req, &ok) == -1 && streq (store_db_error_code (db), "mismatch"));
    assert (store_db_counter (db, STORE_INGEST_MISMATCH) == 2);
    s_key (key, 4);
    assert (store_db_has (db, key) == 0 && s_exists (bad));

    //  refused (bad-request): outside fetch/, symlinks (out and back in),
    //  a FIFO (must not block), a directory, zero origin, a bad manifest
    char *outside = s_write_file (d.root, "outside", "12345", 5);
    char *sneaky = zsys_sprintf ("%s/../outside", d.fetch);
    char *link_out = zsys_sprintf ("%s/link-out", d.fetch);
    char *link_in = zsys_sprintf ("%s/link-in", d.fetch);
    assert (symlink (outside, link_out) == 0 && symlink (bad, link_in) == 0);
    char *fifo = zsys_sprintf ("%s/fifo", d.fetch);
    assert (mkfifo (fifo, 0600) == 0);
    const char *paths [] = { outside, sneaky, link_out, link_in, fifo, d.fetch, "", "fetch/x",
                             "/etc/passwd" };
    uint64_t refused = store_db_counter (db, STORE_INGEST_REFUSED);
    for (size_t i = 0; i < sizeof (paths) / sizeof (paths [0]); i++) {
        s_ingest_req (&req, buf, sizeof (buf), 5, paths [i], "12345", 5, 0, true);
        assert (store_db_ingest (db, &req, &ok) == -1);
        assert (streq (store_db_error_code (db), "bad-request"));
    }
    s_ingest_req (&req, buf, sizeof (buf), 5, bad, "12345", 5, 0, false);
    assert (store_db_ingest (db, &req, &ok) == -1 && streq (store_db_error_code (db), "bad-request"));
    req.manifest_size = 3;
    assert (store_db_ingest (db, &req, &ok) == -1 && streq (store_db_error_code (db), "bad-request"));
    assert (store_db_counter (db, STORE_INGEST_REFUSED) == refused + 11);
    assert (s_exists (outside) && s_exists (fifo));
    //  the same file, asked properly, goes in
    s_ingest_req (&req, buf, sizeof (buf), 5, bad, "12345", 5, 0, true);
    assert (store_db_ingest (db, &req, &ok) == 0);
    s_check (db, "shared");
    assert (s_count (db, "shared") == 4);
    //  content instead of a path (a small result carried with its
    //  manifest): hashed, stored inline, or as a file for a FileRef; a
    //  mismatch is refused, and so is a path with content too
    const char *carried = "carried with the manifest";
    size_t carried_size = strlen (carried);
    s_ingest_req (&req, buf, sizeof (buf), 7, "", carried, carried_size, 0, true);
    req.content = (const uint8_t *) carried;
    req.content_size = carried_size;
    assert (store_db_ingest (db, &req, &ok) == 0 && ok.stored == 0 && ok.size == carried_size);
    s_key (key, 7);
    assert (store_db_get (db, key, false, &hit) == 0);
    assert (zframe_size (hit.content) == carried_size);
    assert (memcmp (zframe_data (hit.content), carried, carried_size) == 0);
    zframe_destroy (&hit.content);
    s_ingest_req (&req, buf, sizeof (buf), 8, "", carried, carried_size, 1, true);
    req.content = (const uint8_t *) carried;
    req.content_size = carried_size;
    assert (store_db_ingest (db, &req, &ok) == 0 && ok.stored == 1);
    s_key (key, 8);
    assert (store_db_get (db, key, true, &hit) == 0 && *hit.path && hit.manifest.flags == 1);
    uint64_t mismatches = store_db_counter (db, STORE_INGEST_MISMATCH);
    s_ingest_req (&req, buf, sizeof (buf), 9, "", carried, carried_size, 0, true);
    req.content = (const uint8_t *) "Carried with the manifest";
    req.content_size = carried_size;
    assert (store_db_ingest (db, &req, &ok) == -1 && streq (store_db_error_code (db), "mismatch"));
    assert (store_db_counter (db, STORE_INGEST_MISMATCH) == mismatches + 1);
    char *both = s_write_file (d.fetch, "both", carried, carried_size);
    s_ingest_req (&req, buf, sizeof (buf), 9, both, carried, carried_size, 0, true);
    req.content = (const uint8_t *) carried;
    req.content_size = carried_size;
    assert (store_db_ingest (db, &req, &ok) == -1 && streq (store_db_error_code (db), "bad-request"));
    s_key (key, 9);
    assert (store_db_has (db, key) == 0 && s_exists (both));
    //  the empty blob needs neither
    s_ingest_req (&req, buf, sizeof (buf), 10, "", "", 0, 0, true);
    assert (store_db_ingest (db, &req, &ok) == 0 && ok.size == 0);
    assert (s_count (db, "shared") == 7);
    free (both);
    //  a store without a fetch directory refuses every ingest
    store_db_destroy (&db);
    char *err = NULL;
    db = store_db_new (d.store, d.blobs, d.staging, &config, &err);
    assert (db);
    char *late = s_write_file (d.fetch, "late", "late", 4);
    s_ingest_req (&req, buf, sizeof (buf), 6, late, "late", 4, 0, true);
    assert (store_db_ingest (db, &req, &ok) == -1 && streq (store_db_error_code (db), "bad-request"));
    assert (s_count (db, "shared") == 7);     //  rebuilt at open
    store_db_destroy (&db);
    const char *frees [] = { path, again, big, ref, bad, outside, sneaky, link_out, link_in, fifo,
                             late };
    for (size_t i = 0; i < sizeof (frees) / sizeof (frees [0]); i++)
        free ((void *) frees [i]);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   ingest: OK\n");
}

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    irh_log_init ("store-digest-test", verbose ? IRH_LOG_INFO : IRH_LOG_ERROR, NULL);
    if (verbose)
        printf (" * store digests and ingest:\n");
    s_test_maintenance (verbose);
    s_test_rebuild_and_get (verbose);
    s_test_peek (verbose);
    s_test_ingest (verbose);
    if (verbose)
        printf (" * store digests and ingest: OK\n");
    return 0;
}
