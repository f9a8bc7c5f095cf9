/*  bench_util.h: timing helpers shared by the C benchmark drivers. */
#ifndef BENCH_UTIL_H_INCLUDED
#define BENCH_UTIL_H_INCLUDED
#include <stdlib.h>
#include <time.h>

//  Monotonic seconds.
static inline double
bench_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static inline int
bench_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

//  Sorts times in place; *median and *best receive the figures.
static inline void
bench_summary (double *times, int count, double *median, double *best)
{
    qsort (times, (size_t) count, sizeof (double), bench_compare);
    *median = times [count / 2];
    *best = times [0];
}
#endif
