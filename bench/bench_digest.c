/*  bench_digest.c: what peers' key digests cost on the local-miss path and
    how well they filter (common/irh_digest.c, figures in docs/digests.md).

    usage: irohds-bench-digest [KEYS [PEERS [LOOKUPS]]]
           (defaults 1000000 keys per peer, 50 peers, 200000 lookups)

    Builds PEERS digests of KEYS distinct keys each (a local counting
    filter per peer, shipped whole into a remote digest as gossip will),
    then looks up LOOKUPS keys held by no one:
    - CPU ns per lookup (thread CPU time, median of 5 rounds) over 0, 10 and PEERS remote digests (the extra cost of
      a local miss), batched (irh_digest_remote_candidates, what the store
      will call) and one digest after another (irh_digest_remote_contains);
    - contains() on one digest, cold (1 M keys: a cache miss per lookup)
      and hot (a 1 k-key digest that stays in cache);
    - the share of true misses that hit at least one of 10 / PEERS digests
      (each such hit costs a round trip to a peer that has nothing);
    - the size of a whole digest and of a delta after 1,000 new keys;
    - add and remove on the local counting filter.
    Keys are splitmix64 output: uniform like the BLAKE3 keys of the store,
    and cheap enough to make 50 M of them.
    prints: one "name value unit" line per figure. */
#include "irh_digest.h"
#include "bench_util.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
s_splitmix (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

//  Key i of stream `stream`: streams never share a key (the 32 bytes are
//  four splitmix outputs of a per-key state).
static void
s_key (uint64_t stream, uint64_t i, uint8_t key [32])
{
    uint64_t state = stream * 0x100000000ULL + i;
    for (int w = 0; w < 4; w++) {
        uint64_t v = s_splitmix (&state);
        memcpy (key + w * 8, &v, 8);
    }
    //  Distinct streams and indexes give distinct states, hence keys.
}

static irh_digest_remote_t *
s_peer (uint64_t stream, size_t keys, size_t *full_size)
{
    irh_digest_t *digest = irh_digest_new (keys);
    uint8_t key [32];
    for (size_t i = 0; i < keys; i++) {
        s_key (stream, i, key);
        irh_digest_add (digest, key);
    }
    zframe_t *frame = irh_digest_encode_full (digest, "bench");
    if (full_size)
        *full_size = zframe_size (frame);
    irh_digest_remote_t *remote = irh_digest_remote_new ();
    if (irh_digest_remote_apply (remote, zframe_data (frame), zframe_size (frame))) {
        fprintf (stderr, "bench_digest: apply failed: %s\n", irh_digest_remote_error (remote));
        exit (1);
    }
    zframe_destroy (&frame);
    irh_digest_destroy (&digest);
    return remote;
}

#define ROUNDS 5

//  Thread CPU seconds: lookups are timed in CPU time, not wall time, since
//  on a shared 2-core box a wall clock mostly measures the other tenants
//  (time the thread spends preempted). Cache and TLB misses still count:
//  the thread is stalled on them, not descheduled.
static double
s_cpu_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  Median ns per lookup of `lookups` fresh miss keys over `peers` digests.
static double
s_time_misses (irh_digest_remote_t **remotes, size_t peers, size_t lookups, bool batched,
               uint64_t stream, size_t *hits_out)
{
    double times [ROUNDS];
    bool *hits = (bool *) malloc (peers + 1);
    uint8_t (*keys) [32] = malloc (lookups * 32);
    size_t any = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < lookups; i++)
            s_key (stream + (uint64_t) round, i, keys [i]);
        any = 0;
        double start = s_cpu_now ();
        for (size_t i = 0; i < lookups; i++) {
            if (batched)
                any += irh_digest_remote_candidates (remotes, peers, keys [i], hits) > 0;
            else {
                bool hit = false;
                for (size_t p = 0; p < peers; p++)
                    hit |= irh_digest_remote_contains (remotes [p], keys [i]);
                any += hit;
            }
        }
        times [round] = (s_cpu_now () - start) / (double) lookups * 1e9;
    }
    double median, best;
    bench_summary (times, ROUNDS, &median, &best);
    if (hits_out)
        *hits_out = any;
    free (keys);
    free (hits);
    return median;
}

int
main (int argc, char *argv [])
{
    size_t keys = argc > 1 ? strtoul (argv [1], NULL, 10) : 1000000;
    size_t peers = argc > 2 ? strtoul (argv [2], NULL, 10) : 50;
    size_t lookups = argc > 3 ? strtoul (argv [3], NULL, 10) : 200000;
    if (keys == 0 || peers < 10 || lookups == 0) {
        fprintf (stderr, "usage: irohds-bench-digest [KEYS [PEERS>=10 [LOOKUPS]]]\n");
        return 2;
    }
    //  Local filter: add and remove, and the delta after 1,000 adds.
    irh_digest_t *local = irh_digest_new (keys);
    uint8_t key [32];
    double start = bench_now ();
    for (size_t i = 0; i < keys; i++) {
        s_key (1000, i, key);
        irh_digest_add (local, key);
    }
    printf ("local_add %.1f ns\n", (bench_now () - start) / (double) keys * 1e9);
    uint64_t seed = irh_digest_seed (local), epoch = irh_digest_epoch (local);
    for (size_t i = 0; i < 1000; i++) {
        s_key (1001, i, key);
        irh_digest_add (local, key);
    }
    zframe_t *delta = irh_digest_encode_delta (local, "bench", seed, epoch);
    printf ("delta_1000_adds %zu bytes\n", delta ? zframe_size (delta) : (size_t) 0);
    zframe_destroy (&delta);
    start = bench_now ();
    for (size_t i = 0; i < keys / 2; i++) {
        s_key (1000, i, key);
        irh_digest_remove (local, key);
    }
    printf ("local_remove %.1f ns\n", (bench_now () - start) / (double) (keys / 2) * 1e9);
    printf ("local_counting_filter %zu bytes\n", (size_t) irh_digest_nbits (local) / 2);
    irh_digest_destroy (&local);

    irh_digest_remote_t **remotes = calloc (peers, sizeof (*remotes));
    size_t full_size = 0;
    start = bench_now ();
    for (size_t p = 0; p < peers; p++)
        remotes [p] = s_peer (p + 1, keys, &full_size);
    fprintf (stderr, "bench_digest: %zu digests of %zu keys built in %.1f s\n", peers, keys,
             bench_now () - start);
    printf ("digest_keys %zu keys\n", keys);
    printf ("digest_nbits %u bits\n", irh_digest_remote_nbits (remotes [0]));
    printf ("digest_full_message %zu bytes\n", full_size);
    printf ("digest_fill %.4f ratio\n", irh_digest_remote_fill (remotes [0]));

    //  One digest: cold (big) and hot (small, cached).
    printf ("contains_cold_1 %.1f ns\n", s_time_misses (remotes, 1, lookups, false, 5000, NULL));
    irh_digest_remote_t *small = s_peer (9999, 1000, NULL);
    printf ("contains_hot_1 %.1f ns\n", s_time_misses (&small, 1, lookups, false, 6000, NULL));
    irh_digest_remote_destroy (&small);

    //  The local-miss path over 0, 10 and all peers.
    size_t counts [3] = { 0, 10, peers };
    double base = 0;
    for (int c = 0; c < 3; c++) {
        size_t any;
        double batched = s_time_misses (remotes, counts [c], lookups, true, 7000, &any);
        double serial = s_time_misses (remotes, counts [c], lookups, false, 7000, NULL);
        if (c == 0)
            base = batched;
        printf ("miss_%zu_peers_batched %.1f ns\n", counts [c], batched);
        printf ("miss_%zu_peers_serial %.1f ns\n", counts [c], serial);
        printf ("miss_%zu_peers_extra %.1f ns\n", counts [c], batched - base);
        if (counts [c])
            printf ("miss_%zu_peers_ask_share %.4f ratio\n", counts [c],
                    (double) any / (double) lookups);
    }
    //  The share of misses asking a peer, on more keys than timed.
    for (int c = 1; c < 3; c++) {
        bool *hits = malloc (peers);
        size_t any = 0, trials = 1000000;
        for (size_t i = 0; i < trials; i++) {
            s_key (8000, i, key);
            any += irh_digest_remote_candidates (remotes, counts [c], key, hits) > 0;
        }
        printf ("ask_share_%zu_peers %.4f ratio (of %zu misses; expected %.4f)\n", counts [c],
                (double) any / (double) trials, trials,
                1 - pow (1 - IRH_DIGEST_FP_TARGET, (double) counts [c]));
        free (hits);
    }
    for (size_t p = 0; p < peers; p++)
        irh_digest_remote_destroy (&remotes [p]);
    free (remotes);
    return 0;
}
