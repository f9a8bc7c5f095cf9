/*  swim_net.h: an in-memory, event-driven network of swim nodes with a
    virtual clock, latency, loss, crashes, pauses and partitions. The
    simulator (irohds-gossip-sim) and the tests (tests/c/test_swim.c) run
    the real swim code on it; nothing touches a socket or the wall clock.
*/
#ifndef SWIM_NET_H_INCLUDED
#define SWIM_NET_H_INCLUDED
#include "swim.h"

typedef struct _swim_net_t swim_net_t;

typedef struct {
    size_t nodes;               //  nodes created (started with swim_net_start)
    double loss;                //  independent per-packet loss, 0..1
    double latency_ms;          //  one-way base latency
    double jitter_ms;           //  plus uniform 0..jitter
    uint64_t seed;
    swim_config_t config;       //  every node's (its seed is varied per node)
} swim_net_config_t;

//  Called for every membership event: observer is the node that saw it,
//  subject the index of the member it is about.
typedef void (swim_net_event_fn) (void *arg, size_t observer, size_t subject,
                                  swim_event_t event, int64_t now_ms);

swim_net_t *swim_net_new (const swim_net_config_t *config, swim_net_event_fn *event, void *arg);
void swim_net_destroy (swim_net_t **self_p);
//  Start node i (a fresh process with a new swim instance).
void swim_net_start (swim_net_t *self, size_t i);
//  Every started node learns every other started node as alive.
void swim_net_seed_full (swim_net_t *self);
//  Node i joins through node j (a push-pull to j's address).
void swim_net_join (swim_net_t *self, size_t i, size_t j);
//  Run the network until the virtual clock reads until_ms.
void swim_net_run (swim_net_t *self, int64_t until_ms);
int64_t swim_net_now (swim_net_t *self);
//  kill -9: the node stops and its instance is gone.
void swim_net_crash (swim_net_t *self, size_t i);
//  SIGSTOP / SIGCONT: stops handling anything, then carries on.
void swim_net_pause (swim_net_t *self, size_t i, bool paused);
//  Put node i in partition group g (packets between groups are dropped);
//  all in group 0 = healed.
void swim_net_group (swim_net_t *self, size_t i, int g);
void swim_net_set_loss (swim_net_t *self, double loss);
swim_t *swim_net_node (swim_net_t *self, size_t i);      //  NULL if not running
const uint8_t *swim_net_id (swim_net_t *self, size_t i);
uint64_t swim_net_tx_bytes (swim_net_t *self);
uint64_t swim_net_packets (swim_net_t *self);
//  State of subject as observer sees it (0 = unknown).
int swim_net_state (swim_net_t *self, size_t observer, size_t subject);

#endif
