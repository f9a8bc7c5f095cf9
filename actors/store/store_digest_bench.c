/*  store_digest_bench.c: what the key digests cost the store at open, for
    a results database of N keys (default 1 M) in a few namespaces
    (docs/store.md records the figures).

    usage: irohds-store-digest-bench [KEYS [DIR]]
    Writes KEYS manifests (realistic fields: fn, codec, cost record, one in
    ten local_only) straight into the results database in one transaction
    (only the results database is read by the digest scan), then opens the
    store three times and prints the digest scan time (wall clock of
    store_dbi_digest_build), the whole open, and the digests' memory.
*/
#include "store_dbi.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <unistd.h>

static void
s_fill (const char *store, const char *blobs, const char *staging, size_t keys)
{
    store_db_config_t config = { .map_size = 8ULL << 30, .sync_interval_ms = 1000 };
    char *err = NULL;
    store_db_t *db = store_db_new (store, blobs, staging, &config, &err);
    assert (db);
    MDB_txn *txn;
    assert (mdb_txn_begin (db->env, NULL, 0, &txn) == 0);
    static const char *spaces [] = { "", "team", "ml/embeddings", "batch" };
    for (size_t i = 0; i < keys; i++) {
        irh_manifest_t m;
        memset (&m, 0, sizeof (m));
        uint8_t key [32];
        irh_blake3 (&i, sizeof (i), key);
        irh_blake3 (key, sizeof (key), m.blob);
        m.size = 1000 + i % 5000;
        strcpy (m.codec, "pickle5");
        snprintf (m.fn, sizeof (m.fn), "project.analysis.module_%zu.function_%zu", i % 40, i % 100);
        strcpy (m.ns, spaces [i % 4]);
        m.created_us = m.accessed_us = 1700000000000000ULL + i;
        m.flops = i * 1000;
        m.wall_us = 5000 + i % 1000;
        m.cpu_us = 4000;
        m.flags = i % 10 == 0 ? 2 : 0;
        assert (store_dbi_put_manifest (db, txn, key, &m) == 0);
    }
    assert (mdb_txn_commit (txn) == 0);
    store_db_destroy (&db);
}

int
main (int argc, char *argv [])
{
    size_t keys = argc > 1 ? (size_t) strtoull (argv [1], NULL, 10) : 1000000;
    irh_log_init ("store-digest-bench", IRH_LOG_WARN, NULL);
    char root [256];
    if (argc > 2)
        snprintf (root, sizeof (root), "%s", argv [2]);
    else {
        strcpy (root, "/tmp/irh-digest-bench-XXXXXX");
        assert (mkdtemp (root));
    }
    char store [300], blobs [300], staging [300];
    snprintf (store, sizeof (store), "%s/store", root);
    snprintf (blobs, sizeof (blobs), "%s/blobs", root);
    snprintf (staging, sizeof (staging), "%s/staging", root);
    int64_t t0 = zclock_usecs ();
    s_fill (store, blobs, staging, keys);
    printf ("wrote %zu manifests in %.2f s\n", keys, (double) (zclock_usecs () - t0) / 1e6);
    store_db_config_t config = { .map_size = 8ULL << 30, .sync_interval_ms = 1000 };
    for (int round = 0; round < 3; round++) {
        char *err = NULL;
        t0 = zclock_usecs ();
        store_db_t *db = store_db_new (store, blobs, staging, &config, &err);
        double open_ms = (double) (zclock_usecs () - t0) / 1e3;
        assert (db);
        size_t bytes = 0;
        for (irh_digest_t *d = zhashx_first (db->digests); d; d = zhashx_next (db->digests))
            bytes += irh_digest_nbits (d) / 8 * 5;      //  4-bit counters + the bit array
        printf ("open %d: digest scan %.1f ms, whole open %.1f ms; %llu keys in %llu digests, "
                "%.1f MB of counters and bits\n", round,
                (double) db->digest_open_us / 1e3, open_ms,
                (unsigned long long) store_db_stat (db, "digest_keys"),
                (unsigned long long) store_db_stat (db, "digests"), (double) bytes / 1e6);
        store_db_destroy (&db);
    }
    char *cmd = zsys_sprintf ("rm -rf '%s'", root);
    if (argc <= 2 && system (cmd) != 0)
        fprintf (stderr, "cannot remove %s\n", root);
    zstr_free (&cmd);
    return 0;
}
