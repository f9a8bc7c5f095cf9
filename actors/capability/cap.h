/*  cap.h: the inside of irohds-capability, which measures what this
    machine can do (MachCap, docs/coren.md) and answers the "cap" service.

    Modules:
      cap_flops.c   peak FLOP/s from an FMA loop (one core, all cores)
      cap_mem.c     memory bandwidth from a STREAM triad
      cap_disk.c    sequential disk read/write on the home filesystem
      cap_sys.c     OS figures: RAM, cores, load, CPU idle, CPU model, NIC, GPU
      cap_measure.c all of it together, the hardware fingerprint, the cache file
      cap_main.c    the actor: service loop, background measurement, live refresh
*/
#ifndef CAP_H_INCLUDED
#define CAP_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "irh_msgs.h"
#include "irh_fncost.h"

//  Flags of machcap_info (proto/cap.def).
#define CAP_FLAG_NIC_UNKNOWN   (1u << 0)
#define CAP_FLAG_NO_NIC        (1u << 1)
#define CAP_FLAG_DISK_FADVISE  (1u << 2)
#define CAP_FLAG_FMA           (1u << 3)
#define CAP_FLAG_TRIAD_CAPPED  (1u << 4)
#define CAP_FLAG_CACHED        (1u << 5)
#define CAP_FLAG_FIXED         (1u << 6)   //  the fixed profile, nothing measured

//  Used when no NIC reports a speed: 100 Mbit/s, conservative on purpose
//  (a verdict then leans towards computing locally).
#define CAP_DEFAULT_NET_BW     12500000ULL
//  Default round trip assumed for a peer until transfers teach better.
#define CAP_DEFAULT_LATENCY_NS 1000000ULL

//  The fixed profile (cap.profile = "fixed", docs/coren.md): figures of a
//  modest machine, the same as the Python client's defaults, so test nodes
//  start without measuring and all decide alike.
#define CAP_FIXED_FLOPS_CORE   5000000000ULL       //  5 GFLOP/s
#define CAP_FIXED_FLOPS_ALL    10000000000ULL      //  10 GFLOP/s
#define CAP_FIXED_MEM_BW       5000000000ULL       //  5 GB/s
#define CAP_FIXED_DISK_BW      100000000ULL        //  100 MB/s read and write
#define CAP_FIXED_NIC          "fixed"             //  nic name shown for the fixed figure

//  Checksum seed of the cache file ("coren").
#define CAP_CACHE_SEED         0x636f72656eULL
#define CAP_CACHE_FORMAT       1

//  Monotonic seconds.
double cap_now (void);

//  cap_flops.c: flop/s over about budget_s seconds, on one thread or on
//  threads threads at once (summed). *fma_out tells which kernel ran.
double cap_flops_measure (int threads, double budget_s, bool *fma_out);

//  cap_mem.c: STREAM triad bandwidth (bytes/s) with threads threads,
//  arrays sized from the LLC (at least 4x) within max_bytes total;
//  *capped_out when max_bytes kept the arrays below 4x LLC.
double cap_mem_measure (int threads, double budget_s, uint64_t max_bytes, bool *capped_out);
//  Last-level cache size in bytes (0 if unknown).
uint64_t cap_mem_llc_bytes (void);

//  cap_disk.c: sequential write (fsync'd) then read of a temp file in dir.
//  Returns 0, or -1 if the directory cannot be written (rates left 0).
int cap_disk_measure (const char *dir, double budget_s, double *read_bps, double *write_bps,
                      bool *fadvise_out);

//  cap_sys.c
int cap_sys_meminfo (uint64_t *total, uint64_t *avail);
int cap_sys_loadavg (uint32_t *load1_milli);
//  CPU idle between two calls; call once to prime (returns -1 then).
typedef struct { uint64_t idle, total; } cap_cpu_sample_t;
int cap_sys_cpu_idle (cap_cpu_sample_t *prev, uint32_t *idle_ppm);
uint32_t cap_sys_cores (void);
void cap_sys_cpu_model (char *buf, size_t size);
//  Fastest NIC link (bytes/s) over /sys/class/net (lo and virtual ones
//  without a speed ignored). Fills name; *unknown when none reported a
//  speed (rate = CAP_DEFAULT_NET_BW), *none when no NIC at all.
//  names_out (may be NULL) gets "name:speed,..." for the fingerprint.
uint64_t cap_sys_nic (char *name, size_t size, bool *unknown, bool *none,
                      char *names_out, size_t names_size);
//  GPU via NVML (dlopen); 0 GPUs when the library is absent.
void cap_sys_gpu (uint32_t *count, char *model, size_t size, uint64_t *mem_total,
                  uint64_t *mem_free);

//  cap_measure.c
//  Hardware fingerprint: CPU model, cores, RAM total, home fs device, NICs.
uint64_t cap_fingerprint (const char *home);
//  Measure everything (<= ~2 s) into info; cut short (info partial, to be
//  discarded) once zsys_interrupted is set, so a stopping actor exits soon.
void cap_measure_all (const char *home, irh_machcap_info_t *info);
//  The fixed profile into info: CAP_FIXED_* figures, the default network,
//  real cores, CPU model, RAM and fingerprint (all cheap), no GPU probe.
void cap_measure_fixed (const char *home, irh_machcap_info_t *info);
//  Refresh the live figures (RAM available, load, CPU idle, GPU free).
void cap_measure_live (irh_machcap_info_t *info, cap_cpu_sample_t *cpu);
//  Cache file: 0 and info filled when path holds a valid record for
//  fingerprint; 1 and info filled when the record is valid but was made
//  on other hardware (the previous profile, until a new measurement);
//  -1 when missing or corrupt (*corrupt set, so the caller can count and
//  log it).
int cap_cache_load (const char *path, uint64_t fingerprint, irh_machcap_info_t *info,
                    bool *corrupt);
//  Write atomically (temp file + rename). 0/-1.
int cap_cache_save (const char *path, const irh_machcap_info_t *info);

#endif
