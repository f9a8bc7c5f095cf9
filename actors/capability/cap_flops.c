/*  cap_flops.c: peak floating-point rate from a multiply-add loop.

    On x86-64 with FMA (checked at run time with __builtin_cpu_supports, so
    the binary still runs on CPUs without it) the kernel is AVX2 fused
    multiply-add on 12 independent accumulators, enough to keep two FMA
    ports busy through their latency. Otherwise it is SSE2 multiply + add
    (baseline x86-64), or plain scalar C elsewhere. Each lane of an FMA
    counts 2 flops, as does a multiply followed by an add.
*/
#include "cap.h"
#include <pthread.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

double
cap_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  Each kernel runs `rounds` iterations and returns the flops done, plus a
//  value derived from the accumulators (stored to a volatile sink so the
//  compiler cannot drop the loop).
static volatile double s_sink;

#if defined(__x86_64__)
__attribute__ ((target ("avx2,fma")))
static uint64_t
s_kernel_fma (uint64_t rounds)
{
    __m256d acc [12];
    for (int i = 0; i < 12; i++)
        acc [i] = _mm256_set1_pd (1.0 + i * 1e-3);
    const __m256d mul = _mm256_set1_pd (0.9999999);
    const __m256d add = _mm256_set1_pd (1e-7);
    for (uint64_t r = 0; r < rounds; r++) {
        for (int i = 0; i < 12; i++)
            acc [i] = _mm256_fmadd_pd (acc [i], mul, add);
    }
    __m256d sum = acc [0];
    for (int i = 1; i < 12; i++)
        sum = _mm256_add_pd (sum, acc [i]);
    double out [4];
    _mm256_storeu_pd (out, sum);
    s_sink = out [0] + out [1] + out [2] + out [3];
    return rounds * 12 * 4 * 2;
}

static uint64_t
s_kernel_plain (uint64_t rounds)
{
    __m128d acc [12];
    for (int i = 0; i < 12; i++)
        acc [i] = _mm_set1_pd (1.0 + i * 1e-3);
    const __m128d mul = _mm_set1_pd (0.9999999);
    const __m128d add = _mm_set1_pd (1e-7);
    for (uint64_t r = 0; r < rounds; r++) {
        for (int i = 0; i < 12; i++)
            acc [i] = _mm_add_pd (_mm_mul_pd (acc [i], mul), add);
    }
    __m128d sum = acc [0];
    for (int i = 1; i < 12; i++)
        sum = _mm_add_pd (sum, acc [i]);
    double out [2];
    _mm_storeu_pd (out, sum);
    s_sink = out [0] + out [1];
    return rounds * 12 * 2 * 2;
}

static bool
s_have_fma (void)
{
    __builtin_cpu_init ();
    return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
}
#else
static uint64_t
s_kernel_plain (uint64_t rounds)
{
    double acc [8];
    for (int i = 0; i < 8; i++)
        acc [i] = 1.0 + i * 1e-3;
    for (uint64_t r = 0; r < rounds; r++)
        for (int i = 0; i < 8; i++)
            acc [i] = acc [i] * 0.9999999 + 1e-7;
    double sum = 0;
    for (int i = 0; i < 8; i++)
        sum += acc [i];
    s_sink = sum;
    return rounds * 8 * 2;
}

static uint64_t
s_kernel_fma (uint64_t rounds)
{
    return s_kernel_plain (rounds);
}

static bool
s_have_fma (void)
{
    return false;
}
#endif

typedef struct {
    double budget_s;
    bool fma;
    double rate;
} s_job_t;

//  Run the kernel in short bursts until the budget is spent; the rate is
//  the best burst (a shared, busy machine steals time from some bursts).
static void *
s_run (void *arg)
{
    s_job_t *job = (s_job_t *) arg;
    uint64_t rounds = 20000;
    double start = cap_now ();
    double best = 0;
    while (true) {
        double t0 = cap_now ();
        uint64_t flops = job->fma ? s_kernel_fma (rounds) : s_kernel_plain (rounds);
        double t1 = cap_now ();
        double dt = t1 - t0;
        if (dt > 0 && flops / dt > best)
            best = flops / dt;
        if (dt < 0.005)
            rounds *= 2;        //  bursts of at least ~5 ms: clock noise stays small
        if (t1 - start >= job->budget_s || zsys_interrupted)
            break;          //  budget spent, or the actor is stopping
    }
    job->rate = best;
    return NULL;
}

double
cap_flops_measure (int threads, double budget_s, bool *fma_out)
{
    bool fma = s_have_fma ();
    if (fma_out)
        *fma_out = fma;
    if (threads < 1)
        threads = 1;
    if (threads > 256)
        threads = 256;
    s_job_t jobs [256];
    pthread_t ids [256];
    int started = 0;
    for (int i = 0; i < threads; i++) {
        jobs [i] = (s_job_t) { budget_s, fma, 0 };
        if (i == 0)
            continue;           //  thread 0 is the caller
        if (pthread_create (&ids [i], NULL, s_run, &jobs [i]) != 0)
            break;
        started = i;
    }
    s_run (&jobs [0]);
    double total = jobs [0].rate;
    for (int i = 1; i <= started; i++) {
        pthread_join (ids [i], NULL);
        total += jobs [i].rate;
    }
    return total;
}
