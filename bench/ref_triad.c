/*  ref_triad.c: reference STREAM triad for bench_machcap.py, deliberately
    independent of the capability actor's code: plain loops, OpenMP-free
    pthreads, arrays given in MiB, best of PASSES timed passes.

    usage: ref_triad THREADS MIB_PER_ARRAY PASSES   -> prints bytes/s
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double *a, *b, *c;
static size_t n;
static int threads;
static pthread_barrier_t barrier;
static int passes;

static double
now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
run (void *arg)
{
    long id = (long) arg;
    size_t lo = n / threads * id, hi = id == threads - 1 ? n : n / threads * (id + 1);
    for (size_t i = lo; i < hi; i++) {
        a [i] = 0; b [i] = 1; c [i] = 2;
    }
    for (int p = 0; p <= passes; p++) {
        pthread_barrier_wait (&barrier);
        for (size_t i = lo; i < hi; i++)
            a [i] = b [i] + 3.0 * c [i];
        pthread_barrier_wait (&barrier);
    }
    return NULL;
}

int
main (int argc, char **argv)
{
    if (argc != 4)
        return fprintf (stderr, "usage: ref_triad THREADS MIB_PER_ARRAY PASSES\n"), 2;
    threads = atoi (argv [1]);
    n = (size_t) atol (argv [2]) * 1024 * 1024 / sizeof (double);
    passes = atoi (argv [3]);
    a = malloc (n * sizeof (double));
    b = malloc (n * sizeof (double));
    c = malloc (n * sizeof (double));
    if (!a || !b || !c || threads < 1 || passes < 1)
        return 1;
    pthread_barrier_init (&barrier, NULL, threads + 1);
    pthread_t ids [256];
    for (long i = 0; i < threads; i++)
        pthread_create (&ids [i], NULL, run, (void *) i);
    double best = 0;
    for (int p = 0; p <= passes; p++) {
        pthread_barrier_wait (&barrier);
        double t0 = now ();
        pthread_barrier_wait (&barrier);
        double dt = now () - t0;
        if (p > 0 && 24.0 * n / dt > best)      //  pass 0 warms up
            best = 24.0 * n / dt;
    }
    for (int i = 0; i < threads; i++)
        pthread_join (ids [i], NULL);
    printf ("%.0f\n", best);
    return 0;
}
