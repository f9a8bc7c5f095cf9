/*  test_fncost.c: vectors for every FnCost constructor and combinator
    (the same vectors as docs/coren.md and tests/python/test_coren.py),
    saturation edges, and Verdict decisions on hand-built MachCaps.
*/
#include "irh_fncost.h"
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define COST_MAX UINT64_MAX

static void
s_expect (irh_fncost_t c, uint64_t w, uint64_t q, uint64_t m, uint64_t r, const char *what)
{
    if (c.flops != w || c.mem_bytes != q || c.peak_mem != m || c.result_bytes != r) {
        fprintf (stderr, "%s: got W=%llu Q=%llu M=%llu R=%llu\n", what,
                 (unsigned long long) c.flops, (unsigned long long) c.mem_bytes,
                 (unsigned long long) c.peak_mem, (unsigned long long) c.result_bytes);
        assert (false);
    }
}

static void
s_test_constructors (void)
{
    s_expect (irh_fncost_new (1, 2, 3, 4), 1, 2, 3, 4, "new");
    s_expect (irh_fncost_scan (1000, 10), 1000, 1010, 1010, 10, "scan");
    s_expect (irh_fncost_scan (COST_MAX, 1), COST_MAX, COST_MAX, COST_MAX, 1, "scan sat");
    s_expect (irh_fncost_sort (1000000, 64, 64000000), 200000000, 1280000000, 128000000,
              64000000, "sort 1M");
    s_expect (irh_fncost_sort (0, 64, 0), 0, 0, 0, 0, "sort 0");
    s_expect (irh_fncost_sort (1, 8, 0), 0, 0, 16, 0, "sort 1");
    s_expect (irh_fncost_sort (1024, 8, 5), 102400, 81920, 16384, 5, "sort 1024");
    s_expect (irh_fncost_sort (1025, 8, 5), 112750, 90200, 16400, 5, "sort 1025");
    s_expect (irh_fncost_sort (1ULL << 63, 1024, 0), COST_MAX, COST_MAX, COST_MAX, 0, "sort sat");
    s_expect (irh_fncost_hash (1000), 8000, 1000, 1032, 32, "hash");
    s_expect (irh_fncost_hash (COST_MAX), COST_MAX, COST_MAX, COST_MAX, 32, "hash sat");
    s_expect (irh_fncost_matmul (1000, 1000, 1000, 8000000), 2000000000, 24000000, 24000000,
              8000000, "matmul 1k");
    s_expect (irh_fncost_matmul (2, 3, 4, 48), 48, 208, 208, 48, "matmul 2x3x4");
    s_expect (irh_fncost_matmul (1ULL << 32, 1ULL << 32, 2, 0), COST_MAX, COST_MAX, COST_MAX, 0, "matmul sat");
    s_expect (irh_fncost_etl (100000, 100, 50, 7), 5000000, 20000000, 6553600, 7, "etl");
    s_expect (irh_fncost_etl (10, 100, 50, 7), 500, 2000, 1000, 7, "etl small");
    s_expect (irh_fncost_copy (1ULL << 30), 0, 1ULL << 31, 8388608, 1ULL << 30, "copy");
    s_expect (irh_fncost_copy (100), 0, 200, 100, 100, "copy small");
    s_expect (irh_fncost_copy (COST_MAX), 0, COST_MAX, 8388608, COST_MAX, "copy sat");
}

static void
s_test_combinators (void)
{
    irh_fncost_t a = irh_fncost_new (10, 20, 30, 40);
    irh_fncost_t b = irh_fncost_new (1, 2, 300, 4);
    s_expect (irh_fncost_then (a, b), 11, 22, 300, 4, "then");
    s_expect (irh_fncost_par (a, b), 10, 22, 330, 44, "par");
    s_expect (irh_fncost_repeat (a, 5), 50, 100, 30, 40, "repeat");
    s_expect (irh_fncost_repeat (a, 0), 0, 0, 30, 40, "repeat 0");
    irh_fncost_t big = irh_fncost_new (COST_MAX, COST_MAX - 1, COST_MAX, COST_MAX);
    s_expect (irh_fncost_then (big, a), COST_MAX, COST_MAX, COST_MAX, 40, "then sat");
    s_expect (irh_fncost_par (big, a), COST_MAX, COST_MAX, COST_MAX, COST_MAX, "par sat");
    s_expect (irh_fncost_repeat (a, COST_MAX), COST_MAX, COST_MAX, 30, 40, "repeat sat");
    //  The seed's pipeline.
    irh_fncost_t pipe = irh_fncost_then (irh_fncost_then (irh_fncost_scan (64000000, 0),
                                                          irh_fncost_sort (1000000, 64, 0)),
                                         irh_fncost_hash (64000000));
    s_expect (pipe, 64000000 + 200000000 + 512000000, 64000000 + 1280000000ULL + 64000000,
              128000000, 32, "pipeline");
    assert (irh_fncost_eq (pipe, pipe));
    assert (!irh_fncost_eq (a, b));
}

static irh_fncost_cap_t
s_cap (void)
{
    irh_fncost_cap_t cap;
    memset (&cap, 0, sizeof (cap));
    cap.flops_core = 10e9;
    cap.flops_all = 40e9;
    cap.mem_bw = 20e9;
    cap.disk_read = 1e9;
    cap.disk_write = 500e6;
    cap.net_bw = 125e6;            //  1 Gbit/s
    cap.net_latency = 0.001;
    cap.ram_total = 16e9;
    cap.ram_avail = 8e9;
    cap.cores = 4;
    return cap;
}

static void
s_test_verdict (void)
{
    irh_fncost_cap_t cap = s_cap ();
    char text [64];
    //  sort 1M x 64B, R = 10 MB: memory bound (1.28 GB / 20 GB/s = 64 ms),
    //  fetch = 1 ms + 10 MB / 125 MB/s = 81 ms: compute wins by 17 ms.
    irh_fncost_verdict_t v = irh_fncost_verdict (&cap, irh_fncost_sort (1000000, 64, 10000000), 0, 0, true);
    assert (fabs (v.t_compute - 0.064) < 1e-9);
    assert (fabs (v.t_fetch - 0.081) < 1e-9);
    assert (fabs (v.t_store - 0.02) < 1e-9);
    assert (v.score < 0 && fabs (v.score + 0.017) < 1e-9);
    assert (v.bottleneck == IRH_NECK_MEMORY);
    irh_fncost_verdict_format (&v, text, sizeof (text));
    assert (strcmp (text, "compute (saves 0.017s)") == 0);

    //  matmul 1k^3: 2 GFLOP / 40 GFLOP/s = 50 ms, compute bound.
    v = irh_fncost_verdict (&cap, irh_fncost_matmul (1000, 1000, 1000, 8000000), 0, 0, true);
    assert (fabs (v.t_compute - 0.05) < 1e-9);
    assert (v.bottleneck == IRH_NECK_COMPUTE);
    assert (v.score < 0);           //  fetch 1 ms + 64 ms

    //  Heavy compute, small result: fetch wins, network bound.
    v = irh_fncost_verdict (&cap, irh_fncost_new (400000000000ULL, 0, 0, 1000000), 0, 0, true);
    assert (fabs (v.t_compute - 10.0) < 1e-9);
    assert (fabs (v.score - (10.0 - 0.009)) < 1e-9);
    assert (v.bottleneck == IRH_NECK_NETWORK);
    irh_fncost_verdict_format (&v, text, sizeof (text));
    assert (strcmp (text, "fetch (saves 9.991s)") == 0);

    //  A fast peer link makes the local disk the slower side of a fetch.
    v = irh_fncost_verdict (&cap, irh_fncost_new (400000000000ULL, 0, 0, 1000000000), 10e9, 0.0001,
                     true);
    assert (v.score > 0);
    assert (fabs (v.t_fetch - 0.1001) < 1e-9);
    assert (v.bottleneck == IRH_NECK_DISK);

    //  Peak memory above available RAM: must fetch.
    v = irh_fncost_verdict (&cap, irh_fncost_new (1, 1, 9000000000ULL, 1), 0, 0, true);
    assert (isinf (v.score) && v.score > 0);
    assert (v.bottleneck == IRH_NECK_MEMORY);
    irh_fncost_verdict_format (&v, text, sizeof (text));
    assert (strcmp (text, "fetch (must: not enough RAM)") == 0);

    //  No holder, or no network: must compute.
    v = irh_fncost_verdict (&cap, irh_fncost_new (400000000000ULL, 0, 0, 1), 0, 0, false);
    assert (isinf (v.score) && v.score < 0);
    assert (v.bottleneck == IRH_NECK_NETWORK);
    irh_fncost_cap_t offline = cap;
    offline.net_bw = 0;
    v = irh_fncost_verdict (&offline, irh_fncost_new (400000000000ULL, 0, 9000000000ULL, 1), 0, 0,
                     true);
    assert (isinf (v.score) && v.score < 0);
    assert (isinf (v.t_fetch));
    irh_fncost_verdict_format (&v, text, sizeof (text));
    assert (strcmp (text, "compute (must: no holder or network)") == 0);
}

static void
s_test_helpers (void)
{
    irh_fncost_cap_t cap = s_cap ();
    //  500 MB/s * 0.5 s = 250 MB, whole 1000-byte rows.
    assert (irh_fncost_etl_buffer_bytes (&cap, 1000) == 250000000);
    assert (irh_fncost_etl_buffer_bytes (&cap, 0) == 0);
    //  Rows bigger than the buffer: one row.
    assert (irh_fncost_etl_buffer_bytes (&cap, 2000000000ULL) == 2000000000ULL);
    irh_fncost_cap_t small = cap;
    small.ram_avail = 16e6;          //  an eighth: 2 MB caps the 4 MiB floor
    assert (irh_fncost_etl_buffer_bytes (&small, 1000) == 2000000);
    //  TTL: expensive-to-recompute lives longer, clamped to 100x.
    double ttl_cheap = irh_fncost_suggest_ttl (&cap, irh_fncost_scan (1000, 1000000000), 3600);
    double ttl_dear = irh_fncost_suggest_ttl (&cap, irh_fncost_new (400000000000ULL, 0, 0, 1000000),
                                               3600);
    assert (fabs (ttl_cheap - 360) < 1e-6);
    assert (fabs (ttl_dear - 360000) < 1e-6);
    assert (ttl_dear > ttl_cheap);
    assert (irh_fncost_suggest_ttl (&cap, irh_fncost_scan (1, 1), 0) == 0);
    //  Budget: cores, limited by RAM.
    assert (irh_fncost_compute_budget (&cap, irh_fncost_new (1, 1, 0, 1)) == 4);
    assert (irh_fncost_compute_budget (&cap, irh_fncost_new (1, 1, 3000000000ULL, 1)) == 2);
    assert (irh_fncost_compute_budget (&cap, irh_fncost_new (1, 1, 9000000000ULL, 1)) == 0);
}

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && strcmp (argv [1], "-v") == 0;
    irh_fncost_test (verbose);
    s_test_constructors ();
    s_test_combinators ();
    s_test_verdict ();
    s_test_helpers ();
    printf ("test_fncost: OK\n");
    return 0;
}
