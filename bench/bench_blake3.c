/*  bench_blake3.c: time irohds' BLAKE3 file hashing (common/irh_hash.c,
    Debian's BLAKE3 C sources with SIMD) on one file, single-threaded, so
    bench/run.py can put it side by side with `b3sum --num-threads 1`.

    usage: irohds-bench-blake3 FILE ROUNDS
    prints: the hex digest, then the best and median seconds per round. */
#include "bench_util.h"
#include "irh_hash.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: irohds-bench-blake3 FILE ROUNDS\n");
        return 2;
    }
    int rounds = atoi (argv [2]);
    if (rounds < 1 || rounds > 100) {
        fprintf (stderr, "irohds-bench-blake3: ROUNDS must be 1..100\n");
        return 2;
    }
    double times [100];
    uint8_t hash [IRH_HASH_SIZE];
    for (int i = 0; i < rounds; i++) {
        double start = bench_now ();
        uint64_t size;
        if (irh_blake3_file (argv [1], hash, &size)) {
            perror (argv [1]);
            return 1;
        }
        times [i] = bench_now () - start;
    }
    double median, best;
    bench_summary (times, rounds, &median, &best);
    char hex [IRH_HASH_HEX_SIZE];
    printf ("%s\n%.6f %.6f\n", irh_hash_hex (hash, hex), best, median);
    return 0;
}
