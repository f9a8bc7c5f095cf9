/*  store_bench.c: put+get through the store's LMDB layer with content kept
    inline in LMDB versus as blob files, at sizes 4 KiB ... 4 MiB, to choose
    store.inline_max (docs/store.md records the numbers and the choice).

    usage: irohds-store-bench [DIR [SYNC_MS]]
      DIR      default: a temp dir under /tmp
      SYNC_MS  store.sync_interval to measure with: 0 (default) fsyncs
               every put, as the most durable setting does; 1000 is the
               shipped default (periodic sync)
    prints one line per size: median put, get and put+get microseconds for
    inline and for file blobs, and their ratio. Content is fresh for every
    put (a counter in the first bytes) so deduplication never skips work.
*/
#include "store_db.h"
#include "irh_hash.h"
#include "irh_log.h"
#include "bench_util.h"
#include <unistd.h>

static double
s_median (double *v, int n)
{
    double median, best;
    bench_summary (v, n, &median, &best);
    return median;
}

//  Median put and get times (us) for size-byte results.
static void
s_run (const char *root, const char *tag, uint64_t inline_max, uint64_t sync_ms,
       size_t size, int iters, double *put_us, double *get_us)
{
    char store [256], blobs [256], staging [256];
    snprintf (store, sizeof (store), "%s/%s-%zu/store", root, tag, size);
    snprintf (blobs, sizeof (blobs), "%s/%s-%zu/blobs", root, tag, size);
    snprintf (staging, sizeof (staging), "%s/%s-%zu/staging", root, tag, size);
    char *parent = zsys_sprintf ("%s/%s-%zu", root, tag, size);
    zsys_dir_create (parent);
    store_db_config_t config = { .map_size = 8ULL << 30, .inline_max = inline_max,
                                 .sync_interval_ms = sync_ms };
    char *err = NULL;
    store_db_t *db = store_db_new (store, blobs, staging, &config, &err);
    assert (db);
    uint8_t *data = malloc (size);
    assert (data);
    for (size_t i = 0; i < size; i++)
        data [i] = (uint8_t) (i * 131 + 7);
    double *puts = calloc ((size_t) iters, sizeof (double));
    double *gets = calloc ((size_t) iters, sizeof (double));
    for (int i = 0; i < iters; i++) {
        irh_put_t put;
        memset (&put, 0, sizeof (put));
        memcpy (data, &i, sizeof (i));
        irh_blake3 (data, 16, put.key);
        put.key [0] ^= (uint8_t) size;
        strcpy (put.codec, "raw");
        strcpy (put.fn, "bench.f");
        irh_put_ok_t ok;
        double t0 = bench_now () * 1e6;
        int rc = store_db_put (db, &put, data, size, &ok);
        double t1 = bench_now () * 1e6;
        assert (rc == 0 && ok.stored == (inline_max < size));
        store_db_hit_t hit;
        rc = store_db_get (db, put.key, false, &hit);
        double t2 = bench_now () * 1e6;
        assert (rc == 0 && zframe_size (hit.content) == size);
        zframe_destroy (&hit.content);
        puts [i] = t1 - t0;
        gets [i] = t2 - t1;
    }
    *put_us = s_median (puts, iters);
    *get_us = s_median (gets, iters);
    free (puts);
    free (gets);
    free (data);
    store_db_destroy (&db);
    char *cmd = zsys_sprintf ("chmod -R u+w '%s' && rm -rf '%s'", parent, parent);
    if (system (cmd) != 0)
        fprintf (stderr, "cannot remove %s\n", parent);
    zstr_free (&cmd);
    zstr_free (&parent);
}

int
main (int argc, char *argv [])
{
    irh_log_init ("store-bench", IRH_LOG_WARN, NULL);
    char root [256];
    uint64_t sync_ms = argc > 2 ? strtoull (argv [2], NULL, 10) : 0;
    bool own_root = argc <= 1 || !argv [1][0];
    if (!own_root)
        snprintf (root, sizeof (root), "%s", argv [1]);
    else {
        strcpy (root, "/tmp/irh-storebench-XXXXXX");
        assert (mkdtemp (root));
    }
    printf ("%8s %10s %10s %10s %10s %10s %10s %8s\n", "size", "in.put", "in.get", "in.total",
            "file.put", "file.get", "file.total", "file/in");
    size_t sizes [] = { 4 << 10, 16 << 10, 64 << 10, 128 << 10, 256 << 10, 1 << 20, 4 << 20 };
    for (size_t s = 0; s < sizeof (sizes) / sizeof (sizes [0]); s++) {
        size_t size = sizes [s];
        int iters = (int) ((64 << 20) / size);
        if (iters > 200)
            iters = 200;
        if (iters < 9)
            iters = 9;
        double ip, ig, fp, fg;
        s_run (root, "inline", UINT64_MAX / 2, sync_ms, size, iters, &ip, &ig);
        s_run (root, "file", 0, sync_ms, size, iters, &fp, &fg);
        printf ("%8zu %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f %8.2f\n", size, ip, ig, ip + ig,
                fp, fg, fp + fg, (fp + fg) / (ip + ig));
        fflush (stdout);
    }
    if (own_root)
        rmdir (root);
    return 0;
}
