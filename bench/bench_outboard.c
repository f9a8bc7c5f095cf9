/*  bench_outboard.c: what verified transfer costs in CPU
    (common/irh_outboard.c, figures in docs/BENCHMARKS.md).

    usage: irohds-bench-outboard [MIB [ROUNDS]]   (defaults 64 MiB, 5 rounds)

    On one buffer of MIB MiB of pseudo-random bytes, in memory:
    - irh_blake3 (the plain hash, the anchor) against
      irh_outboard_compute (the same hash plus the list of group values)
      and the builder fed 1 MiB at a time (what a file read in pieces
      costs): MB/s each and the ratio to irh_blake3 (goal: about 1);
    - irh_outboard_check_group over every group: ns per 16 KiB group;
    - irh_outboard_verify_list on the buffer's list, and on a list of a
      1 GiB blob (65,536 values; its cost does not depend on whether it
      verifies, the whole tree is recomputed either way).
    Best of ROUNDS, single thread.
    prints: one "name value unit" line per figure. */
#include "bench_util.h"
#include "irh_hash.h"
#include "irh_outboard.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS_MAX 50

static uint64_t
s_next (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void
s_fill (uint8_t *data, size_t size, uint64_t seed)
{
    for (size_t i = 0; i + 8 <= size; i += 8) {
        uint64_t v = s_next (&seed);
        memcpy (data + i, &v, 8);
    }
}

//  What one round of each measured operation does.
typedef enum { S_BLAKE3, S_COMPUTE, S_BUILDER, S_CHECK, S_VERIFY } s_op_t;

typedef struct {
    const uint8_t *data;
    size_t size;
    uint8_t *list;
    size_t list_size;
    uint8_t root [32];
} s_blob_t;

static void
s_run (s_op_t op, s_blob_t *blob)
{
    uint8_t root [32];
    if (op == S_BLAKE3)
        irh_blake3 (blob->data, blob->size, root);
    else
    if (op == S_COMPUTE) {
        if (irh_outboard_compute (blob->data, blob->size, blob->list, blob->list_size, root))
            abort ();
    }
    else
    if (op == S_BUILDER) {
        irh_outboard_builder_t *builder =
            irh_outboard_builder_new (blob->size, blob->list, blob->list_size);
        for (size_t at = 0; at < blob->size; at += 1 << 20) {
            size_t piece = blob->size - at < (1 << 20) ? blob->size - at : 1 << 20;
            if (!builder || irh_outboard_builder_feed (builder, blob->data + at, piece))
                abort ();
        }
        if (irh_outboard_builder_finish (builder, root))
            abort ();
        irh_outboard_builder_destroy (&builder);
    }
    else
    if (op == S_CHECK) {
        uint64_t groups = irh_outboard_groups (blob->size);
        for (uint64_t g = 0; g < groups; g++) {
            size_t len = blob->size - g * IRH_OUTBOARD_GROUP;
            len = len < IRH_OUTBOARD_GROUP ? len : IRH_OUTBOARD_GROUP;
            if (irh_outboard_check_group (blob->list, blob->size, blob->root, g,
                                          blob->data + g * IRH_OUTBOARD_GROUP, len))
                abort ();
        }
    }
    else
    if (op == S_VERIFY)
        //  A true list verifies; a made-up one (the 1 GiB case) must not.
        if ((irh_outboard_verify_list (blob->list, blob->list_size, blob->size, blob->root) == 0)
            != (blob->data != NULL))
            abort ();
}

//  Best seconds of `rounds` runs of op.
static double
s_time (s_op_t op, s_blob_t *blob, int rounds)
{
    double times [ROUNDS_MAX], median, best;
    for (int i = 0; i < rounds; i++) {
        double start = bench_now ();
        s_run (op, blob);
        times [i] = bench_now () - start;
    }
    bench_summary (times, rounds, &median, &best);
    return best;
}

int
main (int argc, char **argv)
{
    long mib = argc > 1 ? atol (argv [1]) : 64;
    int rounds = argc > 2 ? atoi (argv [2]) : 5;
    if (argc > 3 || mib < 1 || mib > 16384 || rounds < 1 || rounds > ROUNDS_MAX) {
        fprintf (stderr, "usage: irohds-bench-outboard [MIB 1..16384 [ROUNDS 1..%d]]\n", ROUNDS_MAX);
        return 2;
    }
    s_blob_t blob = { .size = (size_t) mib << 20 };
    uint8_t *data = malloc (blob.size);
    blob.list_size = (size_t) irh_outboard_size (blob.size);
    blob.list = malloc (blob.list_size);
    if (!data || !blob.list) {
        fprintf (stderr, "bench_outboard: out of memory for %ld MiB\n", mib);
        return 1;
    }
    s_fill (data, blob.size, 1);
    blob.data = data;
    if (irh_outboard_compute (blob.data, blob.size, blob.list, blob.list_size, blob.root))
        abort ();
    uint8_t check [32];
    irh_blake3 (blob.data, blob.size, check);
    if (memcmp (check, blob.root, 32))
        abort ();

    double mb = (double) blob.size / 1e6;
    double t_blake3 = s_time (S_BLAKE3, &blob, rounds);
    double t_compute = s_time (S_COMPUTE, &blob, rounds);
    double t_builder = s_time (S_BUILDER, &blob, rounds);
    double t_check = s_time (S_CHECK, &blob, rounds);
    double t_verify = s_time (S_VERIFY, &blob, rounds);
    uint64_t groups = irh_outboard_groups (blob.size);
    printf ("blob_size %zu bytes\n", blob.size);
    printf ("blake3 %.0f MB/s\n", mb / t_blake3);
    printf ("outboard_compute %.0f MB/s\n", mb / t_compute);
    printf ("outboard_compute_ratio %.3f x blake3\n", t_blake3 / t_compute);
    printf ("outboard_builder_1mib %.0f MB/s\n", mb / t_builder);
    printf ("outboard_builder_ratio %.3f x blake3\n", t_blake3 / t_builder);
    printf ("check_group %.0f ns/group\n", t_check / (double) groups * 1e9);
    printf ("check_group_rate %.0f MB/s\n", mb / t_check);
    printf ("verify_list_%ldmib %.3f ms\n", mib, t_verify * 1e3);

    //  A 1 GiB blob's list: 65,536 values, pseudo-random.
    s_blob_t big = { .size = (size_t) 1 << 30 };
    big.list_size = (size_t) irh_outboard_size (big.size);
    big.list = malloc (big.list_size);
    if (!big.list)
        abort ();
    s_fill (big.list, big.list_size, 2);
    memset (big.root, 0, 32);
    double t_big = s_time (S_VERIFY, &big, rounds);
    printf ("verify_list_1gib %.3f ms\n", t_big * 1e3);
    printf ("verify_list_per_group %.1f ns\n", t_big / (double) irh_outboard_groups (big.size) * 1e9);
    free (big.list);
    free (blob.list);
    free (data);
    return 0;
}
