/*  irh_fncost.c: FnCost (integer, saturating, bit-identical with
    irohds/coren.py) and the Verdict / MachCap helpers of the coren model.
    Formulas and test vectors: docs/coren.md.
*/
#include "irh_fncost.h"
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SAT_MAX UINT64_MAX

uint64_t
irh_fncost_sat_add (uint64_t a, uint64_t b)
{
    uint64_t sum;
    return __builtin_add_overflow (a, b, &sum) ? SAT_MAX : sum;
}

uint64_t
irh_fncost_sat_mul (uint64_t a, uint64_t b)
{
    uint64_t product;
    return __builtin_mul_overflow (a, b, &product) ? SAT_MAX : product;
}

uint64_t
irh_fncost_log2_ceil (uint64_t n)
{
    if (n <= 1)
        return 0;
    //  ceil(log2 n) = bit length of n - 1 (exact for powers of two too)
    return 64 - (uint64_t) __builtin_clzll (n - 1);
}

static uint64_t
s_max (uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t
s_min (uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

//  Product of three factors, saturating.
static uint64_t
s_mul3 (uint64_t a, uint64_t b, uint64_t c)
{
    return irh_fncost_sat_mul (irh_fncost_sat_mul (a, b), c);
}

irh_fncost_t
irh_fncost_new (uint64_t flops, uint64_t mem_bytes, uint64_t peak_mem, uint64_t result_bytes)
{
    irh_fncost_t self = { flops, mem_bytes, peak_mem, result_bytes };
    return self;
}

//  Linear scan: one operation per byte read; reads the input, writes R.
irh_fncost_t
irh_fncost_scan (uint64_t n_bytes, uint64_t result_bytes)
{
    uint64_t total = irh_fncost_sat_add (n_bytes, result_bytes);
    return irh_fncost_new (n_bytes, total, total, result_bytes);
}

//  Merge sort: ceil(log2 n) passes, each touching every item once (Q) at
//  about 10 operations per item (compare, branch, move, index math).
//  Needs the input plus one merge buffer.
irh_fncost_t
irh_fncost_sort (uint64_t n, uint64_t item_bytes, uint64_t result_bytes)
{
    uint64_t passes = irh_fncost_log2_ceil (n);
    return irh_fncost_new (s_mul3 (10, n, passes), s_mul3 (n, item_bytes, passes),
                           s_mul3 (2, n, item_bytes), result_bytes);
}

//  Cryptographic hash (BLAKE3-class): about 8 operations per byte, input
//  read once, 32-byte digest.
irh_fncost_t
irh_fncost_hash (uint64_t n_bytes)
{
    return irh_fncost_new (irh_fncost_sat_mul (8, n_bytes), n_bytes,
                           irh_fncost_sat_add (n_bytes, 32), 32);
}

//  Dense GEMM of doubles: C[m,n] = A[m,k] B[k,n]; one multiply-add (2
//  flops) per (i,j,l); cold-cache traffic reads A and B and writes C once.
irh_fncost_t
irh_fncost_matmul (uint64_t m, uint64_t n, uint64_t k, uint64_t result_bytes)
{
    uint64_t elems = irh_fncost_sat_add (irh_fncost_sat_add (irh_fncost_sat_mul (m, k),
                                                             irh_fncost_sat_mul (k, n)),
                                         irh_fncost_sat_mul (m, n));
    uint64_t bytes = irh_fncost_sat_mul (8, elems);
    return irh_fncost_new (s_mul3 (2, m, irh_fncost_sat_mul (n, k)), bytes, bytes, result_bytes);
}

//  Row processing: flops_per_row per row, each row read and written once;
//  rows are processed in batches of at most 65,536 held in RAM.
irh_fncost_t
irh_fncost_etl (uint64_t rows, uint64_t row_bytes, uint64_t flops_per_row,
                uint64_t result_bytes)
{
    return irh_fncost_new (irh_fncost_sat_mul (rows, flops_per_row),
                           s_mul3 (2, rows, row_bytes),
                           irh_fncost_sat_mul (s_min (rows, 65536), row_bytes), result_bytes);
}

//  File copy: no arithmetic, read + write every byte through an 8 MiB
//  buffer; the copy is the result.
irh_fncost_t
irh_fncost_copy (uint64_t size)
{
    return irh_fncost_new (0, irh_fncost_sat_mul (2, size), s_min (size, 8u << 20), size);
}

//  Sequential: work and traffic add up, memory is the larger peak, the
//  result is the second stage's.
irh_fncost_t
irh_fncost_then (irh_fncost_t a, irh_fncost_t b)
{
    return irh_fncost_new (irh_fncost_sat_add (a.flops, b.flops),
                           irh_fncost_sat_add (a.mem_bytes, b.mem_bytes),
                           s_max (a.peak_mem, b.peak_mem), b.result_bytes);
}

//  Parallel (seed semantics): W is the longer branch (they run on separate
//  cores), both live at once so M and R add up. Q ADDS UP too: the
//  branches share one memory bus, so their traffic does not overlap the
//  way their arithmetic does.
irh_fncost_t
irh_fncost_par (irh_fncost_t a, irh_fncost_t b)
{
    return irh_fncost_new (s_max (a.flops, b.flops),
                           irh_fncost_sat_add (a.mem_bytes, b.mem_bytes),
                           irh_fncost_sat_add (a.peak_mem, b.peak_mem),
                           irh_fncost_sat_add (a.result_bytes, b.result_bytes));
}

//  k runs one after another: W and Q scale, memory is reused (M
//  unchanged), the result is the last run's.
irh_fncost_t
irh_fncost_repeat (irh_fncost_t a, uint64_t k)
{
    return irh_fncost_new (irh_fncost_sat_mul (a.flops, k), irh_fncost_sat_mul (a.mem_bytes, k),
                           a.peak_mem, a.result_bytes);
}

bool
irh_fncost_eq (irh_fncost_t a, irh_fncost_t b)
{
    return a.flops == b.flops && a.mem_bytes == b.mem_bytes && a.peak_mem == b.peak_mem
        && a.result_bytes == b.result_bytes;
}

//  amount / rate; no rate means it cannot be done here (inf) unless there
//  is nothing to do.
static double
s_time (double amount, double rate)
{
    if (amount <= 0)
        return 0;
    return rate > 0 ? amount / rate : INFINITY;
}

irh_fncost_verdict_t
irh_fncost_verdict (const irh_fncost_cap_t *cap, irh_fncost_t cost, double peer_bw,
             double peer_latency, bool has_holder)
{
    assert (cap);
    irh_fncost_verdict_t self;
    double t_flops = s_time ((double) cost.flops, cap->flops_all);
    double t_mem = s_time ((double) cost.mem_bytes, cap->mem_bw);
    double bw = peer_bw > 0 ? peer_bw : cap->net_bw;
    double latency = peer_latency > 0 ? peer_latency : cap->net_latency;
    if (!(latency > 0))
        latency = 0;
    self.t_compute = t_flops >= t_mem ? t_flops : t_mem;
    self.t_fetch = bw > 0 ? latency + (double) cost.result_bytes / bw : INFINITY;
    self.t_store = s_time ((double) cost.result_bytes, cap->disk_write);
    if (!has_holder || !(bw > 0)) {
        //  Nothing to fetch from: computing is the only option.
        self.score = -INFINITY;
        self.bottleneck = IRH_NECK_NETWORK;
    }
    else
    if ((double) cost.peak_mem > cap->ram_avail) {
        //  Cannot compute in the RAM we have: fetching is the only option.
        self.score = INFINITY;
        self.bottleneck = IRH_NECK_MEMORY;
    }
    else {
        self.score = self.t_compute - self.t_fetch;
        if (self.score > 0)
            self.bottleneck = self.t_store > self.t_fetch ? IRH_NECK_DISK : IRH_NECK_NETWORK;
        else
            self.bottleneck = t_flops >= t_mem ? IRH_NECK_COMPUTE : IRH_NECK_MEMORY;
    }
    return self;
}

const char *
irh_fncost_neck_name (irh_fncost_neck_t neck)
{
    switch (neck) {
        case IRH_NECK_COMPUTE: return "compute";
        case IRH_NECK_MEMORY:  return "memory";
        case IRH_NECK_NETWORK: return "network";
        case IRH_NECK_DISK:    return "disk";
    }
    return "?";
}

char *
irh_fncost_verdict_format (const irh_fncost_verdict_t *self, char *buf, size_t size)
{
    assert (self && buf && size);
    if (isinf (self->score) && self->score > 0)
        snprintf (buf, size, "fetch (must: not enough RAM)");
    else
    if (isinf (self->score))
        snprintf (buf, size, "compute (must: no holder or network)");
    else
    if (self->score > 0)
        snprintf (buf, size, "fetch (saves %.3fs)", self->score);
    else
        snprintf (buf, size, "compute (saves %.3fs)", -self->score);
    return buf;
}

//  Half a second of sequential writes (the device class shows in its
//  write rate: HDD ~ 100 MB/s, NVMe ~ GB/s), at least 4 MiB, at most
//  1 GiB and an eighth of available RAM; whole rows, at least one.
uint64_t
irh_fncost_etl_buffer_bytes (const irh_fncost_cap_t *cap, uint64_t row_bytes)
{
    assert (cap);
    if (row_bytes == 0)
        return 0;
    double target = cap->disk_write > 0 ? cap->disk_write * 0.5 : 0;
    if (target < 4.0 * (1 << 20))
        target = 4.0 * (1 << 20);
    if (target > 1024.0 * (1 << 20))
        target = 1024.0 * (1 << 20);
    if (cap->ram_avail > 0 && target > cap->ram_avail / 8)
        target = cap->ram_avail / 8;
    uint64_t bytes = (uint64_t) target;
    uint64_t rows = bytes / row_bytes;
    return irh_fncost_sat_mul (rows ? rows : 1, row_bytes);
}

//  base_ttl scaled by t_compute / t_fetch, clamped to [0.1, 100]: results
//  that are expensive to recompute (compared to fetching them) live longer.
double
irh_fncost_suggest_ttl (const irh_fncost_cap_t *cap, irh_fncost_t cost, double base_ttl)
{
    assert (cap);
    if (!(base_ttl > 0))
        return 0;
    irh_fncost_verdict_t v = irh_fncost_verdict (cap, cost, 0, 0, true);
    //  Cannot compute here, or cannot fetch (no network: the local copy is
    //  the only one): keep it as long as allowed.
    bool keep = isinf (v.t_compute) || (double) cost.peak_mem > cap->ram_avail
             || isinf (v.t_fetch) || v.t_fetch <= 0;
    double ratio = keep ? 100 : v.t_compute / v.t_fetch;
    if (ratio < 0.1)
        ratio = 0.1;
    if (ratio > 100)
        ratio = 100;
    return base_ttl * ratio;
}

//  How many copies of this task the machine can run at once: one per
//  core, fewer if their peak memory does not fit in available RAM; 0 when
//  not even one fits.
uint32_t
irh_fncost_compute_budget (const irh_fncost_cap_t *cap, irh_fncost_t cost)
{
    assert (cap);
    uint32_t cores = cap->cores ? cap->cores : 1;
    if (cost.peak_mem == 0)
        return cores;
    double fit = floor (cap->ram_avail / (double) cost.peak_mem);
    if (fit < 0)
        fit = 0;
    return fit < cores ? (uint32_t) fit : cores;
}

void
irh_fncost_test (bool verbose)
{
    if (verbose)
        printf (" * irh_fncost: ");
    irh_fncost_t c = irh_fncost_sort (1000000, 64, 64000000);
    assert (c.flops == 200000000);
    assert (c.mem_bytes == 1280000000);
    c = irh_fncost_matmul (1000, 1000, 1000, 8000000);
    assert (c.flops == 2000000000);
    assert (c.mem_bytes == 24000000);
    assert (irh_fncost_log2_ceil (1) == 0 && irh_fncost_log2_ceil (2) == 1);
    assert (irh_fncost_log2_ceil (3) == 2 && irh_fncost_log2_ceil (1024) == 10);
    assert (irh_fncost_log2_ceil (1025) == 11 && irh_fncost_log2_ceil (UINT64_MAX) == 64);
    assert (irh_fncost_sat_add (UINT64_MAX, 1) == UINT64_MAX);
    assert (irh_fncost_sat_mul (1ULL << 32, 1ULL << 32) == UINT64_MAX);
    if (verbose)
        printf ("OK\n");
}

//  The wire record (irohds-capability, machcap.cache) as the figures the
//  verdict works with: one conversion for the actor and irohds-ctl.
void
irh_fncost_cap_from_info (const irh_machcap_info_t *info, irh_fncost_cap_t *cap)
{
    memset (cap, 0, sizeof (*cap));
    cap->flops_core = (double) info->flops_core;
    cap->flops_all = (double) info->flops_all;
    cap->mem_bw = (double) info->mem_bw;
    cap->disk_read = (double) info->disk_read;
    cap->disk_write = (double) info->disk_write;
    cap->net_bw = (double) info->net_bw;
    cap->net_latency = (double) info->net_latency_ns / 1e9;
    cap->ram_total = (double) info->ram_total;
    cap->ram_avail = (double) info->ram_avail;
    cap->cores = info->cores;
}
