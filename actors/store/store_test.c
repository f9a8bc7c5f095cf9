/*  store_test.c: self-test of the store's LMDB layer (store_db_test),
    run by ctest as "c.store_db". Real LMDB in a temp directory, real blob
    files; the clock is set by hand so TTL, LRU and leases are tested by
    behaviour, not by sleeping.
*/
#include "store_dbi.h"
#include "store_scratch.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static void
s_key (uint8_t *key, int n)
{
    char text [32];
    snprintf (text, sizeof (text), "key-%d", n);
    irh_blake3 (text, strlen (text), key);
}

static void
s_request (irh_put_t *put, int n, const char *fn)
{
    memset (put, 0, sizeof (*put));
    s_key (put->key, n);
    strcpy (put->codec, "raw");
    strcpy (put->fn, fn);
    strcpy (put->ns, "test");
    put->flops = 42;
}

static int
s_put (store_db_t *db, int n, const char *fn, const void *data, size_t size, irh_put_ok_t *ok)
{
    irh_put_t put;
    s_request (&put, n, fn);
    irh_put_ok_t spare;
    return store_db_put (db, &put, data, size, ok ? ok : &spare);
}

//  Get key n: returns 0 hit with content equal to data/size, else the miss reason + 1.
static int
s_get (store_db_t *db, int n, const void *data, size_t size)
{
    uint8_t key [32];
    s_key (key, n);
    store_db_hit_t hit;
    int rc = store_db_get (db, key, false, &hit);
    assert (rc >= 0);
    if (rc == 1)
        return hit.reason + 1;
    assert (hit.content);
    assert (zframe_size (hit.content) == size);
    assert (memcmp (zframe_data (hit.content), data, size) == 0);
    assert (hit.manifest.size == size);
    zframe_destroy (&hit.content);
    return 0;
}

//  Overwrite a raw LMDB value (what a disk fault or a bug elsewhere might do).
static void
s_poke (store_db_t *db, MDB_dbi dbi, const void *key, size_t ksize, const void *value, size_t vsize)
{
    MDB_txn *txn;
    assert (mdb_txn_begin (db->env, NULL, 0, &txn) == 0);
    MDB_val k = { ksize, (void *) key }, v = { vsize, (void *) value };
    assert (mdb_put (txn, dbi, &k, &v, 0) == 0);
    assert (mdb_txn_commit (txn) == 0);
}

static uint64_t
s_refs (store_db_t *db, const uint8_t *hash)
{
    MDB_txn *txn;
    assert (mdb_txn_begin (db->env, NULL, MDB_RDONLY, &txn) == 0);
    MDB_val k = { 32, (void *) hash }, v;
    uint64_t refs = mdb_get (txn, db->refs, &k, &v) == 0 ? store_dbi_get_be64 (v.mv_data) : 0;
    mdb_txn_abort (txn);
    return refs;
}

static bool
s_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0;
}

static void
s_test_basic (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "storetest");
    store_db_config_t config = { .inline_max = 1024 };
    store_db_t *db = store_scratch_open (&d, &config);
    uint8_t small [100], large [5000];
    for (size_t i = 0; i < sizeof (large); i++)
        large [i] = (uint8_t) (i * 7 + 3);
    memset (small, 'a', sizeof (small));
    irh_put_ok_t ok;

    //  inline and file round trips
    assert (s_put (db, 1, "m.f", small, sizeof (small), &ok) == 0);
    assert (ok.stored == 0 && ok.size == sizeof (small));
    assert (s_put (db, 2, "m.f", large, sizeof (large), &ok) == 0);
    assert (ok.stored == 1);
    char *path = store_dbi_blob_path (db, ok.blob);
    struct stat st;
    assert (stat (path, &st) == 0 && (st.st_mode & 0777) == 0444);
    assert (s_get (db, 1, small, sizeof (small)) == 0);
    assert (s_get (db, 2, large, sizeof (large)) == 0);
    assert (s_get (db, 3, NULL, 0) == 1);               //  absent
    uint8_t key [32];
    s_key (key, 2);
    store_db_hit_t hit;
    assert (store_db_get (db, key, true, &hit) == 0 && !hit.content && streq (hit.path, path));
    assert (hit.manifest.flops == 42 && streq (hit.manifest.fn, "m.f"));
    assert (store_db_has (db, key) == 1);
    assert (store_db_stat (db, "entries") == 2);
    assert (store_db_stat (db, "bytes_total") == sizeof (small) + sizeof (large));
    assert (store_db_stat (db, "inline_bytes") == sizeof (small));
    assert (store_db_stat (db, "file_bytes") == sizeof (large));

    //  dedupe: same content under another key shares the blob
    assert (s_put (db, 4, "m.g", large, sizeof (large), &ok) == 0);
    assert (s_refs (db, ok.blob) == 2);
    assert (store_db_counter (db, STORE_DEDUPED) == 1);
    assert (store_db_stat (db, "bytes_total") == sizeof (small) + sizeof (large));
    uint64_t count, bytes;
    assert (store_db_evict (db, "", key, &count, &bytes) == 0 && count == 1 && bytes == 0);
    assert (s_refs (db, ok.blob) == 1 && s_exists (path));
    assert (s_get (db, 4, large, sizeof (large)) == 0);
    assert (store_db_evict (db, "m.g", key, &count, &bytes) == 0);
    assert (count == 1 && bytes == sizeof (large));
    assert (!s_exists (path) && s_refs (db, ok.blob) == 0);
    zstr_free (&path);

    //  replacing a key frees the old blob; FileRef always goes to a file
    assert (s_put (db, 1, "m.f", large, 10, &ok) == 0);
    assert (store_db_stat (db, "bytes_total") == 10);
    irh_put_t put;
    s_request (&put, 5, "m.h");
    put.flags = 1;
    assert (store_db_put (db, &put, large, 10, &ok) == 0 && ok.stored == 1);  //  same content as key 1
    assert (s_refs (db, ok.blob) == 2 && store_db_stat (db, "file_bytes") == 10);
    assert (s_get (db, 1, large, 10) == 0);

    //  ls
    irh_table_t *table = irh_table_new (STORE_DB_LS_COLUMNS);
    assert (store_db_ls (db, "", 0, table) == 0 && irh_table_rows (table) == 2);
    irh_table_destroy (&table);
    table = irh_table_new (STORE_DB_LS_COLUMNS);
    assert (store_db_ls (db, "m.h", 0, table) == 0 && irh_table_rows (table) == 1);
    assert (streq (irh_table_get (table, 0, "fn"), "m.h"));
    assert (streq (irh_table_get (table, 0, "ns"), "test"));   //  from the put's ns
    irh_table_destroy (&table);

    //  staged puts: moved into place; nothing outside staging accepted
    char *staged = zsys_sprintf ("%s/job-1", d.staging);
    int fd = open (staged, O_WRONLY | O_CREAT, 0600);
    assert (fd >= 0 && write (fd, large, sizeof (large)) == (ssize_t) sizeof (large));
    close (fd);
    s_request (&put, 6, "m.s");
    put.src = 1;
    strcpy (put.path, staged);
    assert (store_db_put (db, &put, NULL, 0, &ok) == 0 && ok.stored == 1 && ok.size == sizeof (large));
    assert (!s_exists (staged));
    assert (s_get (db, 6, large, sizeof (large)) == 0);
    //  a small staged file is kept inline, the staged copy removed
    fd = open (staged, O_WRONLY | O_CREAT, 0600);
    assert (fd >= 0 && write (fd, "tiny", 4) == 4);
    close (fd);
    s_request (&put, 7, "m.s");
    put.src = 1;
    strcpy (put.path, staged);
    assert (store_db_put (db, &put, NULL, 0, &ok) == 0 && ok.stored == 0);
    assert (!s_exists (staged) && s_get (db, 7, "tiny", 4) == 0);
    uint64_t bad = store_db_counter (db, STORE_BAD_PATHS);
    char *outside = zsys_sprintf ("%s/outside", d.root);
    fd = open (outside, O_WRONLY | O_CREAT, 0600);
    close (fd);
    char *sneaky = zsys_sprintf ("%s/../outside", d.staging);
    char *link = zsys_sprintf ("%s/link", d.staging);
    assert (symlink (outside, link) == 0);
    const char *paths [] = { outside, sneaky, link, "", "/etc/passwd", d.staging };
    for (size_t i = 0; i < sizeof (paths) / sizeof (paths [0]); i++) {
        strcpy (put.path, paths [i]);
        assert (store_db_put (db, &put, NULL, 0, &ok) == -1);
        assert (streq (store_db_error_code (db), "bad-request"));
    }
    assert (store_db_counter (db, STORE_BAD_PATHS) == bad + 6);
    assert (s_exists (outside));
    put.src = 7;
    assert (store_db_put (db, &put, NULL, 0, &ok) == -1);
    assert (streq (store_db_error_code (db), "bad-request"));
    zstr_free (&staged);
    zstr_free (&outside);
    zstr_free (&sneaky);
    zstr_free (&link);

    //  counters and contents survive a restart
    uint64_t puts = store_db_counter (db, STORE_PUTS);
    uint64_t hits = store_db_counter (db, STORE_HITS);
    store_db_destroy (&db);
    db = store_scratch_open (&d, &config);
    assert (store_db_counter (db, STORE_PUTS) == puts);
    assert (store_db_counter (db, STORE_HITS) == hits);
    assert (s_get (db, 6, large, sizeof (large)) == 0);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   basic, dedupe, staging, restart: OK\n");
}

static void
s_test_corrupt (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "storetest");
    store_db_config_t config = { .inline_max = 1024 };
    store_db_t *db = store_scratch_open (&d, &config);
    uint8_t data [3000];
    memset (data, 'x', sizeof (data));
    irh_put_ok_t ok;
    uint8_t key [32];

    //  inline content that no longer matches its hash
    assert (s_put (db, 1, "c.f", data, 100, &ok) == 0);
    irh_blob_t rec = { .kind = 0, .size = 100, .data = data + 1, .data_size = 100 };
    uint8_t buf [200];
    uint8_t bad [100];
    memset (bad, 'y', sizeof (bad));
    rec.data = bad;
    size_t size = irh_blob_encode_buf (&rec, buf, sizeof (buf));
    s_poke (db, db->blobs, ok.blob, 32, buf, size);
    assert (s_get (db, 1, data, 100) == 3);             //  miss, corrupt
    assert (store_db_counter (db, STORE_CORRUPT) == 1);
    assert (s_get (db, 1, data, 100) == 1);             //  removed
    assert (store_db_stat (db, "blobs") == 0 && store_db_stat (db, "bytes_total") == 0);
    assert (s_put (db, 1, "c.f", data, 100, &ok) == 0 && s_get (db, 1, data, 100) == 0);

    //  a file blob with a flipped byte
    assert (s_put (db, 2, "c.f", data, sizeof (data), &ok) == 0 && ok.stored == 1);
    char *path = store_dbi_blob_path (db, ok.blob);
    assert (chmod (path, 0644) == 0);
    int fd = open (path, O_WRONLY);
    assert (fd >= 0 && pwrite (fd, "z", 1, 10) == 1);
    close (fd);
    s_key (key, 2);
    store_db_hit_t hit;
    assert (store_db_get (db, key, true, &hit) == 0);   //  path: the client verifies
    assert (s_get (db, 2, data, sizeof (data)) == 3);
    assert (!s_exists (path));
    assert (store_db_counter (db, STORE_CORRUPT) == 2);
    assert (s_put (db, 2, "c.f", data, sizeof (data), &ok) == 0);
    assert (s_get (db, 2, data, sizeof (data)) == 0);
    //  a missing file
    assert (unlink (path) == 0);
    assert (store_db_get (db, key, true, &hit) == 1 && hit.reason == 2);
    zstr_free (&path);

    //  a manifest and a blob record that do not decode
    s_key (key, 1);
    s_poke (db, db->results, key, 32, "garbage", 7);
    assert (store_db_has (db, key) == 0);
    assert (s_get (db, 1, data, 100) == 3);
    assert (s_put (db, 3, "c.f", data, 200, &ok) == 0);
    s_poke (db, db->blobs, ok.blob, 32, "\x21junk", 5);
    assert (s_get (db, 3, data, 200) == 3);
    //  a put on top of a broken blob record repairs it
    assert (s_put (db, 4, "c.f", data, 300, &ok) == 0);
    s_poke (db, db->blobs, ok.blob, 32, "", 0);
    assert (s_put (db, 5, "c.f", data, 300, &ok) == 0);
    assert (s_get (db, 5, data, 300) == 0);
    //  garbage in an index is dropped, not followed
    s_poke (db, db->lru, "short", 5, "", 0);
    s_poke (db, db->expiry, "short", 5, "", 0);
    uint64_t n;
    assert (store_db_expire (db, &n) == 0);
    irh_gc_reply_t gc;
    assert (store_db_gc (db, &gc) == 0);
    assert (s_get (db, 5, data, 300) == 0);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   corrupt values and files: OK\n");
}

static void
s_test_ttl_lru (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "storetest");
    store_db_config_t config = { .inline_max = 1024, .max_bytes = 3000 };
    store_db_t *db = store_scratch_open (&d, &config);
    uint64_t t = 1700000000000000ULL;
    store_db_set_clock (db, t);
    uint8_t data [4][1000];
    for (int i = 0; i < 4; i++)
        memset (data [i], 'a' + i, 1000);
    irh_put_ok_t ok;
    for (int i = 0; i < 3; i++) {
        store_db_set_clock (db, t += 1000);
        assert (s_put (db, i, "l.f", data [i], 1000, &ok) == 0 && ok.evicted == 0);
    }
    //  key 0 is read (touch batched in memory, flushed), so key 1 is oldest
    store_db_set_clock (db, t += 1000);
    assert (s_get (db, 0, data [0], 1000) == 0);
    assert (store_db_pending (db) == 1);
    assert (store_db_flush (db) == 0 && store_db_pending (db) == 0);
    store_db_set_clock (db, t += 1000);
    assert (s_put (db, 3, "l.f", data [3], 1000, &ok) == 0 && ok.evicted == 1);
    assert (s_get (db, 1, NULL, 0) == 1);
    assert (s_get (db, 0, data [0], 1000) == 0 && s_get (db, 2, data [2], 1000) == 0);
    assert (s_get (db, 3, data [3], 1000) == 0);
    assert (store_db_counter (db, STORE_EVICTIONS) == 1);
    //  touch (Python's read-only hits) counts for LRU too
    uint8_t key [32];
    s_key (key, 2);
    store_db_set_clock (db, t += 1000);
    assert (store_db_touch (db, key) == 1);
    s_key (key, 0);
    store_db_set_clock (db, t += 1000);
    assert (store_db_touch (db, key) == 1);
    store_db_set_clock (db, t += 1000);
    assert (s_put (db, 1, "l.f", data [1], 1000, &ok) == 0 && ok.evicted == 1);
    assert (s_get (db, 3, NULL, 0) == 1);               //  the untouched one went

    //  TTL: expired entries miss with reason 1, expire removes them
    irh_put_t put;
    s_request (&put, 10, "t.f");
    put.ttl_s = 10;
    assert (store_db_put (db, &put, (const uint8_t *) "ttl", 3, &ok) == 0);
    assert (store_db_has (db, put.key) == 1);
    store_db_set_clock (db, t += 9000000);
    uint64_t n;
    assert (store_db_expire (db, &n) == 0 && n == 0);
    assert (s_get (db, 10, "ttl", 3) == 0);
    store_db_set_clock (db, t += 2000000);
    assert (store_db_has (db, put.key) == 0);
    assert (s_get (db, 10, NULL, 0) == 2);
    assert (store_db_expire (db, &n) == 0 && n == 1);
    assert (s_get (db, 10, NULL, 0) == 1);
    assert (store_db_counter (db, STORE_EXPIRED) == 1);
    //  TTLs are idle times: an access (get or touch, once written)
    //  moves the expiry to access + ttl
    s_request (&put, 12, "t.f");
    put.ttl_ms = 10000;
    assert (store_db_put (db, &put, (const uint8_t *) "idle", 4, &ok) == 0);
    store_db_set_clock (db, t += 9000000);
    assert (s_get (db, 12, "idle", 4) == 0);
    assert (store_db_flush (db) == 0);
    store_db_set_clock (db, t += 9000000);              //  18 s after the put
    assert (store_db_expire (db, &n) == 0 && n == 0);
    uint64_t local = store_db_counter (db, STORE_HITS_LOCAL);
    assert (store_db_touch (db, put.key) == 1);
    assert (store_db_counter (db, STORE_HITS_LOCAL) == local + 1);
    assert (store_db_flush (db) == 0);
    store_db_set_clock (db, t += 9000000);              //  27 s, 9 s idle
    assert (store_db_has (db, put.key) == 1);
    store_db_set_clock (db, t += 2000000);              //  11 s idle
    assert (store_db_has (db, put.key) == 0);
    assert (store_db_expire (db, &n) == 0 && n == 1);
    store_db_destroy (&db);
    //  default TTL from the config
    config.default_ttl_ms = 5000;
    config.max_bytes = 0;
    db = store_scratch_open (&d, &config);
    store_db_set_clock (db, t);
    assert (s_put (db, 11, "t.f", "x", 1, &ok) == 0);
    store_db_set_clock (db, t + 6000000);
    irh_gc_reply_t gc;
    assert (store_db_gc (db, &gc) == 0 && gc.expired == 1);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   LRU cap, touches, TTL: OK\n");
}

static void
s_test_claims (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "storetest");
    store_db_config_t config = { .inline_max = 1024 };
    store_db_t *db = store_scratch_open (&d, &config);
    uint64_t t = 1700000000000000ULL;
    store_db_set_clock (db, t);
    uint8_t key [32];
    s_key (key, 1);
    irh_claim_reply_t reply;
    uint64_t expires;
    assert (store_db_state (db, key, &expires) == 2);
    assert (store_db_claim (db, key, "a", 1000, &reply) == 0 && reply.status == 0);
    assert (reply.expires_us == t + 1000000);
    assert (store_db_state (db, key, &expires) == 1 && expires == t + 1000000);
    assert (store_db_claim (db, key, "b", 1000, &reply) == 0 && reply.status == 1);
    assert (streq (reply.holder, "a") && reply.expires_us == t + 1000000);
    //  renewal by the holder
    store_db_set_clock (db, t += 500000);
    assert (store_db_claim (db, key, "a", 1000, &reply) == 0 && reply.status == 0);
    assert (reply.expires_us == t + 1000000);
    assert (store_db_release (db, key, "b") == 1);      //  not b's to drop
    //  expired lease is taken over
    store_db_set_clock (db, t += 1000001);
    assert (store_db_state (db, key, &expires) == 2);
    assert (store_db_claim (db, key, "b", 1000, &reply) == 0 && reply.status == 0);
    assert (store_db_claim (db, key, "a", 1000, &reply) == 0 && reply.status == 1);
    //  a put by the holder ends the claim; then the key is done
    irh_put_t put;
    s_request (&put, 1, "c.f");
    strcpy (put.holder, "b");
    irh_put_ok_t ok;
    assert (store_db_put (db, &put, (const uint8_t *) "v", 1, &ok) == 0);
    assert (store_db_state (db, key, &expires) == 0);
    assert (store_db_claim (db, key, "c", 1000, &reply) == 0 && reply.status == 2);
    //  release
    s_key (key, 2);
    assert (store_db_claim (db, key, "a", 0, &reply) == 0 && reply.status == 0);
    assert (reply.expires_us == t + 30000000);          //  default lease
    assert (store_db_release (db, key, "a") == 0);
    assert (store_db_state (db, key, &expires) == 2);
    assert (store_db_claim (db, key, "", 10, &reply) == -1);
    assert (streq (store_db_error_code (db), "bad-request"));
    //  a garbage claim record is reclaimable
    s_poke (db, db->claims, key, 32, "zz", 2);
    assert (store_db_claim (db, key, "a", 10, &reply) == 0 && reply.status == 0);
    assert (store_db_counter (db, STORE_CLAIMS_GRANTED) == 5);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   claims: OK\n");
}

static void
s_test_full (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "storetest");
    //  A 2 MiB map with 60 KiB inline values: MAP_FULL is certain. (At
    //  1 MiB, once manifests carried signatures, the eviction transaction
    //  itself could find no page left to commit in: "full", see the report
    //  of the signing branch; 2 MiB leaves it the few pages it needs.)
    store_db_config_t config = { .map_size = 2 << 20, .inline_max = 64 << 10 };
    store_db_t *db = store_scratch_open (&d, &config);
    uint8_t *data = malloc (60 << 10);
    assert (data);
    irh_put_ok_t ok;
    uint64_t evicted = 0;
    for (int i = 0; i < 60; i++) {
        memset (data, i, 60 << 10);
        assert (s_put (db, i, "f.f", data, 60 << 10, &ok) == 0);
        evicted += ok.evicted;
        assert (s_get (db, i, data, 60 << 10) == 0);
    }
    assert (store_db_counter (db, STORE_MAP_FULL) > 0);
    assert (evicted > 0 && store_db_stat (db, "entries") == 60 - evicted);
    store_db_destroy (&db);
    //  content bigger than the whole map cannot be stored: "full", and the
    //  store keeps working
    config.inline_max = 8 << 20;
    db = store_scratch_open (&d, &config);
    uint8_t *huge = calloc (1, 4 << 20);
    assert (huge);
    assert (s_put (db, 100, "f.f", huge, 4 << 20, &ok) == -1);
    assert (streq (store_db_error_code (db), "full"));
    assert (store_db_counter (db, STORE_PUT_ERRORS) == 1);
    assert (s_put (db, 101, "f.f", "small", 5, &ok) == 0);
    assert (s_get (db, 101, "small", 5) == 0);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    //  growth: start at 1 MiB, allowed up to 16 MiB, nothing evicted
    store_scratch_make (&d, "storetest");
    config = (store_db_config_t) { .map_size = 16 << 20, .map_initial = 1 << 20,
                                   .inline_max = 64 << 10 };
    db = store_scratch_open (&d, &config);
    for (int i = 0; i < 60; i++) {
        memset (data, i, 60 << 10);
        assert (s_put (db, i, "f.f", data, 60 << 10, &ok) == 0 && ok.evicted == 0);
    }
    assert (store_db_counter (db, STORE_MAP_GROWN) > 0);
    assert (store_db_stat (db, "entries") == 60);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    free (data);
    free (huge);
    if (verbose)
        printf ("   map full, map growth: OK\n");
}

static void
s_test_gc (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "storetest");
    store_db_config_t config = { .inline_max = 16 };
    store_db_t *db = store_scratch_open (&d, &config);
    irh_put_ok_t ok;
    assert (s_put (db, 1, "g.f", "a file-sized result", 19, &ok) == 0 && ok.stored == 1);
    char *freed = store_dbi_blob_path (db, ok.blob);
    assert (s_put (db, 2, "g.f", "another file result", 19, &ok) == 0 && ok.stored == 1);
    char *kept = store_dbi_blob_path (db, ok.blob);
    //  orphans: a file no record names (crash between rename and commit),
    //  a temp file, a blob record no manifest uses
    uint8_t hash [32];
    irh_blake3 ("orphan", 6, hash);
    char *orphan = store_dbi_blob_path (db, hash);
    char *dir = strdup (orphan);
    *strrchr (dir, '/') = 0;
    mkdir (dir, 0700);
    int fd = open (orphan, O_WRONLY | O_CREAT, 0444);
    assert (fd >= 0 && write (fd, "orphan", 6) == 6);
    close (fd);
    char *tmp = zsys_sprintf ("%s/put-leftover", db->tmp_dir);
    fd = open (tmp, O_WRONLY | O_CREAT, 0600);
    close (fd);
    uint8_t key [32];
    s_key (key, 1);
    MDB_txn *txn;
    assert (mdb_txn_begin (db->env, NULL, 0, &txn) == 0);
    assert (mdb_del (txn, db->results, &(MDB_val) { 32, key }, NULL) == 0);
    assert (mdb_txn_commit (txn) == 0);
    irh_gc_reply_t gc;
    assert (store_db_gc (db, &gc) == 0);
    assert (gc.blobs == 1 && gc.files == 2 && gc.expired == 0);   //  orphan and temp file
    assert (!s_exists (orphan) && !s_exists (tmp) && !s_exists (freed) && s_exists (kept));
    assert (store_db_stat (db, "bytes_total") == 19 && store_db_stat (db, "blobs") == 1);
    assert (s_get (db, 2, "another file result", 19) == 0);
    assert (store_db_gc (db, &gc) == 0 && gc.blobs == 0 && gc.files == 0);
    zstr_free (&kept);
    zstr_free (&freed);
    zstr_free (&orphan);
    zstr_free (&tmp);
    free (dir);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   gc: OK\n");
}

//  Periodic-sync mode (store.sync_interval): commits mark the store dirty,
//  store_db_sync writes them out at most once per interval unless forced,
//  and sync-every-commit mode never needs it.
static void
s_test_sync (bool verbose)
{
    store_scratch_t d;
    store_scratch_make (&d, "storetest");
    store_db_config_t config = { .inline_max = 16, .sync_interval_ms = 3600 * 1000 };
    store_db_t *db = store_scratch_open (&d, &config);
    uint8_t data [100];
    memset (data, 's', sizeof (data));
    irh_put_ok_t ok;
    assert (!store_db_sync_always (db));
    assert (s_put (db, 1, "t.sync", data, sizeof (data), &ok) == 0 && ok.stored);
    assert (db->dirty);
    assert (store_db_sync (db, true) == 0);
    assert (!db->dirty);
    //  Nothing new: nothing to do, even when forced.
    assert (store_db_sync (db, true) == 0 && !db->dirty);
    //  A second put within the interval stays pending until forced.
    assert (s_put (db, 2, "t.sync", data, sizeof (data), &ok) == 0);
    assert (db->dirty);
    assert (store_db_sync (db, false) == 0);
    assert (db->dirty);
    assert (store_db_sync (db, true) == 0);
    assert (!db->dirty);
    store_db_destroy (&db);
    //  Both results are there after a reopen in sync-every-commit mode.
    config.sync_interval_ms = 0;
    db = store_scratch_open (&d, &config);
    assert (store_db_sync_always (db));
    assert (s_get (db, 1, data, sizeof (data)) == 0);
    assert (s_get (db, 2, data, sizeof (data)) == 0);
    store_db_destroy (&db);
    store_scratch_remove (&d);
    if (verbose)
        printf ("   periodic sync: OK\n");
}

void
store_db_test (bool verbose)
{
    if (verbose)
        printf (" * store_db:\n");
    irh_log_init ("store-test", verbose ? IRH_LOG_INFO : IRH_LOG_ERROR, NULL);
    s_test_basic (verbose);
    s_test_corrupt (verbose);
    s_test_ttl_lru (verbose);
    s_test_claims (verbose);
    s_test_full (verbose);
    s_test_gc (verbose);
    s_test_sync (verbose);
    if (verbose)
        printf (" * store_db: OK\n");
}

int
main (int argc, char *argv [])
{
    store_db_test (argc > 1 && streq (argv [1], "-v"));
    return 0;
}
