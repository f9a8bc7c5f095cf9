/*  swim_timers.c: swim's clock-driven work. One probe per (stretched)
    interval in shuffled round-robin order, with indirect probes through
    k others when the direct one times out; Lifeguard's local health
    score; gossip rounds; push-pull anti-entropy; Serf-style reconnects
    to dead members so partitions heal by themselves; join and leave.
*/
#include "swim_core.h"
#include <assert.h>
#include <math.h>
#include <string.h>

//  Lifeguard local health: missed nacks and refutations mean *we* may be
//  the slow one, so we probe less often and wait longer before accusing.
void
swim_awareness (swim_t *self, int delta)
{
    int64_t score = (int64_t) self->awareness + delta;
    if (score < 0)
        score = 0;
    if (score > (int64_t) self->config.awareness_max - 1)
        score = self->config.awareness_max ? self->config.awareness_max - 1 : 0;
    self->awareness = (uint32_t) score;
    self->stats.awareness = self->awareness;
}

static bool
s_gossip_target (swim_t *self, const swim_entry_t *m, int64_t now)
{
    if (m->state == SWIM_ALIVE || m->state == SWIM_SUSPECT)
        return true;
    return !(m->flags & SWIM_FLAG_LEFT)
        && now - m->changed_ms < (int64_t) self->config.gossip_to_dead_ms;
}

//  Up to k distinct random members (not exclude) that pass the filter;
//  bounded tries, as memberlist's kRandomNodes.
static size_t
s_random_members (swim_t *self, size_t k, const uint8_t *exclude, int want_state,
                  int64_t now, swim_entry_t **out)
{
    size_t found = 0;
    for (size_t tries = 0; found < k && tries < 3 * self->count + 3 && self->count; tries++) {
        swim_entry_t *m = &self->members [swim_rand (self) % self->count];
        if (want_state ? m->state != want_state : !s_gossip_target (self, m, now))
            continue;
        if (exclude && memcmp (swim_pool_get (m->rec)->id, exclude, SWIM_ID_SIZE) == 0)
            continue;
        bool dup = false;
        for (size_t i = 0; i < found; i++)
            dup |= out [i] == m;
        if (!dup)
            out [found++] = m;
    }
    return found;
}

static void
s_shuffle (swim_t *self)
{
    for (size_t i = self->count; i > 1; i--) {
        size_t j = (size_t) (swim_rand (self) % i);
        swim_entry_t tmp = self->members [i - 1];
        self->members [i - 1] = self->members [j];
        self->members [j] = tmp;
    }
    swim_index_rebuild (self);
}

//  Finish the current probe once it has an answer or ran out of time.
static void
s_probe_check (swim_t *self, int64_t now)
{
    if (!self->probe.active)
        return;
    if (self->probe.acked) {
        self->probe.active = false;
        swim_awareness (self, -1);
        return;
    }
    swim_entry_t *target = swim_lookup (self, self->probe.target);
    if (!target) {
        self->probe.active = false;     //  forgotten meanwhile
        return;
    }
    if (!self->probe.indirect && now >= self->probe.timeout_at) {
        self->probe.indirect = true;
        swim_entry_t *via [16];
        size_t k = self->config.indirect_checks < 16 ? self->config.indirect_checks : 16;
        size_t n = s_random_members (self, k, self->probe.target, SWIM_ALIVE, now, via);
        for (size_t i = 0; i < n; i++)
            swim_send_ping_req (self, via [i], target, self->probe.seq);
        self->probe.expected_nacks = (uint32_t) n;
        self->stats.indirect_probes += n;
    }
    if (now >= self->probe.deadline) {
        self->probe.active = false;
        self->stats.probe_failures++;
        uint32_t missed = self->probe.expected_nacks > self->probe.nacks
                        ? self->probe.expected_nacks - self->probe.nacks : 0;
        self->stats.nacks_missed += missed;
        swim_awareness (self, self->probe.expected_nacks ? (int) missed : 1);
        if (target->state == SWIM_ALIVE)
            swim_on_suspect (self, target->incarnation, self->probe.target,
                             swim_self_id (self), now);
    }
}

static void
s_probe_start (swim_t *self, int64_t now)
{
    swim_entry_t *target = NULL;
    for (size_t tries = 0; tries <= self->count && !target; tries++) {
        if (self->probe_index >= self->count) {
            //  End of a round: forget the long dead, then a new order.
            swim_purge (self, now);
            s_shuffle (self);
            self->probe_index = 0;
            if (self->count == 0)
                return;
        }
        swim_entry_t *m = &self->members [self->probe_index++];
        if (m->state != SWIM_DEAD)
            target = m;
    }
    if (!target)
        return;
    uint32_t scale = self->awareness + 1;
    memset (&self->probe, 0, sizeof (self->probe));
    self->probe.active = true;
    self->probe.seq = swim_next_seq (self);
    memcpy (self->probe.target, swim_pool_get (target->rec)->id, SWIM_ID_SIZE);
    self->probe.sent = now;
    self->probe.sent_us = swim_now_us (self);
    self->probe.timeout_at = now + (int64_t) self->config.probe_timeout_ms * scale;
    self->probe.deadline = now + (int64_t) self->config.probe_interval_ms * scale;
    self->stats.probes++;
    swim_send_ping (self, target, self->probe.seq);
}

//  memberlist's pushPullScale: above 32 members, sync less often, so the
//  cluster-wide rate of full-state transfers grows only logarithmically.
static int64_t
s_push_pull_interval (swim_t *self)
{
    double n = (double) self->live + 1;
    double mult = n <= 32 ? 1 : ceil (log2 (n) - log2 (32.0)) + 1;
    return (int64_t) (self->config.push_pull_interval_ms * mult);
}

static void
s_reconnect (swim_t *self, int64_t now)
{
    //  Serf: pick one failed member with probability failed / alive, so a
    //  big cluster does not storm a few dead nodes, yet two halves of a
    //  partition (each dead to the other) keep knocking until they merge.
    size_t failed = 0;
    for (size_t i = 0; i < self->count; i++)
        failed += self->members [i].state == SWIM_DEAD
               && !(self->members [i].flags & SWIM_FLAG_LEFT);
    if (failed == 0)
        return;
    double prob = (double) failed / (double) (self->live + 1);
    if ((double) (swim_rand (self) % 1000000) / 1e6 > prob)
        return;
    size_t pick = (size_t) (swim_rand (self) % failed);
    for (size_t i = 0; i < self->count; i++) {
        swim_entry_t *m = &self->members [i];
        if (m->state != SWIM_DEAD || (m->flags & SWIM_FLAG_LEFT) || pick--)
            continue;
        const swim_node_t *node = swim_pool_get (m->rec);
        self->stats.reconnects++;
        swim_send_push_pull (self, node->id, node->address, true);
        (void) now;
        return;
    }
}

static int64_t
s_min (int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int64_t
swim_tick (swim_t *self, int64_t now)
{
    assert (self);
    s_probe_check (self, now);
    size_t i = 0;
    while (i < self->nrelays) {
        swim_relay_t *r = &self->relays [i];
        if (r->nack_at <= now) {
            uint8_t requester [SWIM_ID_SIZE];
            uint32_t seq = r->seq_in;
            memcpy (requester, r->requester, SWIM_ID_SIZE);
            *r = self->relays [--self->nrelays];
            swim_entry_t *m = swim_lookup (self, requester);
            if (m) {
                uint8_t buf [16];
                irh_peer_nack_t msg = { .seq = seq };
                size_t size = irh_peer_nack_encode_buf (&msg, buf + 2, sizeof (buf) - 2);
                buf [0] = 0;
                buf [1] = (uint8_t) size;
                const swim_node_t *node = swim_pool_get (m->rec);
                swim_send (self, node->id, node->address, buf, size + 2);
            }
            continue;
        }
        i++;
    }
    int64_t next = swim_suspicion_expire (self, now);
    if (self->next_push_pull == 0) {
        self->next_push_pull = now + (int64_t) (swim_rand (self)
                                                % (uint64_t) s_push_pull_interval (self)) + 1;
        self->next_reconnect = now + (int64_t) (swim_rand (self)
                                                % self->config.reconnect_interval_ms) + 1;
    }
    if (now >= self->next_probe && !self->leaving) {
        s_probe_check (self, self->probe.deadline > now ? self->probe.deadline : now);
        s_probe_start (self, now);
        self->next_probe = now + (int64_t) self->config.probe_interval_ms * (self->awareness + 1);
    }
    if (now >= self->next_gossip) {
        swim_entry_t *to [16];
        size_t k = self->config.gossip_nodes < 16 ? self->config.gossip_nodes : 16;
        size_t n = swim_queue_size (self->queue)
                 ? s_random_members (self, k, NULL, 0, now, to) : 0;
        for (size_t j = 0; j < n; j++)
            swim_send_gossip (self, to [j]);
        self->next_gossip = now + self->config.gossip_interval_ms;
    }
    if (now >= self->next_push_pull && !self->leaving) {
        swim_entry_t *to;
        if (s_random_members (self, 1, NULL, SWIM_ALIVE, now, &to) == 1) {
            const swim_node_t *node = swim_pool_get (to->rec);
            swim_send_push_pull (self, node->id, node->address, true);
        }
        self->next_push_pull = now + s_push_pull_interval (self);
    }
    if (now >= self->next_reconnect && !self->leaving) {
        s_reconnect (self, now);
        self->next_reconnect = now + self->config.reconnect_interval_ms;
    }
    next = s_min (next, s_min (self->next_probe, self->next_gossip));
    next = s_min (next, s_min (self->next_push_pull, self->next_reconnect));
    if (self->probe.active)
        next = s_min (next, self->probe.indirect ? self->probe.deadline : self->probe.timeout_at);
    for (size_t j = 0; j < self->nrelays; j++)
        next = s_min (next, self->relays [j].nack_at);
    return next;
}

void
swim_join (swim_t *self, const char *address, const uint8_t *id)
{
    assert (self && address);
    swim_send_push_pull (self, id, address, true);
}

void
swim_leave (swim_t *self)
{
    assert (self);
    self->leaving = true;
    irh_peer_dead_t msg = { .incarnation = self->incarnation };
    memcpy (msg.node, swim_self_id (self), SWIM_ID_SIZE);
    memcpy (msg.accuser, swim_self_id (self), SWIM_ID_SIZE);
    uint8_t buf [128];
    size_t size = irh_peer_dead_encode_buf (&msg, buf, sizeof (buf));
    assert (size);
    swim_queue_push (self->queue, msg.node, buf, size);
    int64_t now = self->host.now (self->host.arg);
    swim_entry_t *to [16];
    size_t k = self->config.gossip_nodes < 16 ? self->config.gossip_nodes : 16;
    size_t n = s_random_members (self, k, NULL, SWIM_ALIVE, now, to);
    for (size_t j = 0; j < n; j++)
        swim_send_gossip (self, to [j]);
}
