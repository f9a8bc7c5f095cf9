/*  irh_fncost.h: the coren capability model in C (DESIGN §6, docs/coren.md).

    FnCost is four unsigned 64-bit integers describing what a function
    needs: flops W, memory traffic Q, peak memory M, result bytes R. All
    FnCost arithmetic is integer-only and SATURATES at 2^64-1, so every
    machine (and the Python twin in irohds/coren.py) computes bit-identical
    costs; a cost is published with a cached result and every node decides
    independently.

    MachCap is what this machine can do (measured by irohds-capability);
    a Verdict combines both: fetch from a peer, or compute here. Verdict
    math is floating point and local, so it need not be bit-identical.

    The functions are exported from libirohds so the Python tests can
    compare both implementations through ctypes.
*/
#ifndef IRH_FNCOST_H_INCLUDED
#define IRH_FNCOST_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "irh_msgs.h"

typedef struct {
    uint64_t flops;          //  W: arithmetic operations
    uint64_t mem_bytes;      //  Q: memory traffic, cold-cache model
    uint64_t peak_mem;       //  M: peak RAM footprint
    uint64_t result_bytes;   //  R: output size (what is cached / transferred)
} irh_fncost_t;

//  Saturating helpers (exported so both languages test the same edges).
uint64_t irh_fncost_sat_add (uint64_t a, uint64_t b);
uint64_t irh_fncost_sat_mul (uint64_t a, uint64_t b);
//  ceil(log2 n), integer only; 0 for n <= 1.
uint64_t irh_fncost_log2_ceil (uint64_t n);

//  Constructors; formulas in docs/coren.md.
irh_fncost_t irh_fncost_new (uint64_t flops, uint64_t mem_bytes, uint64_t peak_mem,
                             uint64_t result_bytes);
irh_fncost_t irh_fncost_scan (uint64_t n_bytes, uint64_t result_bytes);
irh_fncost_t irh_fncost_sort (uint64_t n, uint64_t item_bytes, uint64_t result_bytes);
irh_fncost_t irh_fncost_hash (uint64_t n_bytes);
irh_fncost_t irh_fncost_matmul (uint64_t m, uint64_t n, uint64_t k, uint64_t result_bytes);
irh_fncost_t irh_fncost_etl (uint64_t rows, uint64_t row_bytes, uint64_t flops_per_row,
                             uint64_t result_bytes);
irh_fncost_t irh_fncost_copy (uint64_t size);
//  Combinators.
irh_fncost_t irh_fncost_then (irh_fncost_t a, irh_fncost_t b);
irh_fncost_t irh_fncost_par (irh_fncost_t a, irh_fncost_t b);
irh_fncost_t irh_fncost_repeat (irh_fncost_t a, uint64_t k);
bool irh_fncost_eq (irh_fncost_t a, irh_fncost_t b);

//  What a machine can do, in SI units (per second, bytes). A zero rate
//  means "not available" (e.g. net_bw 0: no network).
typedef struct {
    double flops_core;       //  flop/s, one core
    double flops_all;        //  flop/s, all cores
    double mem_bw;           //  bytes/s, STREAM triad
    double disk_read;        //  bytes/s, sequential, uncached
    double disk_write;       //  bytes/s, sequential, fsync'd
    double net_bw;           //  bytes/s, NIC link speed (or default)
    double net_latency;      //  seconds, default round trip to a peer
    double ram_total;        //  bytes
    double ram_avail;        //  bytes
    uint32_t cores;
} irh_fncost_cap_t;

typedef enum {
    IRH_NECK_COMPUTE = 0, IRH_NECK_MEMORY, IRH_NECK_NETWORK, IRH_NECK_DISK
} irh_fncost_neck_t;

typedef struct {
    double t_compute;        //  s, roofline: max (W/flops_all, Q/mem_bw)
    double t_fetch;          //  s, latency + R/bandwidth
    double t_store;          //  s, R/disk_write
    double score;            //  t_compute - t_fetch; > 0: fetch wins
    irh_fncost_neck_t bottleneck;
} irh_fncost_verdict_t;

//  Optional peer figures for a verdict: bandwidth (bytes/s) and latency (s)
//  learned from real transfers; <= 0 means "use the machine's NIC figure".
//  has_holder false: nobody holds the result (score -inf).
irh_fncost_verdict_t irh_fncost_verdict (const irh_fncost_cap_t *cap, irh_fncost_t cost,
                           double peer_bw, double peer_latency, bool has_holder);
//  "compute" / "memory" / "network" / "disk".
const char *irh_fncost_neck_name (irh_fncost_neck_t neck);
//  Seed format: "compute (saves 0.712s)" / "fetch (saves 1.234s)" and
//  "fetch (must: not enough RAM)" / "compute (must: no holder)".
char *irh_fncost_verdict_format (const irh_fncost_verdict_t *self, char *buf, size_t size);

//  Helpers from the coren seed (definitions in docs/coren.md).
uint64_t irh_fncost_etl_buffer_bytes (const irh_fncost_cap_t *cap, uint64_t row_bytes);
double irh_fncost_suggest_ttl (const irh_fncost_cap_t *cap, irh_fncost_t cost, double base_ttl);
uint32_t irh_fncost_compute_budget (const irh_fncost_cap_t *cap, irh_fncost_t cost);

void irh_fncost_test (bool verbose);

//  Fill a MachCap from the capability actor's record (units per cap.def).
void irh_fncost_cap_from_info (const irh_machcap_info_t *info, irh_fncost_cap_t *cap);

#endif
