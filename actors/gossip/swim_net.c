/*  swim_net.c: the in-memory network of swim nodes (see swim_net.h).
    A binary heap of events (packet deliveries and node timers) ordered by
    virtual time in microseconds; ties broken by insertion order, so a
    seed gives the same run every time.
*/
#include "swim_net.h"
#include "irh_msgs.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t at_us;
    uint64_t order;
    uint32_t node;              //  destination (delivery) or ticking node
    uint32_t from;
    uint8_t *data;              //  NULL: a timer
    size_t size;
} s_event_t;

typedef struct {
    swim_t *swim;
    swim_node_t node;
    int64_t tick_at_us;         //  the one timer event that is current
    bool paused;
    int group;
    uint32_t index;
    swim_net_t *net;
} s_node_t;

struct _swim_net_t {
    swim_net_config_t config;
    swim_net_event_fn *event;
    void *arg;
    s_node_t *nodes;
    s_event_t *heap;
    size_t nheap, heap_cap;
    uint64_t order, rng;
    int64_t now_us;
    uint64_t tx_bytes, packets;
};

static uint64_t
s_rand (swim_net_t *self)
{
    uint64_t z = (self->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double
s_uniform (swim_net_t *self)
{
    return (double) (s_rand (self) >> 11) / 9007199254740992.0;
}

static bool
s_before (const s_event_t *a, const s_event_t *b)
{
    return a->at_us < b->at_us || (a->at_us == b->at_us && a->order < b->order);
}

static void
s_push (swim_net_t *self, s_event_t event)
{
    if (self->nheap == self->heap_cap) {
        self->heap_cap = self->heap_cap ? self->heap_cap * 2 : 1024;
        self->heap = realloc (self->heap, self->heap_cap * sizeof (s_event_t));
        assert (self->heap);
    }
    event.order = self->order++;
    size_t i = self->nheap++;
    while (i > 0 && s_before (&event, &self->heap [(i - 1) / 2])) {
        self->heap [i] = self->heap [(i - 1) / 2];
        i = (i - 1) / 2;
    }
    self->heap [i] = event;
}

static s_event_t
s_pop (swim_net_t *self)
{
    s_event_t top = self->heap [0];
    s_event_t last = self->heap [--self->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= self->nheap)
            break;
        if (c + 1 < self->nheap && s_before (&self->heap [c + 1], &self->heap [c]))
            c++;
        if (!s_before (&self->heap [c], &last))
            break;
        self->heap [i] = self->heap [c];
        i = c;
    }
    if (self->nheap)
        self->heap [i] = last;
    return top;
}

static int64_t
s_now_ms (void *arg)
{
    s_node_t *node = arg;
    return node->net->now_us / 1000;
}

static size_t
s_index_of (const uint8_t *id)
{
    return ((size_t) id [0] << 24) | ((size_t) id [1] << 16) | ((size_t) id [2] << 8) | id [3];
}

static void
s_send (void *arg, const uint8_t *to_id, const char *to_address, const uint8_t *data,
        size_t size)
{
    s_node_t *node = arg;
    swim_net_t *self = node->net;
    unsigned to;
    if (to_address) {
        if (sscanf (to_address, "sim:%u", &to) != 1 || to >= self->config.nodes)
            return;
    }
    else {
        assert (to_id);
        to = (unsigned) s_index_of (to_id);
    }
    self->tx_bytes += size;
    self->packets++;
    //  Push-pull rides a stream (TCP) in memberlist and over ZeroMQ here:
    //  it is delayed by loss, not lost. Probes and gossip model datagrams.
    bool stream = size > 2 && data [2] == IRH_MSG_PEER_PUSH_PULL;
    if (!stream && self->config.loss > 0 && s_uniform (self) < self->config.loss)
        return;
    double delay_ms = self->config.latency_ms + self->config.jitter_ms * s_uniform (self);
    s_event_t event = { .at_us = self->now_us + (int64_t) (delay_ms * 1000) + 1,
                        .node = to, .from = node->index, .size = size };
    event.data = malloc (size);
    assert (event.data);
    memcpy (event.data, data, size);
    s_push (self, event);
}

static void
s_event (void *arg, swim_event_t event, const swim_member_t *member)
{
    s_node_t *node = arg;
    if (node->net->event)
        node->net->event (node->net->arg, node->index, s_index_of (member->node->id), event,
                          node->net->now_us / 1000);
}

swim_net_t *
swim_net_new (const swim_net_config_t *config, swim_net_event_fn *event, void *arg)
{
    assert (config && config->nodes > 0 && config->nodes < (1u << 24));
    swim_net_t *self = calloc (1, sizeof (swim_net_t));
    assert (self);
    self->config = *config;
    self->event = event;
    self->arg = arg;
    self->rng = config->seed;
    self->nodes = calloc (config->nodes, sizeof (s_node_t));
    assert (self->nodes);
    for (size_t i = 0; i < config->nodes; i++) {
        s_node_t *node = &self->nodes [i];
        node->index = (uint32_t) i;
        node->net = self;
        //  Node ids: the index in the first four bytes (to map events
        //  back), random after that, as a real public key would be.
        node->node.id [0] = (uint8_t) (i >> 24);
        node->node.id [1] = (uint8_t) (i >> 16);
        node->node.id [2] = (uint8_t) (i >> 8);
        node->node.id [3] = (uint8_t) i;
        for (size_t b = 4; b < SWIM_ID_SIZE; b++)
            node->node.id [b] = (uint8_t) s_rand (self);
        snprintf (node->node.address, sizeof (node->node.address), "sim:%zu", i);
        snprintf (node->node.name, sizeof (node->node.name), "n%zu", i);
        node->node.hb.cpu_idle_ppm = 900000;
        node->node.hb.ram_free = 8ULL << 30;
        snprintf (node->node.hb.version, sizeof (node->node.hb.version), "0.1.0");
    }
    return self;
}

void
swim_net_destroy (swim_net_t **self_p)
{
    assert (self_p);
    swim_net_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->config.nodes; i++)
        swim_destroy (&self->nodes [i].swim);
    for (size_t i = 0; i < self->nheap; i++)
        free (self->heap [i].data);
    free (self->heap);
    free (self->nodes);
    free (self);
    *self_p = NULL;
}

static void
s_schedule (swim_net_t *self, s_node_t *node, int64_t next_ms)
{
    int64_t at = next_ms * 1000;
    if (at <= self->now_us)
        at = self->now_us + 1;
    if (node->tick_at_us && node->tick_at_us <= at && node->tick_at_us > self->now_us)
        return;         //  an earlier timer is pending; it reschedules
    node->tick_at_us = at;
    s_push (self, (s_event_t) { .at_us = at, .node = node->index });
}

void
swim_net_start (swim_net_t *self, size_t i)
{
    assert (self && i < self->config.nodes);
    s_node_t *node = &self->nodes [i];
    swim_destroy (&node->swim);
    swim_config_t config = self->config.config;
    config.seed = self->config.seed * 1000003 + i + 1;
    swim_host_t host = { .send = s_send, .event = s_event, .now = s_now_ms, .arg = node };
    node->swim = swim_new (&node->node, &config, &host);
    node->paused = false;
    node->tick_at_us = 0;
    s_schedule (self, node, self->now_us / 1000);
}

void
swim_net_seed_full (swim_net_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->config.nodes; i++) {
        if (!self->nodes [i].swim)
            continue;
        for (size_t j = 0; j < self->config.nodes; j++)
            if (j != i && self->nodes [j].swim)
                swim_add_member (self->nodes [i].swim, &self->nodes [j].node, 0);
    }
}

void
swim_net_join (swim_net_t *self, size_t i, size_t j)
{
    assert (self && i < self->config.nodes && j < self->config.nodes && self->nodes [i].swim);
    swim_join (self->nodes [i].swim, self->nodes [j].node.address, self->nodes [j].node.id);
    s_schedule (self, &self->nodes [i], self->now_us / 1000);
}

void
swim_net_run (swim_net_t *self, int64_t until_ms)
{
    assert (self);
    while (self->nheap && self->heap [0].at_us <= until_ms * 1000) {
        s_event_t event = s_pop (self);
        self->now_us = event.at_us;
        s_node_t *node = &self->nodes [event.node];
        if (event.data) {
            s_node_t *from = &self->nodes [event.from];
            if (node->swim && !node->paused && node->group == from->group) {
                swim_on_message (node->swim, from->node.id, event.data, event.size);
                //  The packet may have started a timer (a relayed probe).
                s_schedule (self, node, swim_tick (node->swim, self->now_us / 1000));
            }
            free (event.data);
            continue;
        }
        if (event.at_us != node->tick_at_us || !node->swim || node->paused)
            continue;   //  superseded timer, or the node is not running
        node->tick_at_us = 0;
        s_schedule (self, node, swim_tick (node->swim, self->now_us / 1000));
    }
    if (self->now_us < until_ms * 1000)
        self->now_us = until_ms * 1000;
}

int64_t
swim_net_now (swim_net_t *self)
{
    assert (self);
    return self->now_us / 1000;
}

void
swim_net_crash (swim_net_t *self, size_t i)
{
    assert (self && i < self->config.nodes);
    swim_destroy (&self->nodes [i].swim);
}

void
swim_net_pause (swim_net_t *self, size_t i, bool paused)
{
    assert (self && i < self->config.nodes);
    s_node_t *node = &self->nodes [i];
    node->paused = paused;
    if (!paused && node->swim) {
        node->tick_at_us = 0;
        s_schedule (self, node, self->now_us / 1000);
    }
}

void
swim_net_group (swim_net_t *self, size_t i, int g)
{
    assert (self && i < self->config.nodes);
    self->nodes [i].group = g;
}

void
swim_net_set_loss (swim_net_t *self, double loss)
{
    assert (self);
    self->config.loss = loss;
}

swim_t *
swim_net_node (swim_net_t *self, size_t i)
{
    assert (self && i < self->config.nodes);
    return self->nodes [i].swim;
}

const uint8_t *
swim_net_id (swim_net_t *self, size_t i)
{
    assert (self && i < self->config.nodes);
    return self->nodes [i].node.id;
}

uint64_t
swim_net_tx_bytes (swim_net_t *self)
{
    return self->tx_bytes;
}

uint64_t
swim_net_packets (swim_net_t *self)
{
    return self->packets;
}

int
swim_net_state (swim_net_t *self, size_t observer, size_t subject)
{
    assert (self && observer < self->config.nodes && subject < self->config.nodes);
    swim_t *swim = self->nodes [observer].swim;
    swim_member_t m;
    if (!swim || swim_member_find (swim, self->nodes [subject].node.id, &m))
        return 0;
    return (int) m.state;
}
