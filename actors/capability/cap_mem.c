/*  cap_mem.c: memory bandwidth from a STREAM triad, a[i] = b[i] + s*c[i].

    Each thread owns a slice of the three arrays and touches it first, so
    its pages are local to it; the calling thread only times. Passes are
    synchronised with a barrier and timed as a whole; the best pass counts, 24 bytes per element (STREAM's
    convention: two reads and one write, write-allocate not counted).
    Arrays should be much larger than the last-level cache (4x each); when
    that would exceed max_bytes they are capped and a flag says so.
*/
#include "cap.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

uint64_t
cap_mem_llc_bytes (void)
{
    long size = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    size = sysconf (_SC_LEVEL3_CACHE_SIZE);
    if (size <= 0)
        size = sysconf (_SC_LEVEL2_CACHE_SIZE);
#endif
    if (size > 0)
        return (uint64_t) size;
    //  Fall back on sysfs: the largest cache index of cpu0.
    uint64_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path [96];
        snprintf (path, sizeof (path), "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen (path, "r");
        if (!f)
            break;
        unsigned long long value = 0;
        char unit = 0;
        if (fscanf (f, "%llu%c", &value, &unit) >= 1) {
            if (unit == 'K')
                value <<= 10;
            else
            if (unit == 'M')
                value <<= 20;
            if (value > best)
                best = value;
        }
        fclose (f);
    }
    return best;
}

typedef struct {
    double *a, *b, *c;
    size_t begin, end;
    pthread_barrier_t *barrier;
    volatile int *stop;
    //  Gate: workers wait here until the barrier exists (its count is
    //  only known once every thread that could start has started).
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    volatile int *go;
} s_slice_t;

static void
s_triad (s_slice_t *s)
{
    const double scalar = 3.0;
    double *restrict a = s->a;
    const double *restrict b = s->b;
    const double *restrict c = s->c;
    //  In blocks, so a stopping actor does not finish a pass that page
    //  faults for seconds; the inner loop stays a plain vectorised triad.
    const size_t block = 1u << 16;
    for (size_t from = s->begin; from < s->end && !zsys_interrupted; from += block) {
        size_t to = s->end - from > block ? from + block : s->end;
        for (size_t i = from; i < to; i++)
            a [i] = b [i] + scalar * c [i];
    }
}

//  First touch: the pages of a slice land near the thread that writes them.
//  Page faults make this the slow part on a loaded VM (seconds for 512
//  MiB), so it stops early when the actor is stopping (zsys_interrupted).
static void
s_first_touch (s_slice_t *s)
{
    for (size_t i = s->begin; i < s->end; i++) {
        s->a [i] = 0;
        s->b [i] = 1.0;
        s->c [i] = 2.0;
        if ((i & 0xffff) == 0 && zsys_interrupted)
            break;
    }
}

static void *
s_worker (void *arg)
{
    s_slice_t *s = (s_slice_t *) arg;
    s_first_touch (s);
    pthread_mutex_lock (s->lock);
    while (!*s->go)
        pthread_cond_wait (s->cond, s->lock);
    pthread_mutex_unlock (s->lock);
    while (true) {
        pthread_barrier_wait (s->barrier);      //  start of a pass
        if (*s->stop)
            break;
        s_triad (s);
        pthread_barrier_wait (s->barrier);      //  end of a pass
    }
    return NULL;
}

double
cap_mem_measure (int threads, double budget_s, uint64_t max_bytes, bool *capped_out)
{
    if (threads < 1)
        threads = 1;
    if (threads > 256)
        threads = 256;
    uint64_t llc = cap_mem_llc_bytes ();
    uint64_t per_array = llc ? 4 * llc : (64u << 20);
    if (per_array < (32u << 20))
        per_array = 32u << 20;
    bool capped = false;
    if (3 * per_array > max_bytes) {
        per_array = max_bytes / 3;
        capped = true;
    }
    if (capped_out)
        *capped_out = capped;
    size_t n = per_array / sizeof (double);
    n -= n % 64;
    if (n < 1024)
        return 0;
    size_t bytes = n * sizeof (double);
    double *arrays [3];
    for (int i = 0; i < 3; i++) {
        void *p = mmap (NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            for (int j = 0; j < i; j++)
                munmap (arrays [j], bytes);
            return 0;
        }
        //  No MADV_HUGEPAGE: with THP defrag on madvise it can stall in
        //  compaction for longer than the whole measurement budget.
        arrays [i] = (double *) p;
    }
    pthread_barrier_t barrier;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    volatile int stop = 0, go = 0;
    s_slice_t slices [256];
    pthread_t ids [256];
    size_t chunk = n / (size_t) threads;
    for (int i = 0; i < threads; i++) {
        slices [i] = (s_slice_t) { arrays [0], arrays [1], arrays [2], chunk * (size_t) i,
                                   i == threads - 1 ? n : chunk * (size_t) (i + 1),
                                   &barrier, &stop, &lock, &cond, &go };
    }
    //  Every slice has its own thread; the caller only times the passes
    //  (working in the timing thread delays the barrier it times). If a
    //  thread cannot start, the caller takes over the slices left.
    int started = 0;
    for (int i = 0; i < threads; i++) {
        if (pthread_create (&ids [i], NULL, s_worker, &slices [i]) != 0)
            break;
        started = i + 1;
    }
    s_slice_t own = slices [0];
    own.begin = started < threads ? slices [started].begin : n;
    own.end = n;
    s_first_touch (&own);
    pthread_barrier_init (&barrier, NULL, (unsigned) (started + 1));
    pthread_mutex_lock (&lock);
    go = 1;
    pthread_cond_broadcast (&cond);
    pthread_mutex_unlock (&lock);
    double start = cap_now ();
    double best = 0;
    int passes = 0;
    while (!zsys_interrupted) {
        pthread_barrier_wait (&barrier);
        double t0 = cap_now ();
        s_triad (&own);
        pthread_barrier_wait (&barrier);
        double dt = cap_now () - t0;
        //  The first pass also pays for remaining page faults: skip it.
        if (passes++ > 0 && dt > 0 && 24.0 * (double) n / dt > best)
            best = 24.0 * (double) n / dt;
        if (passes >= 2 && cap_now () - start >= budget_s)
            break;
        if (passes >= 50 || zsys_interrupted)
            break;                  //  enough, or the actor is stopping
    }
    stop = 1;
    pthread_barrier_wait (&barrier);            //  release workers to see stop
    for (int i = 0; i < started; i++)
        pthread_join (ids [i], NULL);
    pthread_barrier_destroy (&barrier);
    for (int i = 0; i < 3; i++)
        munmap (arrays [i], bytes);
    return best;
}
