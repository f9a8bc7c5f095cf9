/*  cap_measure.c: one full MachCap measurement (at most ~2 s), the fixed
    profile for test nodes, the hardware fingerprint, live figures, and the
    cache file <home>/machcap.cache (a machcap_cache record of proto/cap.def).
*/
#include "cap.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  Time budgets (seconds) of the parts; the sum stays well under 2 s.
#define S_FLOPS_ONE_S   0.12
#define S_FLOPS_ALL_S   0.12
#define S_MEM_S         0.7     //  more passes: a shared machine steals some
#define S_DISK_S        0.4
#define S_TOTAL_S       1.9     //  target for the whole measurement
//  Triad arrays: at most this many bytes in total (and a quarter of RAM).
#define S_MEM_MAX       (512ULL << 20)

uint64_t
cap_fingerprint (const char *home)
{
    char cpu [128];
    cap_sys_cpu_model (cpu, sizeof (cpu));
    uint64_t ram_total, ram_avail;
    cap_sys_meminfo (&ram_total, &ram_avail);
    //  RAM total moves by a few pages across boots on some kernels: round
    //  to 64 MiB so that does not count as new hardware.
    ram_total = (ram_total + (32ULL << 20)) >> 26;
    struct stat st;
    unsigned long long device = 0;
    if (home && stat (home, &st) == 0)
        device = (unsigned long long) st.st_dev;
    char nic [64], nics [1024];
    bool unknown, none;
    cap_sys_nic (nic, sizeof (nic), &unknown, &none, nics, sizeof (nics));
    char text [1400];
    int len = snprintf (text, sizeof (text), "cpu=%s;cores=%u;ram64m=%llu;dev=%llu;nic=%s",
                        cpu, cap_sys_cores (), (unsigned long long) ram_total, device, nics);
    if (len < 0)
        len = 0;
    if ((size_t) len >= sizeof (text))
        len = sizeof (text) - 1;
    return irh_xxh64 (text, (size_t) len, CAP_CACHE_SEED);
}

void
cap_measure_live (irh_machcap_info_t *info, cap_cpu_sample_t *cpu)
{
    uint64_t total, avail;
    if (cap_sys_meminfo (&total, &avail) == 0) {
        info->ram_total = total;
        info->ram_avail = avail;
    }
    cap_sys_loadavg (&info->load1_milli);
    uint32_t idle;
    if (cpu && cap_sys_cpu_idle (cpu, &idle) == 0)
        info->cpu_idle_ppm = idle;
    if (info->gpu_count) {
        uint32_t count;
        uint64_t mem_total, mem_free;
        char model [IRH_MACHCAP_INFO_GPU_MODEL_MAX + 1];
        cap_sys_gpu (&count, model, sizeof (model), &mem_total, &mem_free);
        if (count)
            info->gpu_mem_free = mem_free;
    }
    info->live_ms = (uint64_t) zclock_time ();
}

void
cap_measure_all (const char *home, irh_machcap_info_t *info)
{
    double start = cap_now ();
    memset (info, 0, sizeof (*info));
    info->cores = cap_sys_cores ();
    cap_sys_cpu_model (info->cpu_model, sizeof (info->cpu_model));
    cap_sys_meminfo (&info->ram_total, &info->ram_avail);
    cap_sys_loadavg (&info->load1_milli);

    bool fma = false;
    info->flops_core = (uint64_t) cap_flops_measure (1, S_FLOPS_ONE_S, &fma);
    info->flops_all = (uint64_t) cap_flops_measure ((int) info->cores, S_FLOPS_ALL_S, NULL);
    //  On a loaded machine the all-cores run can come out below one core:
    //  the machine can always do at least what one core does.
    if (info->flops_all < info->flops_core)
        info->flops_all = info->flops_core;
    if (fma)
        info->flags |= CAP_FLAG_FMA;
    double t_flops = cap_now ();
    if (zsys_interrupted)
        return;                 //  the actor is stopping: these figures go unused

    uint64_t mem_max = S_MEM_MAX;
    if (info->ram_avail && mem_max > info->ram_avail / 4)
        mem_max = info->ram_avail / 4;
    //  Phases that come late shrink when earlier ones ran long (a loaded
    //  machine), so the whole stays near S_TOTAL_S; each keeps a minimum
    //  that still gives a usable figure.
    double mem_s = S_TOTAL_S - (cap_now () - start) - S_DISK_S - 0.35;
    if (mem_s > S_MEM_S)
        mem_s = S_MEM_S;
    if (mem_s < 0.05)
        mem_s = 0.05;
    bool capped = false;
    info->mem_bw = (uint64_t) cap_mem_measure ((int) info->cores, mem_s, mem_max, &capped);
    if (capped)
        info->flags |= CAP_FLAG_TRIAD_CAPPED;
    double t_mem = cap_now ();
    if (zsys_interrupted)
        return;

    double rd = 0, wr = 0;
    bool fadvise = false;
    double disk_s = S_TOTAL_S - (cap_now () - start);
    if (disk_s > S_DISK_S)
        disk_s = S_DISK_S;
    if (disk_s < 0.1)
        disk_s = 0.1;
    if (cap_disk_measure (home, disk_s, &rd, &wr, &fadvise) != 0)
        irh_warn ("disk measurement in %s failed: rates unknown", home);
    info->disk_read = (uint64_t) rd;
    info->disk_write = (uint64_t) wr;
    if (fadvise)
        info->flags |= CAP_FLAG_DISK_FADVISE;
    double t_disk = cap_now ();

    bool unknown = false, none = false;
    info->net_bw = cap_sys_nic (info->nic, sizeof (info->nic), &unknown, &none, NULL, 0);
    if (unknown)
        info->flags |= CAP_FLAG_NIC_UNKNOWN;
    if (none)
        info->flags |= CAP_FLAG_NO_NIC;
    info->net_latency_ns = CAP_DEFAULT_LATENCY_NS;

    cap_sys_gpu (&info->gpu_count, info->gpu_model, sizeof (info->gpu_model),
                 &info->gpu_mem_total, &info->gpu_mem_free);
    info->fingerprint = cap_fingerprint (home);
    info->measured_ms = (uint64_t) zclock_time ();
    info->live_ms = info->measured_ms;
    info->measure_wall_us = (uint64_t) ((cap_now () - start) * 1e6);
    irh_debug ("measurement: flops %.0f ms, memory %.0f ms, disk %.0f ms, rest %.0f ms",
               (t_flops - start) * 1e3, (t_mem - t_flops) * 1e3, (t_disk - t_mem) * 1e3,
               (cap_now () - t_disk) * 1e3);
}

void
cap_measure_fixed (const char *home, irh_machcap_info_t *info)
{
    memset (info, 0, sizeof (*info));
    info->cores = cap_sys_cores ();
    cap_sys_cpu_model (info->cpu_model, sizeof (info->cpu_model));
    cap_sys_meminfo (&info->ram_total, &info->ram_avail);
    cap_sys_loadavg (&info->load1_milli);
    info->flops_core = CAP_FIXED_FLOPS_CORE;
    info->flops_all = CAP_FIXED_FLOPS_ALL;
    info->mem_bw = CAP_FIXED_MEM_BW;
    info->disk_read = CAP_FIXED_DISK_BW;
    info->disk_write = CAP_FIXED_DISK_BW;
    info->net_bw = CAP_DEFAULT_NET_BW;
    info->net_latency_ns = CAP_DEFAULT_LATENCY_NS;
    snprintf (info->nic, sizeof (info->nic), "%s", CAP_FIXED_NIC);
    info->flags = CAP_FLAG_FIXED;
    info->fingerprint = cap_fingerprint (home);
    info->measured_ms = (uint64_t) zclock_time ();
    info->live_ms = info->measured_ms;
}

int
cap_cache_load (const char *path, uint64_t fingerprint, irh_machcap_info_t *info, bool *corrupt)
{
    *corrupt = false;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    //  A valid file is well under 8 KiB; anything larger is corrupt.
    uint8_t buf [8192];
    ssize_t size = read (fd, buf, sizeof (buf));
    close (fd);
    irh_machcap_cache_t cache;
    if (size <= 0 || size == (ssize_t) sizeof (buf)
    ||  irh_machcap_cache_decode_buf (buf, (size_t) size, &cache) != 0) {
        *corrupt = true;
        return -1;
    }
    if (cache.format != CAP_CACHE_FORMAT
    ||  irh_xxh64 (cache.record, cache.record_size, CAP_CACHE_SEED) != cache.checksum
    ||  irh_machcap_info_decode_buf (cache.record, cache.record_size, info) != 0
    ||  info->fingerprint != cache.fingerprint) {
        *corrupt = true;
        return -1;
    }
    if (cache.fingerprint != fingerprint)
        return 1;                           //  other hardware: measure again
    return 0;
}

int
cap_cache_save (const char *path, const irh_machcap_info_t *info)
{
    uint8_t record [4096];
    size_t record_size = irh_machcap_info_encode_buf (info, record, sizeof (record));
    if (record_size == 0)
        return -1;
    irh_machcap_cache_t cache;
    memset (&cache, 0, sizeof (cache));
    cache.format = CAP_CACHE_FORMAT;
    cache.fingerprint = info->fingerprint;
    cache.record = record;
    cache.record_size = record_size;
    cache.checksum = irh_xxh64 (record, record_size, CAP_CACHE_SEED);
    uint8_t buf [8192];
    size_t size = irh_machcap_cache_encode_buf (&cache, buf, sizeof (buf));
    if (size == 0)
        return -1;
    char tmp [4200];
    if (snprintf (tmp, sizeof (tmp), "%s.tmp.%d", path, (int) getpid ()) >= (int) sizeof (tmp))
        return -1;
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    bool ok = write (fd, buf, size) == (ssize_t) size && fsync (fd) == 0;
    close (fd);
    if (!ok || rename (tmp, path) != 0) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

