//  Tests of the SWIM membership library (actors/gossip/swim.c) on the
//  deterministic in-memory network (swim_net.c): real swim code, virtual
//  clock, seeded loss. Each scenario is a user-visible promise of the
//  membership layer: joins spread, crashes are found, pauses are refuted,
//  loss does not kill anyone, partitions heal without help, and bad
//  packets are counted and dropped.
#include "swim_net.h"
#include "swim_internal.h"
#include "irh_msgs.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    size_t dead_events [64];        //  per subject: DEAD events seen about it
    size_t join_events;
} s_count_t;

static void
s_count (void *arg, size_t observer, size_t subject, swim_event_t event, int64_t now)
{
    (void) observer;
    (void) now;
    s_count_t *count = arg;
    if (event == SWIM_EVENT_DEAD && subject < 64)
        count->dead_events [subject]++;
    if (event == SWIM_EVENT_JOIN)
        count->join_events++;
}

static swim_net_t *
s_net (size_t nodes, double loss, uint64_t seed, s_count_t *count)
{
    swim_net_config_t config = { .nodes = nodes, .loss = loss, .latency_ms = 0.5,
                                 .jitter_ms = 0.5, .seed = seed };
    swim_config_default (&config.config);
    memset (count, 0, sizeof (*count));
    return swim_net_new (&config, s_count, count);
}

//  True if every running node in [0, n) sees subject in state.
static bool
s_all_see (swim_net_t *net, size_t n, size_t subject, int state)
{
    for (size_t o = 0; o < n; o++)
        if (o != subject && swim_net_node (net, o) && swim_net_state (net, o, subject) != state)
            return false;
    return true;
}

static bool
s_converged (swim_net_t *net, size_t n)
{
    for (size_t s = 0; s < n; s++)
        if (!s_all_see (net, n, s, SWIM_ALIVE))
            return false;
    return true;
}

//  Joins through a single contact each (a chain): everyone learns
//  everyone through gossip and push-pull, with no full mesh of joins.
static void
test_join_dissemination (void)
{
    s_count_t count;
    swim_net_t *net = s_net (20, 0.0, 1, &count);
    swim_net_start (net, 0);
    for (size_t i = 1; i < 20; i++) {
        swim_net_start (net, i);
        swim_net_join (net, i, i - 1);
        swim_net_run (net, swim_net_now (net) + 100);
    }
    int64_t start = swim_net_now (net);
    while (!s_converged (net, 20) && swim_net_now (net) < start + 30000)
        swim_net_run (net, swim_net_now (net) + 100);
    printf ("  join: 20 nodes converged %.1f s after the last join\n",
            (swim_net_now (net) - start) / 1000.0);
    assert (s_converged (net, 20));
    for (size_t i = 0; i < 20; i++)
        assert (swim_size (swim_net_node (net, i)) == 19);
    //  After a full probe round every member has a round-trip estimate:
    //  the network's 1-2 ms, measured on a millisecond clock.
    swim_net_run (net, swim_net_now (net) + 20000);
    for (size_t i = 0; i < 19; i++) {
        swim_member_t m;
        assert (swim_member_at (swim_net_node (net, 0), i, &m) == 0);
        assert (m.rtt_us > 0 && m.rtt_us <= 3000);
        assert (m.seen_ms > 0);
    }
    swim_net_destroy (&net);
    assert (swim_pool_size () == 0);        //  every record released
}

//  The same seed gives the same run, packet for packet.
static void
test_deterministic (void)
{
    uint64_t bytes [2], packets [2];
    for (int run = 0; run < 2; run++) {
        s_count_t count;
        swim_net_t *net = s_net (12, 0.05, 9, &count);
        for (size_t i = 0; i < 12; i++)
            swim_net_start (net, i);
        swim_net_seed_full (net);
        swim_net_run (net, 5000);
        swim_net_crash (net, 2);
        swim_net_run (net, 20000);
        bytes [run] = swim_net_tx_bytes (net);
        packets [run] = swim_net_packets (net);
        swim_net_destroy (&net);
    }
    assert (bytes [0] == bytes [1] && packets [0] == packets [1]);
}

static void
test_crash_detected (void)
{
    s_count_t count;
    swim_net_t *net = s_net (10, 0.0, 2, &count);
    for (size_t i = 0; i < 10; i++)
        swim_net_start (net, i);
    swim_net_seed_full (net);
    swim_net_run (net, 3000);
    swim_net_crash (net, 3);
    int64_t crash = swim_net_now (net);
    while (!s_all_see (net, 10, 3, SWIM_DEAD) && swim_net_now (net) < crash + 30000)
        swim_net_run (net, swim_net_now (net) + 50);
    printf ("  crash: dead for all 9 others after %.2f s\n", (swim_net_now (net) - crash) / 1000.0);
    assert (s_all_see (net, 10, 3, SWIM_DEAD));
    //  Within the 5 s goal at this size, with slack for the seed.
    assert (swim_net_now (net) - crash < 8000);
    for (size_t s = 0; s < 10; s++)
        assert (s == 3 || count.dead_events [s] == 0);
    swim_net_destroy (&net);
}

//  SIGSTOP for longer than detection, then SIGCONT: the node learns it
//  was declared dead, refutes with a higher incarnation, and is alive for
//  everyone again.
static void
test_pause_refute (void)
{
    s_count_t count;
    swim_net_t *net = s_net (8, 0.0, 3, &count);
    for (size_t i = 0; i < 8; i++)
        swim_net_start (net, i);
    swim_net_seed_full (net);
    swim_net_run (net, 2000);
    swim_net_pause (net, 5, true);
    swim_net_run (net, 20000);
    assert (s_all_see (net, 8, 5, SWIM_DEAD));
    swim_net_pause (net, 5, false);
    int64_t resumed = swim_net_now (net);
    while (!s_converged (net, 8) && swim_net_now (net) < resumed + 60000)
        swim_net_run (net, swim_net_now (net) + 100);
    printf ("  pause: alive again for all %.2f s after SIGCONT\n",
            (swim_net_now (net) - resumed) / 1000.0);
    assert (s_converged (net, 8));
    assert (swim_incarnation (swim_net_node (net, 5)) > 0);
    assert (swim_stats (swim_net_node (net, 5))->refutes > 0);
    swim_net_destroy (&net);
}

static void
test_no_false_deaths_under_loss (void)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        s_count_t count;
        swim_net_t *net = s_net (20, 0.10, 100 + seed, &count);
        for (size_t i = 0; i < 20; i++)
            swim_net_start (net, i);
        swim_net_seed_full (net);
        swim_net_run (net, 60000);
        size_t deaths = 0;
        for (size_t s = 0; s < 20; s++)
            deaths += count.dead_events [s];
        printf ("  10%% loss, seed %llu: %zu false deaths in 60 s\n",
                (unsigned long long) seed, deaths);
        assert (deaths == 0);
        assert (s_converged (net, 20));
        swim_net_destroy (&net);
    }
}

//  3|3 for 90 s, each side declares the other dead; after the heal the
//  dead are retried (Serf's reconnect) and the halves merge by themselves.
static void
test_partition_heals (void)
{
    s_count_t count;
    swim_net_t *net = s_net (6, 0.0, 5, &count);
    for (size_t i = 0; i < 6; i++)
        swim_net_start (net, i);
    swim_net_seed_full (net);
    swim_net_run (net, 2000);
    for (size_t i = 3; i < 6; i++)
        swim_net_group (net, i, 1);
    swim_net_run (net, 92000);
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 3; b < 6; b++) {
            assert (swim_net_state (net, a, b) == SWIM_DEAD);
            assert (swim_net_state (net, b, a) == SWIM_DEAD);
        }
    for (size_t i = 3; i < 6; i++)
        swim_net_group (net, i, 0);
    int64_t healed = swim_net_now (net);
    while (!s_converged (net, 6) && swim_net_now (net) < healed + 120000)
        swim_net_run (net, swim_net_now (net) + 100);
    printf ("  partition: one membership %.1f s after the heal\n",
            (swim_net_now (net) - healed) / 1000.0);
    assert (s_converged (net, 6));
    assert (swim_net_now (net) - healed <= 60000);
    swim_net_destroy (&net);
}

//  --------------------------------------------------------------------
//  One node driven by hand: what it sends is captured.

typedef struct {
    int64_t now;
    uint8_t last [SWIM_PACKET_MAX];
    size_t last_size, sent;
    swim_event_t last_event;
} s_host_t;

static void
s_host_send (void *arg, const uint8_t *to_id, const char *to_address, const uint8_t *data,
             size_t size)
{
    (void) to_id;
    (void) to_address;
    s_host_t *host = arg;
    host->sent++;
    host->last_size = size < sizeof (host->last) ? size : sizeof (host->last);
    memcpy (host->last, data, host->last_size);
}

static void
s_host_event (void *arg, swim_event_t event, const swim_member_t *member)
{
    (void) member;
    ((s_host_t *) arg)->last_event = event;
}

static int64_t
s_host_now (void *arg)
{
    return ((s_host_t *) arg)->now;
}

static void
s_node (swim_node_t *node, uint8_t id, const char *name)
{
    memset (node, 0, sizeof (*node));
    memset (node->id, id, SWIM_ID_SIZE);
    snprintf (node->address, sizeof (node->address), "tcp://198.18.0.%u:7470", id);
    snprintf (node->name, sizeof (node->name), "%s", name);
}

//  Frame messages into a packet: u16 length before each.
static size_t
s_packet (uint8_t *buf, const uint8_t *msg, size_t size, size_t at)
{
    buf [at] = (uint8_t) (size >> 8);
    buf [at + 1] = (uint8_t) size;
    memcpy (buf + at + 2, msg, size);
    return at + 2 + size;
}

static void
test_refute_and_bad_input (void)
{
    s_host_t host = { .now = 1000 };
    swim_host_t callbacks = { .send = s_host_send, .event = s_host_event, .now = s_host_now,
                              .arg = &host };
    swim_config_t config;
    swim_config_default (&config);
    swim_node_t me, peer;
    s_node (&me, 1, "me");
    s_node (&peer, 2, "peer");
    swim_t *swim = swim_new (&me, &config, &callbacks);
    swim_add_member (swim, &peer, 7);
    assert (swim_size (swim) == 1 && swim_live (swim) == 1);

    //  A suspicion about us at our incarnation: refuted with a higher one,
    //  and the refutation goes out with the next packet.
    irh_peer_suspect_t suspect = { .incarnation = 0 };
    memset (suspect.node, 1, SWIM_ID_SIZE);
    memset (suspect.accuser, 2, SWIM_ID_SIZE);
    uint8_t msg [256], packet [512];
    size_t size = irh_peer_suspect_encode_buf (&suspect, msg, sizeof (msg));
    size_t psize = s_packet (packet, msg, size, 0);
    assert (swim_on_message (swim, peer.id, packet, psize) == 0);
    assert (swim_incarnation (swim) == 1);
    assert (swim_stats (swim)->refutes == 1);
    //  An older suspicion (below our incarnation) changes nothing.
    assert (swim_on_message (swim, peer.id, packet, psize) == 0);
    assert (swim_incarnation (swim) == 1);

    //  An accusation at the highest incarnation cannot be outbid: refused
    //  (counted), never wrapping our incarnation to 0.
    suspect.incarnation = UINT32_MAX;
    size = irh_peer_suspect_encode_buf (&suspect, msg, sizeof (msg));
    uint64_t unexpected = swim_stats (swim)->unexpected;
    assert (swim_on_message (swim, peer.id, packet, s_packet (packet, msg, size, 0)) == 0);
    assert (swim_incarnation (swim) == 1);
    assert (swim_stats (swim)->unexpected == unexpected + 1);

    //  A ping for us is acked, carrying our alive record at incarnation 1.
    irh_peer_ping_t ping = { .seq = 42 };
    memset (ping.target, 1, SWIM_ID_SIZE);
    size = irh_peer_ping_encode_buf (&ping, msg, sizeof (msg));
    psize = s_packet (packet, msg, size, 0);
    host.sent = 0;
    assert (swim_on_message (swim, peer.id, packet, psize) == 0);
    assert (host.sent == 1);
    const uint8_t *pos = host.last, *end = host.last + host.last_size;
    bool bad;
    size_t msize;
    const uint8_t *first = swim_packet_next (&pos, end, &msize, &bad);
    irh_peer_ack_t ack;
    assert (first && irh_peer_ack_decode_buf (first, msize, &ack) == 0 && ack.seq == 42);
    bool refuted = false;
    const uint8_t *next;
    while ((next = swim_packet_next (&pos, end, &msize, &bad))) {
        irh_peer_member_t alive;
        if (irh_peer_member_decode_buf (next, msize, &alive) == 0
        &&  alive.node [0] == 1 && alive.incarnation == 1 && alive.state == SWIM_ALIVE)
            refuted = true;
    }
    assert (!bad && refuted);

    //  A newer alive record of the peer updates its incarnation, not an older one.
    swim_member_t m;
    irh_peer_member_t alive = { .state = SWIM_ALIVE, .incarnation = 9 };
    memset (alive.node, 2, SWIM_ID_SIZE);
    snprintf (alive.address, sizeof (alive.address), "tcp://198.18.0.2:7471");
    snprintf (alive.name, sizeof (alive.name), "peer");
    alive.ram_free = 123;
    size = irh_peer_member_encode_buf (&alive, msg, sizeof (msg));
    psize = s_packet (packet, msg, size, 0);
    assert (swim_on_message (swim, peer.id, packet, psize) == 0);
    assert (swim_member_find (swim, peer.id, &m) == 0);
    assert (m.incarnation == 9 && m.node->hb.ram_free == 123);
    assert (streq (m.node->address, "tcp://198.18.0.2:7471"));
    assert (host.last_event == SWIM_EVENT_UPDATE);

    //  Bad input: each dropped and counted, nothing changes.
    uint64_t bad_before = swim_stats (swim)->bad_packets;
    uint8_t garbage [] = { 0, 3, 0xff, 0xee, 0xdd };
    assert (swim_on_message (swim, peer.id, garbage, sizeof (garbage)) == -1);
    assert (swim_on_message (swim, peer.id, packet, psize - 1) == -1);     //  truncated
    assert (swim_on_message (swim, peer.id, packet, 1) == -1);
    assert (swim_on_message (swim, peer.id, packet, 0) == -1);
    static uint8_t oversize [SWIM_PACKET_MAX + 200];
    size_t at = 0;
    while (at + 2 + size <= sizeof (oversize))
        at = s_packet (oversize, msg, size, at);
    assert (swim_on_message (swim, peer.id, oversize, at) == -1);
    //  From ourselves (a forged or looped packet).
    assert (swim_on_message (swim, me.id, packet, psize) == -1);
    //  A push-pull whose count does not match its records.
    irh_peer_push_pull_t pp = { .flags = 1, .count = 2 };
    size_t hsize = irh_peer_push_pull_encode_buf (&pp, packet + 2, sizeof (packet) - 2);
    uint8_t head [32];
    memcpy (head, packet + 2, hsize);
    psize = s_packet (packet, head, hsize, 0);
    psize = s_packet (packet, msg, size, psize);
    assert (swim_on_message (swim, peer.id, packet, psize) == -1);
    assert (swim_stats (swim)->bad_packets == bad_before + 7);
    assert (swim_member_find (swim, peer.id, &m) == 0 && m.incarnation == 9);
    swim_destroy (&swim);
    assert (swim_pool_size () == 0);
}

//  A crashed member is probed, suspected, then dead after the suspicion
//  timeout; a dead member that is alive again (higher incarnation) comes
//  back with an ALIVE event.
static void
test_probe_suspect_dead (void)
{
    s_host_t host = { .now = 0 };
    swim_host_t callbacks = { .send = s_host_send, .event = s_host_event, .now = s_host_now,
                              .arg = &host };
    swim_config_t config;
    swim_config_default (&config);
    swim_node_t me, peer;
    s_node (&me, 1, "me");
    s_node (&peer, 2, "peer");
    swim_t *swim = swim_new (&me, &config, &callbacks);
    swim_add_member (swim, &peer, 0);
    swim_member_t m;
    //  Nobody answers: suspect after one probe interval, dead after the
    //  suspicion timeout (min for one member: no one can confirm).
    int64_t suspected = -1;
    for (host.now = 0; host.now < 20000; host.now += 10) {
        swim_tick (swim, host.now);
        assert (swim_member_find (swim, peer.id, &m) == 0);
        if (m.state == SWIM_SUSPECT && suspected < 0)
            suspected = host.now;
        if (m.state == SWIM_DEAD)
            break;
    }
    assert (suspected > 0 && m.state == SWIM_DEAD);
    assert (host.last_event == SWIM_EVENT_DEAD);
    int64_t timeout = host.now - suspected;
    assert (timeout >= config.suspicion_mult * config.probe_interval_ms - 20);
    assert (swim_live (swim) == 0 && swim_stats (swim)->probe_failures >= 1);
    //  It comes back with a higher incarnation.
    irh_peer_member_t alive = { .state = SWIM_ALIVE, .incarnation = 1 };
    memset (alive.node, 2, SWIM_ID_SIZE);
    snprintf (alive.address, sizeof (alive.address), "%s", peer.address);
    uint8_t msg [256], packet [300];
    size_t size = irh_peer_member_encode_buf (&alive, msg, sizeof (msg));
    size_t psize = s_packet (packet, msg, size, 0);
    assert (swim_on_message (swim, peer.id, packet, psize) == 0);
    assert (swim_member_find (swim, peer.id, &m) == 0 && m.state == SWIM_ALIVE);
    assert (host.last_event == SWIM_EVENT_ALIVE && swim_live (swim) == 1);
    swim_destroy (&swim);
}

//  The broadcast queue stays bounded however fast updates arrive (a
//  cluster in churn, or a peer flooding us); newest first, each sent up
//  to the limit.
static void
test_queue_bounded (void)
{
    swim_queue_t *queue = swim_queue_new ();
    uint8_t about [SWIM_ID_SIZE] = { 0 };
    uint8_t msg [40];
    memset (msg, 7, sizeof (msg));
    for (unsigned i = 0; i < SWIM_QUEUE_MAX + 100; i++) {
        memcpy (about, &i, sizeof (i));
        swim_queue_push (queue, about, msg, sizeof (msg));
    }
    assert (swim_queue_size (queue) == SWIM_QUEUE_MAX);
    assert (swim_queue_dropped (queue) == 100);
    //  The same node again replaces its item rather than adding one.
    swim_queue_push (queue, about, msg, sizeof (msg));
    assert (swim_queue_size (queue) == SWIM_QUEUE_MAX);
    //  Two transmissions each (limit 2), in 1,400-byte packets, empty it.
    uint8_t buf [SWIM_PACKET_MAX];
    size_t sent = 0;
    while (swim_queue_size (queue)) {
        size_t used = 0;
        sent += swim_queue_fill (queue, buf, &used, sizeof (buf), 2);
        assert (used <= sizeof (buf));
    }
    assert (sent == 2 * SWIM_QUEUE_MAX);
    swim_queue_destroy (&queue);
}

//  Lifeguard local health: a node whose indirect probes bring back no
//  nacks is probably the one in trouble (its own links are failing); it
//  probes more slowly instead of accusing everyone at full speed.
static uint64_t
s_isolated_probes (uint32_t awareness_max, uint32_t *score)
{
    s_host_t host = { .now = 0 };
    swim_host_t callbacks = { .send = s_host_send, .event = s_host_event, .now = s_host_now,
                              .arg = &host };
    swim_config_t config;
    swim_config_default (&config);
    config.awareness_max = awareness_max;
    swim_node_t me, peer;
    s_node (&me, 1, "me");
    swim_t *swim = swim_new (&me, &config, &callbacks);
    for (uint8_t id = 2; id < 10; id++) {
        s_node (&peer, id, "peer");
        swim_add_member (swim, &peer, 0);
    }
    //  Nothing ever answers, for 5 s (before any suspicion runs out).
    for (host.now = 0; host.now <= 5000; host.now += 10)
        swim_tick (swim, host.now);
    uint64_t probes = swim_stats (swim)->probes;
    *score = swim_stats (swim)->awareness;
    assert (swim_stats (swim)->nacks_missed > 0);
    swim_destroy (&swim);
    return probes;
}

static void
test_local_health (void)
{
    uint32_t score_off, score_on;
    uint64_t off = s_isolated_probes (1, &score_off);
    uint64_t on = s_isolated_probes (8, &score_on);
    printf ("  local health: isolated node probes %llu times in 5 s (%llu without it), score %u\n",
            (unsigned long long) on, (unsigned long long) off, score_on);
    assert (score_off == 0 && score_on > 0);
    assert (on < off);
}

int
main (void)
{
    printf (" * swim:\n");
    test_refute_and_bad_input ();
    test_probe_suspect_dead ();
    test_local_health ();
    test_queue_bounded ();
    test_join_dissemination ();
    test_deterministic ();
    test_crash_detected ();
    test_pause_refute ();
    test_no_false_deaths_under_loss ();
    test_partition_heals ();
    printf (" * swim: OK\n");
    return 0;
}
