/*  cmd_cap.c: "irohds-ctl cap [--remeasure]": this machine's capability
    (service "cap") and what it should do with some sample tasks, in the
    coren seed's layout; --json gives every figure with its unit.

    The verdict table is computed here with the same C model the actor and
    the Python client use (common/irh_fncost.c), from the figures the actor
    sent, so what is printed is exactly what the machine would decide.
*/
#include "ctl.h"
#include "irh_fncost.h"
#include "irh_msgs.h"
#include <inttypes.h>
#include <math.h>
#include <time.h>

//  machcap_info flags (proto/cap.def).
#define S_NIC_UNKNOWN   (1u << 0)
#define S_NO_NIC        (1u << 1)
#define S_DISK_FADVISE  (1u << 2)
#define S_FMA           (1u << 3)
#define S_TRIAD_CAPPED  (1u << 4)
#define S_CACHED        (1u << 5)
#define S_FIXED         (1u << 6)

typedef struct {
    const char *task;
    irh_fncost_t cost;
} s_sample_t;

#define MIB (1ULL << 20)

static size_t
s_samples (const irh_machcap_info_t *info, s_sample_t *out, size_t max)
{
    s_sample_t all [] = {
        { "sort 1M x 64B",        irh_fncost_sort (1000000, 64, 10 * MIB) },
        { "matmul 1k^3",          irh_fncost_matmul (1000, 1000, 1000, 10 * MIB) },
        { "matmul 8k^3",          irh_fncost_matmul (8192, 8192, 8192, 512 * MIB) },
        { "hash 1GB",             irh_fncost_hash (1024 * MIB) },
        { "scan 10GB -> 1MB",     irh_fncost_scan (10240 * MIB, MIB) },
        { "etl 10M rows x 200B",  irh_fncost_etl (10000000, 200, 100, 100 * MIB) },
        { "copy 1GB",             irh_fncost_copy (1024 * MIB) },
        { "sim 10 TFLOP -> 1MB",  irh_fncost_new (10000000000000ULL, 100000000000ULL, 1024 * MIB, MIB) },
        { "2x RAM model",         irh_fncost_new (1000000000000ULL, 1000000000000ULL,
                                                  irh_fncost_sat_mul (2, info->ram_total), 100 * MIB) },
    };
    size_t n = sizeof (all) / sizeof (all [0]);
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        out [i] = all [i];
    return n;
}

//  1234567 -> "1.2M" (decimal, for operation counts).
static char *
s_count (uint64_t value, char *buf, size_t size)
{
    const char *units = " KMGTPE";
    double v = (double) value;
    int u = 0;
    while (v >= 1000 && u < 6) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf (buf, size, "%" PRIu64, value);
    else
        snprintf (buf, size, "%.1f%c", v, units [u]);
    return buf;
}

//  Bytes in binary units with the seed's labels: 24000000 -> "22.9MB".
static char *
s_bytes (double value, char *buf, size_t size)
{
    const char *units [] = { "B", "KB", "MB", "GB", "TB", "PB", "EB" };
    int u = 0;
    while (value >= 1024 && u < 6) {
        value /= 1024;
        u++;
    }
    snprintf (buf, size, u ? "%.1f%s" : "%.0f%s", value, units [u]);
    return buf;
}

static char *
s_score (double score, char *buf, size_t size)
{
    if (isinf (score))
        snprintf (buf, size, "%s", score > 0 ? "+inf" : "-inf");
    else
        snprintf (buf, size, "%.3f", score);
    return buf;
}

static void
s_json_fig (ctl_t *ctl, const char *key, double value, const char *unit)
{
    ctl_json_key (ctl, key);
    ctl_json_open (ctl, '{');
    ctl_json_key (ctl, "value");
    ctl_json_double (ctl, value);
    ctl_json_key (ctl, "unit");
    ctl_json_str (ctl, unit);
    ctl_json_close (ctl);
}

static void
s_json_text (ctl_t *ctl, const char *key, const char *value)
{
    ctl_json_key (ctl, key);
    ctl_json_str (ctl, value);
}

static void
s_print_json (ctl_t *ctl, const irh_machcap_info_t *info, const irh_fncost_cap_t *cap)
{
    ctl_json_open (ctl, '{');
    ctl_json_key (ctl, "machine");
    ctl_json_open (ctl, '{');
    s_json_text (ctl, "cpu_model", info->cpu_model);
    s_json_fig (ctl, "cores", info->cores, "count");
    s_json_fig (ctl, "flops_core", (double) info->flops_core, "flop/s");
    s_json_fig (ctl, "flops_all", (double) info->flops_all, "flop/s");
    s_json_fig (ctl, "mem_bw", (double) info->mem_bw, "B/s");
    s_json_fig (ctl, "disk_read", (double) info->disk_read, "B/s");
    s_json_fig (ctl, "disk_write", (double) info->disk_write, "B/s");
    s_json_fig (ctl, "net_bw", (double) info->net_bw, "B/s");
    s_json_fig (ctl, "net_latency", (double) info->net_latency_ns / 1e9, "s");
    s_json_text (ctl, "nic", info->nic);
    ctl_json_key (ctl, "nic_unknown");
    ctl_json_bool (ctl, info->flags & S_NIC_UNKNOWN);
    ctl_json_key (ctl, "no_nic");
    ctl_json_bool (ctl, info->flags & S_NO_NIC);
    s_json_fig (ctl, "ram_total", (double) info->ram_total, "B");
    s_json_fig (ctl, "ram_avail", (double) info->ram_avail, "B");
    s_json_fig (ctl, "load1", info->load1_milli / 1000.0, "");
    s_json_fig (ctl, "cpu_idle", info->cpu_idle_ppm / 1e6, "fraction");
    s_json_fig (ctl, "gpu_count", info->gpu_count, "count");
    s_json_text (ctl, "gpu_model", info->gpu_model);
    s_json_fig (ctl, "gpu_mem_total", (double) info->gpu_mem_total, "B");
    s_json_fig (ctl, "gpu_mem_free", (double) info->gpu_mem_free, "B");
    char hex [24];
    snprintf (hex, sizeof (hex), "%016" PRIx64, info->fingerprint);
    s_json_text (ctl, "fingerprint", hex);
    s_json_fig (ctl, "measured_at", info->measured_ms / 1e3, "s since epoch");
    s_json_fig (ctl, "measure_wall", info->measure_wall_us / 1e6, "s");
    s_json_fig (ctl, "live_at", info->live_ms / 1e3, "s since epoch");
    ctl_json_key (ctl, "cached");
    ctl_json_bool (ctl, info->flags & S_CACHED);
    ctl_json_key (ctl, "fixed");
    ctl_json_bool (ctl, info->flags & S_FIXED);
    ctl_json_key (ctl, "fma");
    ctl_json_bool (ctl, info->flags & S_FMA);
    ctl_json_key (ctl, "disk_fadvise");
    ctl_json_bool (ctl, info->flags & S_DISK_FADVISE);
    ctl_json_key (ctl, "triad_capped");
    ctl_json_bool (ctl, info->flags & S_TRIAD_CAPPED);
    s_json_fig (ctl, "cache_corrupt", info->cache_corrupt, "count");
    s_json_fig (ctl, "bad_requests", info->bad_requests, "count");
    ctl_json_close (ctl);

    ctl_json_key (ctl, "verdicts");
    ctl_json_open (ctl, '[');
    s_sample_t samples [16];
    size_t n = s_samples (info, samples, 16);
    for (size_t i = 0; i < n; i++) {
        irh_fncost_verdict_t v = irh_fncost_verdict (cap, samples [i].cost, 0, 0, true);
        char text [64];
        irh_fncost_verdict_format (&v, text, sizeof (text));
        ctl_json_open (ctl, '{');
        s_json_text (ctl, "task", samples [i].task);
        s_json_fig (ctl, "flops", (double) samples [i].cost.flops, "flop");
        s_json_fig (ctl, "mem_bytes", (double) samples [i].cost.mem_bytes, "B");
        s_json_fig (ctl, "peak_mem", (double) samples [i].cost.peak_mem, "B");
        s_json_fig (ctl, "result_bytes", (double) samples [i].cost.result_bytes, "B");
        s_json_fig (ctl, "t_compute", v.t_compute, "s");
        s_json_fig (ctl, "t_fetch", v.t_fetch, "s");
        s_json_fig (ctl, "t_store", v.t_store, "s");
        s_json_fig (ctl, "score", v.score, "s");
        s_json_text (ctl, "bottleneck", irh_fncost_neck_name (v.bottleneck));
        s_json_text (ctl, "action", v.score > 0 ? "fetch" : "compute");
        s_json_text (ctl, "verdict", text);
        ctl_json_close (ctl);
    }
    ctl_json_close (ctl);
    ctl_json_close (ctl);
    ctl_json_end (ctl);
}

static void
s_print_text (const irh_machcap_info_t *info, const irh_fncost_cap_t *cap)
{
    char a [32], b [32], c [32], d [32];
    time_t when = (time_t) (info->measured_ms / 1000);
    struct tm tm;
    char stamp [32] = "?";
    if (localtime_r (&when, &tm))
        strftime (stamp, sizeof (stamp), "%Y-%m-%d %H:%M", &tm);
    printf ("irohds cap  [%s]\n", info->cpu_model);
    printf ("  measured   %s in %.2f s%s, fingerprint %016" PRIx64 "\n", stamp,
            info->measure_wall_us / 1e6, info->flags & S_FIXED ? " (fixed profile, nothing measured)"
            : info->flags & S_CACHED ? " (from cache)" : "",
            info->fingerprint);
    printf ("  compute    %.1f GFLOP/s per core, %.1f GFLOP/s on %u cores%s\n",
            info->flops_core / 1e9, info->flops_all / 1e9, info->cores,
            info->flags & S_FMA ? " (FMA)" : "");
    printf ("  memory     %.1f GB/s STREAM triad%s\n", info->mem_bw / 1e9,
            info->flags & S_TRIAD_CAPPED ? " (arrays capped below 4x LLC)" : "");
    printf ("  disk       %.0f MB/s read, %.0f MB/s write%s\n", info->disk_read / 1e6,
            info->disk_write / 1e6, info->flags & S_DISK_FADVISE ? " (no O_DIRECT)" : "");
    if (info->flags & S_NO_NIC)
        printf ("  network    none\n");
    else
    if (info->flags & S_NIC_UNKNOWN)
        printf ("  network    %.1f MB/s (default: link speed unknown), latency %.1f ms\n",
                info->net_bw / 1e6, info->net_latency_ns / 1e6);
    else
        printf ("  network    %.1f MB/s on %s, latency %.1f ms\n", info->net_bw / 1e6,
                info->nic, info->net_latency_ns / 1e6);
    printf ("  RAM        %s available of %s\n", s_bytes ((double) info->ram_avail, a, sizeof (a)),
            s_bytes ((double) info->ram_total, b, sizeof (b)));
    printf ("  load       %.2f, CPU idle %.1f%%\n", info->load1_milli / 1000.0,
            info->cpu_idle_ppm / 1e4);
    if (info->gpu_count)
        printf ("  GPU        %u x %s, %s free of %s\n", info->gpu_count, info->gpu_model,
                s_bytes ((double) info->gpu_mem_free, a, sizeof (a)),
                s_bytes ((double) info->gpu_mem_total, b, sizeof (b)));
    else
        printf ("  GPU        none\n");
    printf ("  verdicts (what should this machine do?)\n");
    printf ("    %-24s %9s %9s %9s %8s %10s %s\n", "task", "W", "Q", "R", "score", "neck",
            "action");
    s_sample_t samples [16];
    size_t n = s_samples (info, samples, 16);
    for (size_t i = 0; i < n; i++) {
        irh_fncost_verdict_t v = irh_fncost_verdict (cap, samples [i].cost, 0, 0, true);
        printf ("    %-24s %9s %9s %9s %8s %10s %s\n", samples [i].task,
                s_count (samples [i].cost.flops, a, sizeof (a)),
                s_bytes ((double) samples [i].cost.mem_bytes, b, sizeof (b)),
                s_bytes ((double) samples [i].cost.result_bytes, c, sizeof (c)),
                s_score (v.score, d, sizeof (d)), irh_fncost_neck_name (v.bottleneck),
                v.score > 0 ? "fetch" : "compute");
    }
}

int
ctl_cmd_cap (ctl_t *ctl, int argc, char **argv)
{
    bool remeasure = false;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--remeasure"))
            remeasure = true;
        else
            return ctl_usage (ctl, "cap: unknown argument %s (usage: cap [--remeasure])",
                              argv [i]);
    }
    zframe_t *frame;
    if (remeasure) {
        irh_remeasure_t request = { 0 };
        frame = irh_remeasure_encode (&request);
        //  A measurement takes ~2 s, many more on a loaded machine.
        if (ctl->timeout_ms < 60000)
            ctl->timeout_ms = 60000;
    }
    else {
        irh_machcap_t request = { 0 };
        frame = irh_machcap_encode (&request);
        //  The actor holds machcap for up to 8 s while it takes its first
        //  measurement, then answers with what it has (or `measuring`).
        if (ctl->timeout_ms < 15000)
            ctl->timeout_ms = 15000;
    }
    zframe_t *body = NULL;
    int rc = ctl_call_message (ctl, "cap", &frame, &body);
    if (rc)
        return rc;
    irh_machcap_info_t info;
    rc = irh_machcap_info_decode (body, &info);
    zframe_destroy (&body);
    if (rc)
        return ctl_fail (ctl, "cap: bad reply: %s", irh_msgs_error ());
    irh_fncost_cap_t cap;
    irh_fncost_cap_from_info (&info, &cap);
    if (ctl->json)
        s_print_json (ctl, &info, &cap);
    else
        s_print_text (&info, &cap);
    return CTL_EXIT_OK;
}
