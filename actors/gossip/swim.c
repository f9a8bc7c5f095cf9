/*  swim.c: the SWIM membership state machine with Lifeguard refinements
    (socket-free, clock injected). Member table, merge rules (alive /
    suspect / dead with incarnations and self-refutation), suspicion
    timers shortened by independent confirmations, and the packet
    handlers. Timers (probe, gossip, push-pull, reconnect) are in
    swim_timers.c. Protocol and parameters: docs/gossip.md.
*/
#include "swim_core.h"
#include "irh_hash.h"
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void
swim_config_lan (swim_config_t *config)
{
    assert (config);
    memset (config, 0, sizeof (*config));
    config->probe_interval_ms = 1000;
    config->probe_timeout_ms = 500;
    config->indirect_checks = 3;
    config->suspicion_mult = 4;
    config->suspicion_max_mult = 6;
    config->awareness_max = 8;
    config->gossip_interval_ms = 200;
    config->gossip_nodes = 3;
    config->retransmit_mult = 4;
    config->gossip_to_dead_ms = 30000;
    config->push_pull_interval_ms = 30000;
    config->reconnect_interval_ms = 30000;
    config->dead_keep_ms = 24ULL * 3600 * 1000;
    config->seed = 1;
}

void
swim_config_default (swim_config_t *config)
{
    //  Tuned with irohds-gossip-sim (docs/gossip.md): faster probes and a
    //  shorter suspicion to detect a crash within 5 s at 50 nodes, more
    //  gossip fan-out so a join reaches 10,000 nodes within 3 s (p99).
    swim_config_lan (config);
    config->probe_interval_ms = 400;
    config->probe_timeout_ms = 200;
    config->suspicion_mult = 3;
    config->gossip_interval_ms = 100;
    config->gossip_nodes = 4;
}

uint64_t
swim_rand (swim_t *self)
{
    //  splitmix64: small, fast, and a seed gives the same run twice.
    uint64_t z = (self->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

swim_t *
swim_new (const swim_node_t *self_node, const swim_config_t *config, const swim_host_t *host)
{
    assert (self_node && config && host && host->send && host->now);
    assert (config->probe_interval_ms > 0 && config->gossip_interval_ms > 0);
    assert (config->push_pull_interval_ms > 0 && config->reconnect_interval_ms > 0);
    swim_t *self = calloc (1, sizeof (swim_t));
    assert (self);
    self->config = *config;
    self->host = *host;
    self->rng = config->seed;
    self->self_rec = swim_pool_intern (self_node);
    self->queue = swim_queue_new ();
    int64_t now = host->now (host->arg);
    self->next_probe = now + (int64_t) (swim_rand (self) % config->probe_interval_ms);
    self->next_gossip = now + config->gossip_interval_ms;
    //  Push-pull and reconnect start on the first tick, at a random point
    //  of their interval, so nodes started together do not sync together.
    return self;
}

void
swim_destroy (swim_t **self_p)
{
    assert (self_p);
    swim_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        swim_pool_release (self->members [i].rec);
    swim_pool_release (self->self_rec);
    free (self->members);
    free (self->slots);
    free (self->suspicions);
    free (self->relays);
    swim_queue_destroy (&self->queue);
    free (self);
    *self_p = NULL;
}

const uint8_t *
swim_self_id (swim_t *self)
{
    return swim_pool_get (self->self_rec)->id;
}

//  --------------------------------------------------------------------
//  Member table: an array (probe order, shuffled each round) and an
//  open-addressing index of id -> position, rebuilt after a shuffle.

static uint32_t
s_slot_of (swim_t *self, const uint8_t *id)
{
    return (uint32_t) (irh_xxh64 (id, SWIM_ID_SIZE, 0) & (self->nslots - 1));
}

void
swim_index_rebuild (swim_t *self)
{
    size_t want = 16;
    while (want * 2 < self->count * 3)
        want *= 2;
    if (want != self->nslots) {
        free (self->slots);
        self->slots = malloc (want * sizeof (uint32_t));
        assert (self->slots);
        self->nslots = want;
    }
    memset (self->slots, 0, self->nslots * sizeof (uint32_t));
    for (size_t i = 0; i < self->count; i++) {
        uint32_t s = s_slot_of (self, swim_pool_get (self->members [i].rec)->id);
        while (self->slots [s])
            s = (s + 1) & (self->nslots - 1);
        self->slots [s] = (uint32_t) i + 1;
    }
}

swim_entry_t *
swim_lookup (swim_t *self, const uint8_t *id)
{
    if (!self->nslots)
        return NULL;
    for (uint32_t s = s_slot_of (self, id); self->slots [s]; s = (s + 1) & (self->nslots - 1)) {
        swim_entry_t *m = &self->members [self->slots [s] - 1];
        if (memcmp (swim_pool_get (m->rec)->id, id, SWIM_ID_SIZE) == 0)
            return m;
    }
    return NULL;
}

//  Insert at a random position (memberlist does the same, so a newcomer
//  is probed within a round without favouring old members).
static swim_entry_t *
s_insert (swim_t *self, uint32_t rec)
{
    if (self->count == self->cap) {
        //  Grow by a quarter: at 10,000 members doubling would waste
        //  hundreds of MB across a simulated cluster.
        self->cap = self->cap + self->cap / 4 + 16;
        self->members = realloc (self->members, self->cap * sizeof (swim_entry_t));
        assert (self->members);
    }
    size_t at = self->count ? (size_t) (swim_rand (self) % (self->count + 1)) : 0;
    self->members [self->count] = self->members [at];
    memset (&self->members [at], 0, sizeof (swim_entry_t));
    self->members [at].rec = rec;
    self->count++;
    if (self->count * 3 > self->nslots * 2)
        swim_index_rebuild (self);
    else {
        //  The member moved to the end keeps its id: repoint its slot.
        if (at != self->count - 1) {
            const uint8_t *id = swim_pool_get (self->members [self->count - 1].rec)->id;
            uint32_t s = s_slot_of (self, id);
            while (self->slots [s] != at + 1)
                s = (s + 1) & (self->nslots - 1);
            self->slots [s] = (uint32_t) self->count;
        }
        uint32_t s = s_slot_of (self, swim_pool_get (rec)->id);
        while (self->slots [s])
            s = (s + 1) & (self->nslots - 1);
        self->slots [s] = (uint32_t) at + 1;
    }
    return &self->members [at];
}

void
swim_member_fill (swim_t *self, const swim_entry_t *m, swim_member_t *out)
{
    (void) self;
    out->node = swim_pool_get (m->rec);
    out->state = (swim_state_t) m->state;
    out->incarnation = m->incarnation;
    out->rtt_us = m->rtt_us;
    out->changed_ms = m->changed_ms;
    out->seen_ms = m->seen_ms;
}

static void
s_event (swim_t *self, swim_event_t event, const swim_entry_t *m)
{
    if (!self->host.event)
        return;
    swim_member_t info;
    swim_member_fill (self, m, &info);
    self->host.event (self->host.arg, event, &info);
}

size_t
swim_size (swim_t *self)
{
    assert (self);
    return self->count;
}

size_t
swim_live (swim_t *self)
{
    assert (self);
    return self->live;
}

int
swim_member_at (swim_t *self, size_t index, swim_member_t *member)
{
    assert (self && member);
    if (index >= self->count)
        return -1;
    swim_member_fill (self, &self->members [index], member);
    return 0;
}

int
swim_member_find (swim_t *self, const uint8_t *id, swim_member_t *member)
{
    assert (self && id && member);
    swim_entry_t *m = swim_lookup (self, id);
    if (!m)
        return -1;
    swim_member_fill (self, m, member);
    return 0;
}

uint32_t
swim_incarnation (swim_t *self)
{
    assert (self);
    return self->incarnation;
}

const swim_stats_t *
swim_stats (swim_t *self)
{
    assert (self);
    self->stats.gossip_dropped = swim_queue_dropped (self->queue);
    return &self->stats;
}

//  Forget dead members older than dead_keep_ms (Serf's reconnect
//  timeout): compaction, then one index rebuild.
void
swim_purge (swim_t *self, int64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->count; i++) {
        swim_entry_t *m = &self->members [i];
        if (m->state == SWIM_DEAD && now - m->changed_ms >= (int64_t) self->config.dead_keep_ms) {
            s_event (self, SWIM_EVENT_FORGET, m);
            swim_pool_release (m->rec);
            continue;
        }
        self->members [kept++] = *m;
    }
    if (kept != self->count) {
        self->count = kept;
        self->probe_index = 0;
        swim_index_rebuild (self);
    }
}

//  --------------------------------------------------------------------
//  Encoding gossip about members, and queueing it.

static void
s_node_to_msg (const swim_node_t *node, uint8_t state, uint32_t incarnation,
               irh_peer_member_t *msg)
{
    memset (msg, 0, sizeof (*msg));
    msg->state = state;
    msg->incarnation = incarnation;
    memcpy (msg->node, node->id, SWIM_ID_SIZE);
    memcpy (msg->address, node->address, sizeof (msg->address));
    memcpy (msg->name, node->name, sizeof (msg->name));
    msg->cpu_idle_ppm = node->hb.cpu_idle_ppm;
    msg->ram_free = node->hb.ram_free;
    msg->load1_milli = node->hb.load1_milli;
    memcpy (msg->gpu_model, node->hb.gpu_model, sizeof (msg->gpu_model));
    msg->gpu_mem_free = node->hb.gpu_mem_free;
    msg->status = node->hb.status;
    msg->results = node->hb.results;
    memcpy (msg->version, node->hb.version, sizeof (msg->version));
}

static void
s_msg_to_node (const irh_peer_member_t *msg, swim_node_t *node)
{
    memset (node, 0, sizeof (*node));
    memcpy (node->id, msg->node, SWIM_ID_SIZE);
    memcpy (node->address, msg->address, sizeof (msg->address));
    memcpy (node->name, msg->name, sizeof (msg->name));
    node->hb.cpu_idle_ppm = msg->cpu_idle_ppm;
    node->hb.ram_free = msg->ram_free;
    node->hb.load1_milli = msg->load1_milli;
    memcpy (node->hb.gpu_model, msg->gpu_model, sizeof (msg->gpu_model));
    node->hb.gpu_mem_free = msg->gpu_mem_free;
    node->hb.status = msg->status;
    node->hb.results = msg->results;
    memcpy (node->hb.version, msg->version, sizeof (msg->version));
}

//  Encode the member record of rec (with state and incarnation) as a
//  length-prefixed message at buf; returns bytes written or 0.
size_t
swim_put_member (uint32_t rec, uint8_t state, uint32_t incarnation, uint8_t *buf, size_t cap)
{
    irh_peer_member_t msg;
    s_node_to_msg (swim_pool_get (rec), state, incarnation, &msg);
    if (cap < 2)
        return 0;
    size_t size = irh_peer_member_encode_buf (&msg, buf + 2, cap - 2);
    if (size == 0)
        return 0;
    buf [0] = (uint8_t) (size >> 8);
    buf [1] = (uint8_t) size;
    return size + 2;
}

void
swim_broadcast_alive (swim_t *self, uint32_t rec, uint32_t incarnation)
{
    uint8_t buf [SWIM_PACKET_MAX];
    size_t size = swim_put_member (rec, SWIM_ALIVE, incarnation, buf, sizeof (buf));
    assert (size);
    swim_queue_push (self->queue, swim_pool_get (rec)->id, buf + 2, size - 2);
}

static void
s_broadcast_accuse (swim_t *self, bool dead, uint32_t incarnation, const uint8_t *node,
                    const uint8_t *from)
{
    uint8_t buf [128];
    size_t size;
    if (dead) {
        irh_peer_dead_t msg = { .incarnation = incarnation };
        memcpy (msg.node, node, SWIM_ID_SIZE);
        memcpy (msg.accuser, from, SWIM_ID_SIZE);
        size = irh_peer_dead_encode_buf (&msg, buf, sizeof (buf));
    }
    else {
        irh_peer_suspect_t msg = { .incarnation = incarnation };
        memcpy (msg.node, node, SWIM_ID_SIZE);
        memcpy (msg.accuser, from, SWIM_ID_SIZE);
        size = irh_peer_suspect_encode_buf (&msg, buf, sizeof (buf));
    }
    assert (size);
    swim_queue_push (self->queue, node, buf, size);
}

//  --------------------------------------------------------------------
//  Merge rules (memberlist's aliveNode / suspectNode / deadNode).

static void
s_set_state (swim_t *self, swim_entry_t *m, uint8_t state, int64_t now)
{
    bool was_live = m->state == SWIM_ALIVE || m->state == SWIM_SUSPECT;
    bool is_live = state == SWIM_ALIVE || state == SWIM_SUSPECT;
    if (was_live && !is_live)
        self->live--;
    else
    if (!was_live && is_live)
        self->live++;
    if (m->state != state)
        m->changed_ms = now;
    m->state = state;
}

//  Someone doubts we are alive at incarnation: outbid them. If we already
//  did (their news is older than our refutation), they missed it: send
//  the refutation round again rather than a new incarnation.
void
swim_refute (swim_t *self, uint32_t incarnation)
{
    if (self->leaving)
        return;
    if (incarnation == UINT32_MAX) {
        //  Cannot be outbid (a forged or corrupt accusation): refuse it
        //  rather than wrap to 0 and lose every future refutation.
        self->stats.unexpected++;
        return;
    }
    if (incarnation >= self->incarnation) {
        self->incarnation = incarnation + 1;
        self->stats.refutes++;
        swim_awareness (self, 1);
    }
    swim_broadcast_alive (self, self->self_rec, self->incarnation);
}

void
swim_on_alive (swim_t *self, const irh_peer_member_t *msg, int64_t now, bool gossip)
{
    if (memcmp (msg->node, swim_self_id (self), SWIM_ID_SIZE) == 0) {
        //  Our own record, newer than ours: an old run of us, or a forgery
        //  the transport let through. Either way, outbid it.
        if (msg->incarnation > self->incarnation)
            swim_refute (self, msg->incarnation);
        return;
    }
    swim_entry_t *m = swim_lookup (self, msg->node);
    if (m && msg->incarnation <= m->incarnation)
        return;
    if (!m && self->count >= SWIM_MEMBERS_MAX) {
        self->stats.unexpected++;
        return;
    }
    swim_node_t node;
    s_msg_to_node (msg, &node);
    uint32_t rec = swim_pool_intern (&node);
    swim_event_t event;
    if (!m) {
        m = s_insert (self, rec);
        m->state = SWIM_DEAD;       //  so s_set_state counts it live
        event = SWIM_EVENT_JOIN;
    }
    else {
        event = m->state != SWIM_ALIVE ? SWIM_EVENT_ALIVE
              : m->rec != rec ? SWIM_EVENT_UPDATE : 0;
        swim_pool_release (m->rec);
        m->rec = rec;
        m->flags &= ~SWIM_FLAG_LEFT;
    }
    m->incarnation = msg->incarnation;
    swim_suspicion_drop (self, msg->node);
    s_set_state (self, m, SWIM_ALIVE, now);
    if (gossip)
        swim_broadcast_alive (self, rec, msg->incarnation);
    if (event)
        s_event (self, event, m);
}

void
swim_on_suspect (swim_t *self, uint32_t incarnation, const uint8_t *node,
                 const uint8_t *from, int64_t now)
{
    if (memcmp (node, swim_self_id (self), SWIM_ID_SIZE) == 0) {
        swim_refute (self, incarnation);
        return;
    }
    swim_entry_t *m = swim_lookup (self, node);
    if (!m || incarnation < m->incarnation || m->state == SWIM_DEAD)
        return;
    if (m->state == SWIM_SUSPECT) {
        //  Lifeguard: an independent confirmation shortens the timer;
        //  pass it on so others count it too.
        if (swim_suspicion_confirm (self, node, from, now))
            s_broadcast_accuse (self, false, incarnation, node, from);
        return;
    }
    m->incarnation = incarnation;
    s_set_state (self, m, SWIM_SUSPECT, now);
    swim_suspicion_start (self, node, incarnation, from, now);
    s_broadcast_accuse (self, false, incarnation, node, from);
    s_event (self, SWIM_EVENT_SUSPECT, m);
}

void
swim_on_dead (swim_t *self, uint32_t incarnation, const uint8_t *node,
              const uint8_t *from, int64_t now)
{
    bool leaving = memcmp (node, from, SWIM_ID_SIZE) == 0;
    if (memcmp (node, swim_self_id (self), SWIM_ID_SIZE) == 0) {
        if (!leaving)
            swim_refute (self, incarnation);
        return;
    }
    swim_entry_t *m = swim_lookup (self, node);
    if (!m || incarnation < m->incarnation || m->state == SWIM_DEAD)
        return;
    m->incarnation = incarnation;
    if (leaving)
        m->flags |= SWIM_FLAG_LEFT;
    swim_suspicion_drop (self, node);
    s_set_state (self, m, SWIM_DEAD, now);
    s_broadcast_accuse (self, true, incarnation, node, from);
    s_event (self, SWIM_EVENT_DEAD, m);
}

void
swim_add_member (swim_t *self, const swim_node_t *node, uint32_t incarnation)
{
    assert (self && node);
    irh_peer_member_t msg;
    s_node_to_msg (node, SWIM_ALIVE, incarnation, &msg);
    int64_t now = self->host.now (self->host.arg);
    //  Not news to anyone: learn it without gossiping it on.
    swim_on_alive (self, &msg, now, false);
}

void
swim_update_self (swim_t *self, const swim_node_t *node)
{
    assert (self && node);
    assert (memcmp (node->id, swim_self_id (self), SWIM_ID_SIZE) == 0);
    uint32_t rec = swim_pool_intern (node);
    swim_pool_release (self->self_rec);
    self->self_rec = rec;
    self->incarnation++;
    swim_broadcast_alive (self, rec, self->incarnation);
}

//  --------------------------------------------------------------------
//  Suspicion timers: min..max, shortened as independent confirmations
//  arrive (Lifeguard): timeout = max - (max - min) * log(c + 1) / log(k + 1).

static swim_suspicion_t *
s_suspicion_find (swim_t *self, const uint8_t *node)
{
    for (size_t i = 0; i < self->nsuspicions; i++)
        if (memcmp (self->suspicions [i].node, node, SWIM_ID_SIZE) == 0)
            return &self->suspicions [i];
    return NULL;
}

static void
s_suspicion_deadline (swim_suspicion_t *s)
{
    double timeout = s->min_ms;
    if (s->k > 0 && s->confirmations < s->k) {
        double frac = log (s->confirmations + 1.0) / log (s->k + 1.0);
        timeout = s->max_ms - (s->max_ms - s->min_ms) * frac;
        if (timeout < s->min_ms)
            timeout = s->min_ms;
    }
    s->deadline = s->start + (int64_t) floor (timeout);
}

void
swim_suspicion_start (swim_t *self, const uint8_t *node, uint32_t incarnation,
                      const uint8_t *from, int64_t now)
{
    swim_suspicion_drop (self, node);
    if (self->nsuspicions == self->suspicions_cap) {
        self->suspicions_cap = self->suspicions_cap ? self->suspicions_cap * 2 : 8;
        self->suspicions = realloc (self->suspicions,
                                    self->suspicions_cap * sizeof (swim_suspicion_t));
        assert (self->suspicions);
    }
    swim_suspicion_t *s = &self->suspicions [self->nsuspicions++];
    memset (s, 0, sizeof (*s));
    memcpy (s->node, node, SWIM_ID_SIZE);
    memcpy (s->from [0], from, SWIM_ID_SIZE);
    s->incarnation = incarnation;
    s->start = now;
    size_t n = self->live + 1;
    double scale = n > 10 ? log10 ((double) n) : 1.0;
    s->min_ms = (uint32_t) (self->config.suspicion_mult * scale
                            * self->config.probe_interval_ms);
    //  Check on the suspect ourselves now (we did not accuse it) or after
    //  an interval (we just failed to reach it), then every two.
    s->check_at = now;
    if (memcmp (from, swim_self_id (self), SWIM_ID_SIZE) == 0)
        s->check_at += self->config.probe_interval_ms;
    s->max_ms = self->config.suspicion_max_mult * s->min_ms;
    s->k = self->config.suspicion_mult > 2 ? self->config.suspicion_mult - 2 : 0;
    if (n < (size_t) s->k + 2)
        s->k = 0;
    if (s->k > SWIM_CONFIRM_MAX)
        s->k = SWIM_CONFIRM_MAX;
    s_suspicion_deadline (s);
}

bool
swim_suspicion_confirm (swim_t *self, const uint8_t *node, const uint8_t *from, int64_t now)
{
    (void) now;
    swim_suspicion_t *s = s_suspicion_find (self, node);
    if (!s || s->confirmations >= s->k)
        return false;
    for (uint32_t i = 0; i <= s->confirmations; i++)
        if (memcmp (s->from [i], from, SWIM_ID_SIZE) == 0)
            return false;
    memcpy (s->from [++s->confirmations], from, SWIM_ID_SIZE);
    s_suspicion_deadline (s);
    return true;
}

void
swim_suspicion_drop (swim_t *self, const uint8_t *node)
{
    swim_suspicion_t *s = s_suspicion_find (self, node);
    if (s)
        *s = self->suspicions [--self->nsuspicions];
}

//  Suspicions that ran out become deaths; returns the next deadline.
int64_t
swim_suspicion_expire (swim_t *self, int64_t now)
{
    int64_t next = INT64_MAX;
    size_t i = 0;
    while (i < self->nsuspicions) {
        swim_suspicion_t *s = &self->suspicions [i];
        if (s->deadline <= now) {
            uint8_t node [SWIM_ID_SIZE];
            memcpy (node, s->node, SWIM_ID_SIZE);
            uint32_t incarnation = s->incarnation;
            //  swim_on_dead drops the suspicion (moving another into i).
            swim_on_dead (self, incarnation, node, swim_self_id (self), now);
            if (i < self->nsuspicions && memcmp (self->suspicions [i].node, node, SWIM_ID_SIZE) == 0)
                swim_suspicion_drop (self, node);
            continue;
        }
        if (s->check_at <= now) {
            //  A ping with seq 0 (no probe waits for it) carrying the
            //  accusation: if the suspect is alive, its ack brings back
            //  its refutation. Gossip alone misses a node now and then,
            //  and one missed refutation is a false death.
            s->check_at = now + 2 * (int64_t) self->config.probe_interval_ms;
            swim_entry_t *m = swim_lookup (self, s->node);
            if (m)
                swim_send_ping (self, m, 0);
        }
        if (s->deadline < next)
            next = s->deadline;
        if (s->check_at < next)
            next = s->check_at;
        i++;
    }
    return next;
}
