/*  swim_sim.c: irohds-gossip-sim, the membership simulator. Runs the
    real swim code (swim.c) for N virtual nodes on the in-memory network
    (swim_net.c) with latency and loss, and prints:
      - dissemination: time for a join to be known by every node
        (p50/p99 over nodes and joins, and the slowest node);
      - detection: time for a crashed node to be declared dead by every
        other node (p50/p99/max over observers and crashes);
      - false deaths (a live node declared dead by anyone);
      - bytes sent per node per second.

    irohds-gossip-sim --nodes 1000 --loss 0.01 [--profile lan|default]
        [--seconds 60] [--joins 5] [--crashes 5] [--latency-ms 0.5]
        [--jitter-ms 0.5] [--seed 1]
        [--probe-ms MS] [--suspicion-mult M] [--gossip-ms MS] [--gossip-nodes K]
*/
#include "swim_net.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t nodes;               //  the initial cluster; joiners and crashed are chosen in it
    size_t *subjects;           //  joiners (nodes .. nodes + joins - 1), then crashed
    size_t nsubjects;
    int64_t *start_ms;          //  per subject: join or crash time
    int64_t *seen;              //  [subject * total + observer]: first event time, -1
    size_t total;
    bool *crashed;
    uint64_t false_deaths, suspicions;
} s_sim_t;

static s_sim_t s_sim;

static bool
s_is (const char *a, const char *b)
{
    return strcmp (a, b) == 0;
}

static long
s_subject (size_t node)
{
    for (size_t s = 0; s < s_sim.nsubjects; s++)
        if (s_sim.subjects [s] == node)
            return (long) s;
    return -1;
}

static void
s_on_event (void *arg, size_t observer, size_t subject, swim_event_t event, int64_t now)
{
    (void) arg;
    if (event == SWIM_EVENT_SUSPECT)
        s_sim.suspicions++;
    if (event == SWIM_EVENT_DEAD && !s_sim.crashed [subject])
        s_sim.false_deaths++;
    long s = s_subject (subject);
    if (s < 0 || s_sim.start_ms [s] < 0)
        return;
    bool crash = s_sim.crashed [subject];
    if ((crash && event == SWIM_EVENT_DEAD) || (!crash && event == SWIM_EVENT_JOIN)) {
        int64_t *slot = &s_sim.seen [(size_t) s * s_sim.total + observer];
        if (*slot < 0)
            *slot = now - s_sim.start_ms [s];
    }
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

//  Percentiles of the times of subjects [from, to) over the given
//  observers; missing = observers that never saw it.
static void
s_report (const char *what, size_t from, size_t to, swim_net_t *net)
{
    size_t cap = (to - from) * s_sim.total, n = 0, missing = 0;
    int64_t *times = malloc ((cap ? cap : 1) * sizeof (int64_t));
    assert (times);
    for (size_t s = from; s < to; s++)
        for (size_t o = 0; o < s_sim.total; o++) {
            //  Observers: the initial cluster, still running.
            if (o >= s_sim.nodes || o == s_sim.subjects [s] || !swim_net_node (net, o)
            ||  s_sim.crashed [o])
                continue;
            int64_t t = s_sim.seen [s * s_sim.total + o];
            if (t < 0)
                missing++;
            else
                times [n++] = t;
        }
    qsort (times, n, sizeof (int64_t), s_cmp);
    if (n == 0)
        printf ("%-14s no observations (missing %zu)\n", what, missing);
    else
        printf ("%-14s p50 %.2f s  p99 %.2f s  max %.2f s  (%zu observations, %zu missing)\n",
                what, times [n / 2] / 1000.0, times [(n * 99) / 100] / 1000.0,
                times [n - 1] / 1000.0, n, missing);
    free (times);
}

static void
s_usage (void)
{
    fprintf (stderr, "usage: irohds-gossip-sim [--nodes N] [--loss P] [--profile lan|default]\n"
             "  [--seconds S] [--joins J] [--crashes C] [--latency-ms L] [--jitter-ms J]"
             " [--seed S]\n  overrides of the profile: [--probe-ms MS] (timeout half of it)"
             " [--suspicion-mult M] [--gossip-ms MS] [--gossip-nodes K]\n");
    exit (2);
}

int
main (int argc, char *argv [])
{
    size_t nodes = 1000, joins = 5, crashes = 5;
    double loss = 0.01, seconds = 60, latency = 0.5, jitter = 0.5;
    uint64_t seed = 1;
    const char *profile = "default";
    int probe_ms = 0, suspicion_mult = 0, gossip_ms = 0, gossip_nodes = 0;     //  0 = profile's
    for (int i = 1; i < argc; i++) {
        const char *opt = argv [i], *val = i + 1 < argc ? argv [i + 1] : NULL;
        if (!val)
            s_usage ();
        i++;
        if (s_is (opt, "--nodes")) nodes = strtoul (val, NULL, 10);
        else if (s_is (opt, "--loss")) loss = atof (val);
        else if (s_is (opt, "--seconds")) seconds = atof (val);
        else if (s_is (opt, "--joins")) joins = strtoul (val, NULL, 10);
        else if (s_is (opt, "--crashes")) crashes = strtoul (val, NULL, 10);
        else if (s_is (opt, "--latency-ms")) latency = atof (val);
        else if (s_is (opt, "--jitter-ms")) jitter = atof (val);
        else if (s_is (opt, "--seed")) seed = strtoull (val, NULL, 10);
        else if (s_is (opt, "--profile")) profile = val;
        else if (s_is (opt, "--probe-ms")) probe_ms = atoi (val);
        else if (s_is (opt, "--suspicion-mult")) suspicion_mult = atoi (val);
        else if (s_is (opt, "--gossip-ms")) gossip_ms = atoi (val);
        else if (s_is (opt, "--gossip-nodes")) gossip_nodes = atoi (val);
        else s_usage ();
    }
    if (nodes < 4 || nodes > SWIM_MEMBERS_MAX - 64 || loss < 0 || loss >= 1 || seconds < 10
    ||  crashes >= nodes / 2 || (!s_is (profile, "lan") && !s_is (profile, "default")))
        s_usage ();
    swim_net_config_t config = { .nodes = nodes + joins, .loss = loss, .latency_ms = latency,
                                 .jitter_ms = jitter, .seed = seed };
    if (s_is (profile, "lan"))
        swim_config_lan (&config.config);
    else
        swim_config_default (&config.config);
    if (probe_ms > 0) {
        config.config.probe_interval_ms = (uint32_t) probe_ms;
        config.config.probe_timeout_ms = (uint32_t) probe_ms / 2;
    }
    if (suspicion_mult > 0)
        config.config.suspicion_mult = (uint32_t) suspicion_mult;
    if (gossip_ms > 0)
        config.config.gossip_interval_ms = (uint32_t) gossip_ms;
    if (gossip_nodes > 0)
        config.config.gossip_nodes = (uint32_t) gossip_nodes;
    s_sim.nodes = nodes;
    s_sim.total = nodes + joins;
    s_sim.nsubjects = joins + crashes;
    s_sim.subjects = calloc (s_sim.nsubjects + 1, sizeof (size_t));
    s_sim.start_ms = malloc ((s_sim.nsubjects + 1) * sizeof (int64_t));
    s_sim.seen = malloc ((s_sim.nsubjects * s_sim.total + 1) * sizeof (int64_t));
    s_sim.crashed = calloc (s_sim.total, sizeof (bool));
    assert (s_sim.subjects && s_sim.start_ms && s_sim.seen && s_sim.crashed);
    for (size_t i = 0; i < s_sim.nsubjects * s_sim.total; i++)
        s_sim.seen [i] = -1;
    for (size_t s = 0; s < s_sim.nsubjects; s++) {
        s_sim.start_ms [s] = -1;
        //  Crash victims spread over the cluster, deterministically.
        s_sim.subjects [s] = s < joins ? nodes + s : ((s - joins) * 7919 + 13) % nodes;
    }

    swim_net_t *net = swim_net_new (&config, s_on_event, NULL);
    for (size_t i = 0; i < nodes; i++)
        swim_net_start (net, i);
    swim_net_seed_full (net);
    fprintf (stderr, "seeded %zu nodes\n", nodes);

    //  Joins first, spaced out; the crashes a third of the way in; then
    //  run to the end so detection has time to finish everywhere.
    int64_t t = 2000;
    swim_net_run (net, t);
    uint64_t bytes0 = swim_net_tx_bytes (net);
    int64_t steady0 = swim_net_now (net);
    for (size_t s = 0; s < joins; s++) {
        swim_net_start (net, s_sim.subjects [s]);
        s_sim.start_ms [s] = swim_net_now (net);
        swim_net_join (net, s_sim.subjects [s], (s * 31 + 7) % nodes);
        t += 1000;
        swim_net_run (net, t);
    }
    int64_t crash_at = (int64_t) (seconds * 1000) / 3;
    if (crash_at < t)
        crash_at = t;
    swim_net_run (net, crash_at);
    for (size_t s = joins; s < s_sim.nsubjects; s++) {
        s_sim.crashed [s_sim.subjects [s]] = true;
        s_sim.start_ms [s] = swim_net_now (net);
        swim_net_crash (net, s_sim.subjects [s]);
    }
    swim_net_run (net, (int64_t) (seconds * 1000));
    double steady_s = (swim_net_now (net) - steady0) / 1000.0;

    printf ("irohds-gossip-sim: %zu nodes, profile %s, loss %.1f%%, latency %.1f+%.1f ms, "
            "%.0f s simulated\n", nodes, profile, loss * 100, latency, jitter, seconds);
    s_report ("dissemination", 0, joins, net);
    s_report ("detection", joins, s_sim.nsubjects, net);
    printf ("false deaths   %llu  (suspicions raised: %llu)\n",
            (unsigned long long) s_sim.false_deaths, (unsigned long long) s_sim.suspicions);
    printf ("traffic        %.0f bytes/node/s (%llu packets in all)\n",
            (double) (swim_net_tx_bytes (net) - bytes0) / (double) s_sim.total / steady_s,
            (unsigned long long) swim_net_packets (net));
    uint64_t probes = 0, failures = 0, awareness = 0, running = 0;
    for (size_t i = 0; i < s_sim.total; i++) {
        swim_t *swim = swim_net_node (net, i);
        if (!swim)
            continue;
        running++;
        probes += swim_stats (swim)->probes;
        failures += swim_stats (swim)->probe_failures;
        awareness += swim_stats (swim)->awareness;
    }
    printf ("probes         %llu, %.2f%% failed; mean local health score at the end %.2f\n",
            (unsigned long long) probes, probes ? 100.0 * failures / probes : 0.0,
            running ? (double) awareness / running : 0.0);
    swim_net_destroy (&net);
    free (s_sim.subjects);
    free (s_sim.start_ms);
    free (s_sim.seen);
    free (s_sim.crashed);
    return 0;
}
