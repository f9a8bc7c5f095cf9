/*  cap_sys.c: what the OS tells us about this machine: RAM (/proc/meminfo),
    load (/proc/loadavg), CPU idle (/proc/stat deltas), cores, CPU model
    (/proc/cpuinfo), NIC link speed (/sys/class/net) and GPUs (NVML, loaded
    with dlopen only when present). Every reader treats the files as
    outside input: a missing or odd file gives a zero figure, never a crash.
*/
#include "cap.h"
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Copy src into dst (size bytes, NUL-terminated), keeping printable ASCII
//  only: the text goes into a str field of the wire record.
static void
s_copy_printable (char *dst, size_t size, const char *src)
{
    if (size == 0)
        return;
    size_t j = 0;
    for (size_t i = 0; src [i] && j + 1 < size; i++)
        if (src [i] >= 0x20 && src [i] < 0x7f)
            dst [j++] = src [i];
    dst [j] = 0;
}

int
cap_sys_meminfo (uint64_t *total, uint64_t *avail)
{
    *total = *avail = 0;
    FILE *f = fopen ("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line [256];
    while (fgets (line, sizeof (line), f)) {
        unsigned long long kib;
        if (sscanf (line, "MemTotal: %llu kB", &kib) == 1)
            *total = (uint64_t) kib * 1024;
        else
        if (sscanf (line, "MemAvailable: %llu kB", &kib) == 1)
            *avail = (uint64_t) kib * 1024;
    }
    fclose (f);
    return *total ? 0 : -1;
}

int
cap_sys_loadavg (uint32_t *load1_milli)
{
    *load1_milli = 0;
    FILE *f = fopen ("/proc/loadavg", "r");
    if (!f)
        return -1;
    double load = 0;
    int ok = fscanf (f, "%lf", &load);
    fclose (f);
    if (ok != 1 || !(load >= 0) || load > 4e6)
        return -1;
    *load1_milli = (uint32_t) (load * 1000 + 0.5);
    return 0;
}

int
cap_sys_cpu_idle (cap_cpu_sample_t *prev, uint32_t *idle_ppm)
{
    FILE *f = fopen ("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v [10] = { 0 };
    int n = fscanf (f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
                    &v [0], &v [1], &v [2], &v [3], &v [4], &v [5], &v [6], &v [7], &v [8], &v [9]);
    fclose (f);
    if (n < 4)
        return -1;
    //  guest time (8, 9) is already counted in user time: leave it out.
    uint64_t total = 0;
    for (int i = 0; i < 8 && i < n; i++)
        total += v [i];
    uint64_t idle = v [3] + (n > 4 ? v [4] : 0);      //  idle + iowait
    cap_cpu_sample_t now = { idle, total };
    int rc = -1;
    if (prev->total && total > prev->total && idle >= prev->idle) {
        uint64_t d_total = total - prev->total;
        uint64_t d_idle = idle - prev->idle;
        if (d_idle > d_total)
            d_idle = d_total;
        *idle_ppm = (uint32_t) (d_idle * 1000000 / d_total);
        rc = 0;
    }
    *prev = now;
    return rc;
}

uint32_t
cap_sys_cores (void)
{
    long n = sysconf (_SC_NPROCESSORS_ONLN);
    return n > 0 ? (uint32_t) n : 1;
}

void
cap_sys_cpu_model (char *buf, size_t size)
{
    snprintf (buf, size, "unknown");
    FILE *f = fopen ("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line [512];
    while (fgets (line, sizeof (line), f)) {
        //  x86: "model name", arm64: often only "CPU part"; take the first.
        if (strncmp (line, "model name", 10) == 0 || strncmp (line, "Processor", 9) == 0
        ||  strncmp (line, "cpu model", 9) == 0) {
            char *colon = strchr (line, ':');
            if (!colon)
                continue;
            char *value = colon + 1;
            while (*value == ' ' || *value == '\t')
                value++;
            value [strcspn (value, "\n")] = 0;
            s_copy_printable (buf, size, value);
            break;
        }
    }
    fclose (f);
}

static long
s_read_long (const char *path, long dflt)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return dflt;
    long value;
    if (fscanf (f, "%ld", &value) != 1)
        value = dflt;
    fclose (f);
    return value;
}

uint64_t
cap_sys_nic (char *name, size_t size, bool *unknown, bool *none, char *names_out,
             size_t names_size)
{
    *unknown = false;
    *none = true;
    if (size)
        name [0] = 0;
    if (names_out && names_size)
        names_out [0] = 0;
    DIR *dir = opendir ("/sys/class/net");
    if (!dir)
        return (*unknown = true), CAP_DEFAULT_NET_BW;
    //  Sorted walk is not needed for the figure, but the fingerprint text
    //  must not depend on readdir order: collect, then sort.
    char names [64][64];
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) && count < 64) {
        if (entry->d_name [0] == '.' || strcmp (entry->d_name, "lo") == 0)
            continue;
        if (strlen (entry->d_name) >= 64)
            continue;                       //  not a real interface name
        memcpy (names [count++], entry->d_name, strlen (entry->d_name) + 1);
    }
    closedir (dir);
    qsort (names, (size_t) count, 64, (int (*)(const void *, const void *)) strcmp);
    long best = 0;
    for (int i = 0; i < count; i++) {
        char path [160];
        *none = false;                      //  some interface besides lo
        //  Physical NICs have a device link; virtual ones (bridges, veth,
        //  ifb, tunnels) come and go and would churn the fingerprint.
        if (snprintf (path, sizeof (path), "/sys/class/net/%s/device", names [i])
            >= (int) sizeof (path) || access (path, F_OK) != 0)
            continue;
        long mbit = -1;
        if (snprintf (path, sizeof (path), "/sys/class/net/%s/speed", names [i])
            < (int) sizeof (path))
            mbit = s_read_long (path, -1);
        if (names_out) {
            size_t used = strlen (names_out);
            snprintf (names_out + used, names_size - used, "%s:%ld,", names [i], mbit);
        }
        if (mbit > best && mbit < 10000000) {
            best = mbit;
            if (snprintf (name, size, "%s", names [i]) >= (int) size && size)
                name [size - 1] = 0;
        }
    }
    if (*none)
        return 0;
    if (best <= 0) {
        *unknown = true;
        return CAP_DEFAULT_NET_BW;
    }
    return (uint64_t) best * 1000000 / 8;
}

//  NVML, declared here so no NVIDIA header is needed to build.
typedef struct { unsigned long long total, free, used; } s_nvml_memory_t;
typedef int (*s_nvml_init_fn) (void);
typedef int (*s_nvml_count_fn) (unsigned int *);
typedef int (*s_nvml_handle_fn) (unsigned int, void **);
typedef int (*s_nvml_name_fn) (void *, char *, unsigned int);
typedef int (*s_nvml_memory_fn) (void *, s_nvml_memory_t *);

void
cap_sys_gpu (uint32_t *count, char *model, size_t size, uint64_t *mem_total, uint64_t *mem_free)
{
    *count = 0;
    *mem_total = *mem_free = 0;
    if (size)
        model [0] = 0;
    void *lib = dlopen ("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;                             //  no NVIDIA driver: no GPU, fine
    s_nvml_init_fn init = (s_nvml_init_fn) dlsym (lib, "nvmlInit_v2");
    s_nvml_init_fn shutdown = (s_nvml_init_fn) dlsym (lib, "nvmlShutdown");
    s_nvml_count_fn get_count = (s_nvml_count_fn) dlsym (lib, "nvmlDeviceGetCount_v2");
    s_nvml_handle_fn get_handle = (s_nvml_handle_fn) dlsym (lib, "nvmlDeviceGetHandleByIndex_v2");
    s_nvml_name_fn get_name = (s_nvml_name_fn) dlsym (lib, "nvmlDeviceGetName");
    s_nvml_memory_fn get_memory = (s_nvml_memory_fn) dlsym (lib, "nvmlDeviceGetMemoryInfo");
    if (init && shutdown && get_count && get_handle && get_name && get_memory && init () == 0) {
        unsigned int n = 0;
        void *device = NULL;
        if (get_count (&n) == 0 && n > 0 && get_handle (0, &device) == 0) {
            *count = n;
            char text [96] = "";
            if (get_name (device, text, sizeof (text)) == 0) {
                text [sizeof (text) - 1] = 0;
                s_copy_printable (model, size, text);
            }
            s_nvml_memory_t memory;
            if (get_memory (device, &memory) == 0) {
                *mem_total = memory.total;
                *mem_free = memory.free;
            }
        }
        shutdown ();
    }
    dlclose (lib);
}
