/*  gossip_main.c: irohds-gossip, the actor behind service "gossip".

    usage: irohds-gossip [--home DIR] (--broker EP | --bind EP) [-v]
           irohds-gossip [--home DIR] --check-sandbox

    Runs the SWIM membership library (swim.h) on the real network: loads
    the node identity, listens for peers on peers.listen (gossip_link.c),
    drives swim_tick from a zloop timer, announces this node's homie
    heartbeat (CPU idle, RAM free, load, GPU) and answers the broker
    requests of proto/gossip.def: gossip_peers, gossip_join, gossip_stats,
    gossip_lookup, gossip_fetches. The result-sharing half (gossip_data.h:
    the data socket, digests, serving, fetching) runs on the same loop.
    docs/peers.md is the user's view.
*/
#include "gossip.h"
#include "gossip_data.h"
#include "gossip_check.h"
#include "../capability/cap.h"
#include "irh_actor.h"
#include "irh_file.h"
#include "irh_log.h"
#include "irh_msgs.h"
#include "gossip_ns.h"
#include "irh_sandbox.h"
#include "irh_table.h"
#include "irh_worker.h"
#include <assert.h>
#include <string.h>
#include <unistd.h>

#ifndef IROHDS_VERSION
#define IROHDS_VERSION "0.0.0"
#endif
#define S_TICK_MS       50          //  swim timer resolution (each tick is a wake-up:
                                    //  20 ms cost 50 wake-ups a second per idle node)
#define S_SWEEP_MS      5000        //  idle links, stale inbound connections
#define S_HEARTBEAT_MS  5000        //  re-read /proc for our heartbeat
#define S_STORE_WAIT_MS 60000       //  give up on a store stats request
#define S_EVENTS_MAX    4096        //  member events queued for the data plane

typedef struct {
    irh_identity_t *identity;
    irh_config_t *config;       //  kept for ns.<name>.producers (gossip_fetch_trust)
    irh_worker_t *worker;
    zloop_t *loop;
    gossip_net_t *net;
    gossip_tofu_t *tofu;        //  joins without a node id (trust on first use)
    swim_t *swim;
    swim_node_t self_node;
    cap_cpu_sample_t cpu;
    int64_t swim_due;
    int64_t started_ms;
    char listen [65];
    uint64_t bad_requests;
    uint64_t joins_skipped;     //  join of a member already alive
    irh_sandbox_status_t sandbox;
    gossip_ns_t *ns;            //  namespaces on the wire (gossip_ns.h)
    //  The store's counts for our heartbeat: results held, and claims
    //  (keys a local process computes now: status busy). Asked through
    //  the broker every sweep (gossip_calls), answered asynchronously.
    gossip_calls_t *calls;              //  broker requests (NULL without a broker)
    bool store_asking;                  //  a stats request is in flight
    uint64_t store_entries, store_claims;
    //  The data plane (gossip_data.h); NULL without a broker.
    gossip_xfer_t *xfer;
    gossip_digests_t *digests;
    gossip_serve_t *serve;
    gossip_fetch_t *fetch;
    //  Member changes seen inside swim's callbacks, handed to the data
    //  plane once swim has returned (its callbacks may call into swim).
    zlist_t *events;
    uint64_t events_dropped, data_unrouted;
    bool cpu_known;                     //  a CPU idle figure was measured
    swim_heartbeat_t announced;         //  the heartbeat peers have
    int64_t announced_ms;
} s_gossip_t;

static int64_t
s_now (void *arg)
{
    (void) arg;
    return zclock_mono ();
}

static int64_t
s_now_us (void *arg)
{
    (void) arg;
    return zclock_usecs ();
}

//  swim's send: through the peer links (one host arg serves all of swim's
//  callbacks, so it is this actor, not the links).
static void
s_send (void *arg, const uint8_t *to_id, const char *to_address, const uint8_t *data,
        size_t size)
{
    s_gossip_t *self = (s_gossip_t *) arg;
    gossip_net_send (self->net, to_id, to_address, data, size);
}

//  A member event queued for the data plane: id and alive (true) or gone.
typedef struct {
    uint8_t id [SWIM_ID_SIZE];
    bool alive;
} s_member_event_t;

static void
s_event (void *arg, swim_event_t event, const swim_member_t *member)
{
    s_gossip_t *self = (s_gossip_t *) arg;         //  the host arg swim was given
    static const char *names [] = { "", "join", "alive", "suspect", "dead", "update", "forget" };
    //  No link kept open (and retried) to a member that is gone.
    if (event == SWIM_EVENT_DEAD || event == SWIM_EVENT_FORGET)
        gossip_net_forget (self->net, member->node->id);
    if (self->events
    &&  (event == SWIM_EVENT_JOIN || event == SWIM_EVENT_ALIVE || event == SWIM_EVENT_DEAD)) {
        if (zlist_size (self->events) < S_EVENTS_MAX) {
            s_member_event_t *queued = (s_member_event_t *) zmalloc (sizeof (s_member_event_t));
            assert (queued);
            memcpy (queued->id, member->node->id, SWIM_ID_SIZE);
            queued->alive = event != SWIM_EVENT_DEAD;
            zlist_append (self->events, queued);
        }
        else
            self->events_dropped++;
    }
    if (event != SWIM_EVENT_UPDATE) {
        char id [IRH_NODE_ID_HEX + 1];
        irh_identity_id_from_key (member->node->id, id);
        irh_info ("member %.12s (%s, %s): %s", id, member->node->name, member->node->address,
                  names [event]);
    }
}

//  Hand queued member events to the data plane: a member alive gets asked
//  for its digests; one dead loses its digests, its data link and its
//  place as a fetch source.
static void
s_member_events (s_gossip_t *self)
{
    s_member_event_t *queued;
    while (self->events && (queued = (s_member_event_t *) zlist_pop (self->events))) {
        swim_member_t member;
        swim_node_t gone;
        if (swim_member_find (self->swim, queued->id, &member) != 0) {
            memset (&gone, 0, sizeof gone);
            memcpy (gone.id, queued->id, SWIM_ID_SIZE);
            memset (&member, 0, sizeof member);
            member.node = &gone;
            member.state = SWIM_DEAD;
        }
        //  Only what is still true now: an event may be stale by a tick.
        bool alive = queued->alive && member.state == SWIM_ALIVE;
        if (queued->alive == alive || !queued->alive) {
            if (!alive && self->xfer)
                gossip_xfer_forget (self->xfer, queued->id);
            //  Proofs first: on the same link they reach the peer before
            //  our digests_want, so its answer includes what we proved.
            if (self->ns)
                gossip_ns_member_event (self->ns, queued->id, member.node->address, alive);
            if (self->digests)
                gossip_digests_member (self->digests, &member, alive);
            if (self->fetch)
                gossip_fetch_member (self->fetch, &member, alive);
        }
        free (queued);
    }
}

static void
s_packet (void *arg, const uint8_t *from, const uint8_t *data, size_t size)
{
    s_gossip_t *self = (s_gossip_t *) arg;
    swim_on_message (self->swim, from, data, size);
    self->swim_due = 0;                 //  a packet may start timers: tick now
    s_member_events (self);
}

//  A peer's message on the data socket (gossip_xfer): digests or requests.
static void
s_on_data (void *arg, const uint8_t *from, zframe_t *route, int id, zframe_t *frame)
{
    s_gossip_t *self = (s_gossip_t *) arg;
    if (id == IRH_MSG_PEER_DIGEST_FULL || id == IRH_MSG_PEER_DIGEST_DELTA
    ||  id == IRH_MSG_PEER_DIGEST_WANT || id == IRH_MSG_PEER_DIGESTS_WANT) {
        if (self->digests)
            gossip_digests_message (self->digests, from, route, id, frame);
    }
    else
    if ((id == IRH_MSG_PEER_MANIFEST_WANT || id == IRH_MSG_PEER_READ_WANT) && self->serve)
        gossip_serve_message (self->serve, from, route, id, frame);
    else
    if (id == IRH_MSG_PEER_NS_PROOF && self->ns)
        gossip_ns_message (self->ns, from, route, frame);
    else
        self->data_unrouted++;
}

//  This node's heartbeat from /proc and the store; true when it should be
//  announced now. Every announcement bumps our incarnation and is gossiped
//  to the whole cluster (about retransmit x log N sends of ~150 bytes per
//  node), so at 50 nodes one announcement per node every 5 s was most of
//  the idle traffic. Figures are compared with what we last announced, and
//  rate-limited by how much a peer's decision depends on them: status at
//  once (a peer may wait on our computation), the results count every
//  10 s, CPU/RAM/GPU figures that moved by more than a tenth every 30 s.
#define S_ANNOUNCE_STATUS_MS    1000
#define S_ANNOUNCE_RESULTS_MS   10000
#define S_ANNOUNCE_LOAD_MS      30000

static bool
s_heartbeat (s_gossip_t *self)
{
    swim_heartbeat_t hb = self->self_node.hb;
    uint64_t total = 0, avail = 0;
    uint32_t idle = hb.cpu_idle_ppm;
    bool first_cpu = false;             //  the first real CPU figure since start
    if (cap_sys_cpu_idle (&self->cpu, &idle) == 0) {
        hb.cpu_idle_ppm = idle;
        first_cpu = !self->cpu_known;
        self->cpu_known = true;
    }
    if (cap_sys_meminfo (&total, &avail) == 0)
        hb.ram_free = avail;
    cap_sys_loadavg (&hb.load1_milli);
    if (hb.gpu_model [0]) {
        //  Free GPU memory moves with the jobs on it; NVML answers in
        //  well under a millisecond, once per heartbeat.
        uint32_t gpus = 0;
        uint64_t gpu_total = 0, free_now = 0;
        char model [sizeof hb.gpu_model];
        cap_sys_gpu (&gpus, model, sizeof model, &gpu_total, &free_now);
        if (gpus)
            hb.gpu_mem_free = free_now;
    }
    hb.results = self->store_entries;
    //  Holding namespaces with a secret, every member is told only the
    //  results of public ones, so a non-member cannot watch secret ones
    //  come and go (0 until the first digest list).
    uint64_t shown = 0;
    if (self->ns && gossip_ns_count (self->ns) > 0)
        hb.results = self->digests && gossip_digests_public_results (self->digests, &shown)
                   ? shown : 0;
    hb.status = self->store_claims ? SWIM_STATUS_BUSY : SWIM_STATUS_IDLE;
    self->self_node.hb = hb;

    const swim_heartbeat_t *old = &self->announced;
    int64_t since = zclock_mono () - self->announced_ms;
    int64_t didle = (int64_t) hb.cpu_idle_ppm - (int64_t) old->cpu_idle_ppm;
    int64_t dram = (int64_t) hb.ram_free - (int64_t) old->ram_free;
    int64_t dgpu = (int64_t) hb.gpu_mem_free - (int64_t) old->gpu_mem_free;
    bool load_moved = didle > 100000 || didle < -100000
                   || (uint64_t) (dram < 0 ? -dram : dram) > old->ram_free / 10
                   || (uint64_t) (dgpu < 0 ? -dgpu : dgpu) > old->gpu_mem_free / 10;
    bool announce = (hb.status != old->status && since >= S_ANNOUNCE_STATUS_MS)
                 || (hb.results != old->results && since >= S_ANNOUNCE_RESULTS_MS)
                 || (load_moved && since >= S_ANNOUNCE_LOAD_MS)
                 || first_cpu;          //  peers saw 0% idle until now
    if (announce) {
        self->announced = hb;
        self->announced_ms = zclock_mono ();
    }
    return announce;
}

static int
s_on_swim_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_gossip_t *self = (s_gossip_t *) arg;
    gossip_net_reap (self->net);
    int64_t now = zclock_mono ();
    if (now >= self->swim_due)
        self->swim_due = swim_tick (self->swim, now);
    s_member_events (self);
    return 0;
}

static void
s_on_store_stats (void *arg, int rc, zmsg_t *reply, const char *error_code)
{
    s_gossip_t *self = (s_gossip_t *) arg;
    self->store_asking = false;
    if (rc != 0) {
        irh_debug ("store stats for the heartbeat: %s", error_code);
        return;
    }
    irh_table_t *table = irh_table_decode (reply);
    for (size_t row = 0; table && row < irh_table_rows (table); row++) {
        const char *name = irh_table_get (table, row, "name");
        const char *value = irh_table_get (table, row, "value");
        if (!name || !value)
            continue;
        if (streq (name, "entries"))
            self->store_entries = strtoull (value, NULL, 10);
        else
        if (streq (name, "claims_active"))
            self->store_claims = strtoull (value, NULL, 10);
    }
    irh_table_destroy (&table);
    //  Announce a change now rather than at the next sweep.
    if ((self->store_entries != self->self_node.hb.results
    ||   (self->store_claims != 0) != (self->self_node.hb.status == SWIM_STATUS_BUSY))
    &&  s_heartbeat (self))
        swim_update_self (self->swim, &self->self_node);
}

//  Ask the store for its stats (one request in flight at a time; a call
//  that gets no answer fails by itself after S_STORE_WAIT_MS).
static void
s_ask_store (s_gossip_t *self)
{
    if (!self->calls || self->store_asking)
        return;
    irh_stats_t request = { 0 };
    zframe_t *frame = irh_stats_encode (&request);
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    if (gossip_calls_send (self->calls, "store", &body, S_STORE_WAIT_MS, s_on_store_stats,
                           self) == 0)
        self->store_asking = true;
}

static int
s_on_slow_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_gossip_t *self = (s_gossip_t *) arg;
    s_ask_store (self);
    gossip_net_sweep (self->net, zclock_mono ());
    if (s_heartbeat (self))
        swim_update_self (self->swim, &self->self_node);
    return 0;
}

static int
s_on_worker_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_gossip_t *self = (s_gossip_t *) arg;
    irh_worker_tick (self->worker);
    return 0;
}

//  ---------------------------------------------------------------------
//  Broker requests

static const char *
s_state_name (swim_state_t state)
{
    return state == SWIM_ALIVE ? "alive" : state == SWIM_SUSPECT ? "suspect" : "dead";
}

static zmsg_t *
s_peers_table (s_gossip_t *self)
{
    irh_table_t *table = irh_table_new (
        "id:s\tname:s\taddress:s\tstate:s\trtt_us:u\tcpu_idle_ppm:u\tram_free:u\t"
        "load1_milli:u\tgpu:s\tgpu_mem_free:u\tstatus:s\tresults:u\tversion:s\t"
        "incarnation:u\tlast_seen_ms:u");
    int64_t now = zclock_mono ();
    size_t count = swim_size (self->swim);
    for (size_t i = 0; i < count; i++) {
        swim_member_t m;
        if (swim_member_at (self->swim, i, &m) != 0)
            continue;
        char id [IRH_NODE_ID_HEX + 1];
        irh_identity_id_from_key (m.node->id, id);
        irh_table_row (table);
        irh_table_str (table, id);
        irh_table_str (table, m.node->name);
        irh_table_str (table, m.node->address);
        irh_table_str (table, s_state_name (m.state));
        irh_table_u64 (table, m.rtt_us);
        irh_table_u64 (table, m.node->hb.cpu_idle_ppm);
        irh_table_u64 (table, m.node->hb.ram_free);
        irh_table_u64 (table, m.node->hb.load1_milli);
        irh_table_str (table, m.node->hb.gpu_model);
        irh_table_u64 (table, m.node->hb.gpu_mem_free);
        irh_table_str (table, m.node->hb.status ? "busy" : "idle");
        //  Results: estimated from its digests when we hold them (exact
        //  to a few percent and current), else its heartbeat's figure.
        uint64_t results = self->digests ? gossip_digests_results (self->digests, m.node->id) : 0;
        irh_table_u64 (table, results ? results : m.node->hb.results);
        irh_table_str (table, m.node->hb.version);
        irh_table_u64 (table, m.incarnation);
        irh_table_u64 (table, m.seen_ms > 0 && now > m.seen_ms ? (uint64_t) (now - m.seen_ms) : 0);
    }
    zmsg_t *reply = zmsg_new ();
    irh_table_append (table, reply);
    irh_table_destroy (&table);
    return reply;
}

static zmsg_t *
s_stats_table (s_gossip_t *self)
{
    irh_table_t *table = irh_table_new ("name:s\tvalue:u");
    gossip_counters_t *c = gossip_net_counters (self->net);
    const swim_stats_t *s = swim_stats (self->swim);
    const gossip_tofu_counters_t *t = gossip_tofu_counters (self->tofu);
    struct { const char *name; uint64_t value; } rows [] = {
        { "port", (uint64_t) gossip_net_port (self->net) },
        { "sandbox_landlock_abi", self->sandbox.landlock ? (uint64_t) self->sandbox.landlock_used_abi : 0 },
        { "sandbox_seccomp", self->sandbox.seccomp },
        { "members", swim_size (self->swim) },
        { "live", swim_live (self->swim) },
        { "incarnation", swim_incarnation (self->swim) },
        { "links_open", gossip_net_links (self->net) },
        { "inbound_open", gossip_net_inbound (self->net) },
        { "bad_frames", c->bad_frames },
        { "oversize", c->oversize },
        { "refused_hellos", c->refused_hellos },
        { "version_mismatch", c->version_mismatch },
        { "unknown_keys", c->unknown_keys },
        { "refused_by_peer", c->refused_by_peer },
        { "hellos_accepted", c->hellos_accepted },
        { "handshake_failed", c->handshake_failed },
        { "no_route", c->no_route },
        { "links_opened", c->links_opened },
        { "links_closed", c->links_closed },
        { "send_dropped", c->send_dropped },
        { "bad_packets", s->bad_packets },
        { "unexpected", s->unexpected },
        { "tx_packets", s->tx_packets },
        { "rx_packets", s->rx_packets },
        { "tx_bytes", s->tx_bytes },
        { "rx_bytes", s->rx_bytes },
        { "probes", s->probes },
        { "probe_failures", s->probe_failures },
        { "indirect_probes", s->indirect_probes },
        { "refutes", s->refutes },
        { "push_pulls", s->push_pulls },
        { "reconnects", s->reconnects },
        { "awareness", s->awareness },
        { "bad_requests", self->bad_requests },
        { "joins_skipped", self->joins_skipped },
        { "heartbeat_results", self->self_node.hb.results },
        { "key_port", (uint64_t) gossip_tofu_port (self->tofu) },
        { "known_nodes", gossip_tofu_pins (self->tofu) },
        { "key_answers", t->key_answers },
        { "key_bad_asks", t->key_bad_asks },
        { "key_rate_limited", t->key_rate_limited },
        { "tofu_fetches", t->fetches },
        { "tofu_fetch_failed", t->fetch_failed },
        { "tofu_bad_answers", t->bad_answers },
        { "tofu_pinned", t->pinned },
        { "tofu_pinned_joins", t->pinned_joins },
        { "tofu_key_changed", t->key_changed },
        { "tofu_pin_errors", t->pin_errors },
        { "known_nodes_bad_lines", t->bad_pin_lines },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, rows [i].name);
        irh_table_u64 (table, rows [i].value);
    }
    struct { const char *name; uint64_t value; } extra [] = {
        { "member_events_dropped", self->events_dropped },
        { "data_unrouted", self->data_unrouted },
    };
    for (size_t i = 0; i < sizeof extra / sizeof extra [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, extra [i].name);
        irh_table_u64 (table, extra [i].value);
    }
    if (self->calls)
        gossip_calls_stats (self->calls, table);
    if (self->xfer)
        gossip_xfer_stats (self->xfer, table);
    if (self->digests)
        gossip_digests_stats (self->digests, table);
    if (self->serve)
        gossip_serve_stats (self->serve, table);
    if (self->fetch)
        gossip_fetch_stats (self->fetch, table);
    if (self->ns)
        gossip_ns_stats (self->ns, table);
    zmsg_t *reply = zmsg_new ();
    irh_table_append (table, reply);
    irh_table_destroy (&table);
    return reply;
}

//  Start a contact with the member at address with key (a pinned id).
static void
s_join_key (void *arg, const char *address, const uint8_t *key)
{
    s_gossip_t *self = (s_gossip_t *) arg;
    if (memcmp (key, irh_identity_curve_public (self->identity), IRH_KEY_BYTES) == 0)
        return;
    //  Beacons repeat every second: a member already alive needs no
    //  push-pull (N^2 of them on a LAN otherwise). Suspect or dead
    //  ones get it: that is how a healed partition is noticed sooner.
    swim_member_t member;
    if (swim_member_find (self->swim, key, &member) == 0 && member.state == SWIM_ALIVE)
        self->joins_skipped++;
    else {
        char id [IRH_NODE_ID_HEX + 1];
        irh_identity_id_from_key (key, id);
        irh_info ("joining %s#%.12s...", address, id);
        swim_join (self->swim, address, key);
        self->swim_due = 0;
    }
}

static void
s_handle_join (s_gossip_t *self, irh_request_t *request, zframe_t *frame)
{
    irh_gossip_join_t join;
    uint8_t key [IRH_KEY_BYTES];
    if (irh_gossip_join_decode (frame, &join) != 0) {
        self->bad_requests++;
        irh_worker_error (self->worker, request, "bad-request", "join: %s", irh_msgs_error ());
        return;
    }
    if (!gossip_address_valid (join.address)) {
        self->bad_requests++;
        irh_worker_error (self->worker, request, "bad-request",
                          "join: '%s' is not tcp://HOST:PORT", join.address);
        return;
    }
    if (*join.node_id && irh_identity_key_from_id (join.node_id, key) != 0) {
        self->bad_requests++;
        irh_worker_error (self->worker, request, "bad-request",
                          "join: '%s' is not a node id (64 lowercase hex characters)",
                          join.node_id);
        return;
    }
    if (*join.node_id
    &&  memcmp (key, irh_identity_curve_public (self->identity), IRH_KEY_BYTES) == 0) {
        irh_worker_error (self->worker, request, "bad-request", "join: that is this node");
        return;
    }
    //  No node id: the key is fetched (or the pin used) and the join
    //  follows by itself; an explicit id is the user's pin and wins.
    if (!*join.node_id && gossip_tofu_join (self->tofu, join.address) != 0) {
        irh_worker_error (self->worker, request, "busy",
                          "join: too many first contacts under way; try again");
        return;
    }
    if (*join.node_id)
        s_join_key (self, join.address, key);
    zmsg_t *reply = zmsg_new ();
    irh_ok_t ok;
    memset (&ok, 0, sizeof ok);
    zframe_t *encoded = irh_ok_encode (&ok);
    zmsg_append (reply, &encoded);
    irh_worker_reply (self->worker, request, &reply);
}

//  gossip_lookup (the request is taken: answered when the lookup ends)
//  and gossip_fetches. -1 on a bad request (answered here).
static int
s_handle_fetch (s_gossip_t *self, irh_request_t **request_p, zframe_t *frame, int id)
{
    irh_request_t *request = *request_p;
    if (!self->fetch) {
        irh_worker_error (self->worker, request, "unavailable",
                          "gossip: results are not shared (no data socket or broker)");
        return 0;
    }
    if (id == IRH_MSG_GOSSIP_LOOKUP) {
        irh_gossip_lookup_t lookup;
        if (irh_gossip_lookup_decode (frame, &lookup) != 0) {
            irh_worker_error (self->worker, request, "bad-request", "gossip_lookup: %s",
                              irh_msgs_error ());
            return -1;
        }
        gossip_fetch_lookup (self->fetch, request_p, &lookup);
        return 0;
    }
    irh_gossip_fetches_t fetches;
    if (irh_gossip_fetches_decode (frame, &fetches) != 0) {
        irh_worker_error (self->worker, request, "bad-request", "gossip_fetches: %s",
                          irh_msgs_error ());
        return -1;
    }
    zmsg_t *reply = gossip_fetch_table (self->fetch, fetches.key);
    irh_worker_reply (self->worker, request, &reply);
    return 0;
}

static void
s_handle (s_gossip_t *self, irh_request_t *request)
{
    zframe_t *frame = zmsg_first (request->body);
    int id = irh_msgs_id (frame);
    zmsg_t *reply = NULL;
    if (id == IRH_MSG_PING) {
        irh_pong_t pong;
        memset (&pong, 0, sizeof pong);
        snprintf (pong.service, sizeof pong.service, "gossip");
        snprintf (pong.version, sizeof pong.version, "%s", IROHDS_VERSION);
        pong.pid = (uint32_t) getpid ();
        pong.uptime_ms = (uint64_t) (zclock_mono () - self->started_ms);
        reply = zmsg_new ();
        zframe_t *encoded = irh_pong_encode (&pong);
        zmsg_append (reply, &encoded);
    }
    else
    if (id == IRH_MSG_GOSSIP_PEERS)
        reply = s_peers_table (self);
    else
    if (id == IRH_MSG_GOSSIP_STATS)
        reply = s_stats_table (self);
    else
    if (id == IRH_MSG_GOSSIP_JOIN)
        s_handle_join (self, request, frame);
    else
    if (id == IRH_MSG_GOSSIP_LOOKUP || id == IRH_MSG_GOSSIP_FETCHES) {
        if (s_handle_fetch (self, &request, frame, id) != 0)
            self->bad_requests++;
    }
    else {
        self->bad_requests++;
        irh_worker_error (self->worker, request, id < 0 ? "bad-request" : "unknown-command",
                          "gossip does not know message %d (%s)", id, irh_msgs_name (id));
    }
    if (reply)
        irh_worker_reply (self->worker, request, &reply);
    irh_request_destroy (&request);
}

static int
s_on_worker (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    s_gossip_t *self = (s_gossip_t *) arg;
    irh_request_t *request = irh_worker_recv (self->worker);
    if (request)
        s_handle (self, request);
    return 0;
}

//  ---------------------------------------------------------------------
//  Setup

int
main (int argc, char *argv [])
{
    //  --check-sandbox: enter the sandbox, try the home, report, exit.
    bool check_sandbox = false;
    int count = 0;
    char **args = gossip_check_args (argc, argv, &count, &check_sandbox);
    if (!args)
        return 1;
    irh_actor_t actor;
    int status = irh_actor_init (&actor, "gossip", "gossip", false, count, args);
    free (args);                //  init keeps pointers into argv's strings, not args
    if (status >= 0) {
        irh_actor_cleanup (&actor);
        return status;
    }
    s_gossip_t self;
    memset (&self, 0, sizeof self);
    self.started_ms = zclock_mono ();
    char *err = NULL;
    self.identity = irh_identity_load_or_create (actor.paths->home, &err);
    if (!self.identity) {
        irh_error ("cannot load the node identity: %s", err ? err : "?");
        free (err);
        irh_actor_cleanup (&actor);
        return 1;
    }
    //  <home>/peers/ holds the known-nodes pins: made now, so the sandbox
    //  below can grant it (a rule for a missing path grants nothing).
    char *peers_dir = NULL;
    if (asprintf (&peers_dir, "%s/peers", actor.paths->home) < 0)
        peers_dir = NULL;
    if (!peers_dir || irh_file_private_dir (peers_dir, &err) != 0) {
        irh_error ("cannot make the known-nodes folder: %s; first contacts are not pinned",
                   err ? err : "out of memory");
        free (err);
        err = NULL;
        free (peers_dir);           //  never read or write through what is there
        peers_dir = NULL;
    }
    //  Least privilege from here on: the keys are loaded, no socket or
    //  thread exists yet (docs/security.md).
    irh_sandbox_enter_network_actor (actor.paths, true, &self.sandbox);
    if (check_sandbox) {
        status = gossip_check_sandbox (actor.paths, &self.sandbox);
        free (peers_dir);
        irh_identity_destroy (&self.identity);
        irh_actor_cleanup (&actor);
        return status;
    }
    self.ns = gossip_ns_new (actor.paths->ns, irh_identity_curve_public (self.identity));
    char dflt [32];
    snprintf (dflt, sizeof dflt, "tcp://0.0.0.0:%d", GOSSIP_DEFAULT_PORT);
    const char *listen = irh_config_str (actor.config, "peers.listen", dflt);
    if (!gossip_address_valid (listen)) {
        irh_warn ("peers.listen '%s' is not tcp://ADDR:PORT: using %s", listen, dflt);
        listen = dflt;
    }
    snprintf (self.listen, sizeof self.listen, "%s", listen);
    swim_node_t *node = &self.self_node;
    memcpy (node->id, irh_identity_curve_public (self.identity), SWIM_ID_SIZE);
    snprintf (node->name, sizeof node->name, "%s", irh_identity_name (self.identity));
    snprintf (node->hb.version, sizeof node->hb.version, "%s", IROHDS_VERSION);
    uint32_t gpus = 0;
    uint64_t gpu_total = 0;
    cap_sys_gpu (&gpus, node->hb.gpu_model, sizeof node->hb.gpu_model, &gpu_total,
                 &node->hb.gpu_mem_free);
    if (gpus == 0)
        node->hb.gpu_model [0] = 0;
    cap_sys_cpu_idle (&self.cpu, &node->hb.cpu_idle_ppm);      //  prime
    s_heartbeat (&self);

    self.loop = zloop_new ();
    self.net = gossip_net_new (self.identity, self.listen, self.loop, s_packet, &self);
    if (self.net) {
        irh_known_advertise (irh_config_str (actor.config, "peers.advertise", NULL), self.listen,
                             gossip_net_port (self.net), node->address,
                             sizeof node->address);
        gossip_net_advertise (self.net, node->address);
    }
    self.tofu = gossip_tofu_new (self.identity, peers_dir, self.loop, s_join_key, &self);
    free (peers_dir);
    if (self.net && irh_config_bool (actor.config, "peers.serve_key", true))
        gossip_tofu_serve (self.tofu, self.listen, gossip_net_port (self.net));
    swim_config_t config;
    swim_config_default (&config);
    config.seed = (uint64_t) getpid () ^ (uint64_t) zclock_time ();
    swim_host_t host = { s_send, s_event, s_now, &self, s_now_us };
    if (self.net)
        self.swim = swim_new (node, &config, &host);
    self.worker = irh_worker_new ("gossip", actor.broker, actor.bind);
    if (actor.broker)
        self.calls = gossip_calls_new (actor.broker, self.loop);
    //  The data plane needs the broker (store, cap) and the gossip port.
    if (self.calls && self.net && self.swim && self.worker) {
        self.events = zlist_new ();
        self.xfer = gossip_xfer_new (self.identity, self.listen, gossip_net_port (self.net),
                                     self.loop, s_on_data, &self);
    }
    if (self.xfer) {
        self.digests = gossip_digests_new (self.xfer, self.calls, self.swim, self.loop);
        self.serve = gossip_serve_new (self.xfer, self.calls, self.identity, actor.paths->home,
                                       self.loop);
        self.fetch = gossip_fetch_new (self.xfer, self.digests, self.calls, self.swim,
                                       self.worker, actor.paths->fetch, self.loop);
        gossip_digests_set_ns (self.digests, self.ns);
        gossip_serve_set_ns (self.serve, self.ns);
        gossip_fetch_set_ns (self.fetch, self.ns);
        if (self.ns)
            gossip_ns_start (self.ns, self.xfer, self.swim, self.loop,
                             gossip_digests_ns_joined, self.digests);
    }
    self.config = actor.config;         //  ours from here on
    actor.config = NULL;
    if (self.fetch)
        gossip_fetch_trust (self.fetch, self.net, self.config);
    irh_actor_cleanup (&actor);
    if (!self.net || !self.swim || !self.worker) {
        irh_error ("cannot start the gossip actor");
        return 1;
    }
    irh_info ("node %s (%s) listening on port %d (peers.listen %s) as %s",
              irh_identity_node_id (self.identity), node->name, gossip_net_port (self.net),
              self.listen, node->address);
    zloop_reader (self.loop, irh_worker_sock (self.worker), s_on_worker, &self);
    zloop_timer (self.loop, S_TICK_MS, 0, s_on_swim_timer, &self);
    zloop_timer (self.loop, S_SWEEP_MS, 0, s_on_slow_timer, &self);
    s_ask_store (&self);
    zloop_timer (self.loop, IRH_HEARTBEAT_MS / 4, 0, s_on_worker_timer, &self);
    zloop_start (self.loop);

    irh_info ("stopping");
    swim_leave (self.swim);
    //  The data plane before swim (digests hold it) and calls last (the
    //  others cancel theirs on it).
    gossip_fetch_destroy (&self.fetch);
    gossip_serve_destroy (&self.serve);
    gossip_digests_destroy (&self.digests);
    //  Namespaces after their users, before the loop (its timers) and
    //  xfer (its pushes) go.
    gossip_ns_destroy (&self.ns);
    gossip_xfer_destroy (&self.xfer);
    gossip_calls_destroy (&self.calls);     //  its reader is on the loop: before it
    swim_destroy (&self.swim);
    gossip_tofu_destroy (&self.tofu);
    gossip_net_destroy (&self.net);
    zloop_destroy (&self.loop);
    irh_worker_destroy (&self.worker);
    if (self.events) {
        s_member_event_t *queued;
        while ((queued = (s_member_event_t *) zlist_pop (self.events)))
            free (queued);
        zlist_destroy (&self.events);
    }
    gossip_ns_destroy (&self.ns);           //  if the loop never ran (no data plane)
    irh_identity_destroy (&self.identity);
    irh_config_destroy (&self.config);
    irh_log_close ();
    return 0;
}
