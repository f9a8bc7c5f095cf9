/*  swim.h: SWIM membership with Lifeguard refinements, as a library with
    no sockets and no clock of its own.

    The host (the gossip actor, the simulator, the tests) owns the network
    and the time: it hands every packet it receives to swim_on_message,
    calls swim_tick when swim_tick last asked, and sends what swim gives
    its send callback to the one member named there. swim never addresses
    more than one member at a time, so a host can connect on demand.

    Protocol, parameters and the reasons for them: docs/gossip.md. Wire
    format: proto/peer.def.

    Not thread-safe: a process drives all its swim instances from one
    thread (member records are interned process-wide, see swim_pool.c).
*/
#ifndef SWIM_H_INCLUDED
#define SWIM_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SWIM_ID_SIZE 32
#define SWIM_PROTOCOL_VERSION 1
//  Largest probe/gossip packet, and largest push-pull (bytes, records).
#define SWIM_PACKET_MAX 1400
#define SWIM_PUSH_PULL_MAX (4u << 20)
#define SWIM_MEMBERS_MAX 16384

typedef enum {
    SWIM_ALIVE = 1, SWIM_SUSPECT = 2, SWIM_DEAD = 3
} swim_state_t;

typedef enum {
    SWIM_EVENT_JOIN = 1,        //  first heard of, alive
    SWIM_EVENT_ALIVE,           //  was suspect or dead, alive again
    SWIM_EVENT_SUSPECT,
    SWIM_EVENT_DEAD,
    SWIM_EVENT_UPDATE,          //  alive, and its address, name or heartbeat changed
    SWIM_EVENT_FORGET           //  dead for dead_keep_ms: removed
} swim_event_t;

//  The homie heartbeat a node announces about itself.
#define SWIM_STATUS_IDLE 0         //  heartbeat status: nothing computing
#define SWIM_STATUS_BUSY 1         //  a local process computes a claimed key

typedef struct {
    uint32_t cpu_idle_ppm;
    uint64_t ram_free;
    uint32_t load1_milli;
    char gpu_model [65];
    uint64_t gpu_mem_free;
    uint8_t status;             //  SWIM_STATUS_IDLE or SWIM_STATUS_BUSY
    uint64_t results;
    char version [33];
} swim_heartbeat_t;

//  A node as announced: identity, where to reach it, heartbeat.
typedef struct {
    uint8_t id [SWIM_ID_SIZE];
    char address [65];
    char name [65];
    swim_heartbeat_t hb;
} swim_node_t;

//  A member as this node sees it.
typedef struct {
    const swim_node_t *node;    //  valid until the next call into swim
    swim_state_t state;
    uint32_t incarnation;
    uint32_t rtt_us;            //  EWMA of direct probe round trips, 0 = none yet
    int64_t changed_ms;         //  when state last changed
    int64_t seen_ms;            //  last heard from directly, 0 = never
} swim_member_t;

typedef struct {
    //  Failure detection (memberlist DefaultLANConfig: 1000, 500, 3, 4, 6, 8)
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t indirect_checks;
    uint32_t suspicion_mult;        //  min timeout = mult * max(1, log10 N) * interval
    uint32_t suspicion_max_mult;    //  max timeout = max_mult * min timeout
    uint32_t awareness_max;         //  Lifeguard local health: interval/timeout x (score+1)
    //  Dissemination (200 ms, 3 nodes, retransmits mult * ceil(log10(N+1)))
    uint32_t gossip_interval_ms;
    uint32_t gossip_nodes;
    uint32_t retransmit_mult;
    uint32_t gossip_to_dead_ms;     //  keep gossiping to the newly dead (30 s)
    //  Anti-entropy and healing
    uint32_t push_pull_interval_ms; //  30 s, scaled up above 32 members
    uint32_t reconnect_interval_ms; //  Serf: try one dead member every 30 s
    uint64_t dead_keep_ms;          //  Serf reconnect_timeout: 24 h
    uint64_t seed;                  //  RNG seed (member order, targets)
} swim_config_t;

typedef struct {
    //  Send data to one member. to_id is NULL when only the address is
    //  known (a join to a bootstrap address without a pinned id);
    //  to_address is NULL when only the id is (an answer to a member not
    //  learned yet): send it on the link that member's packet came in on.
    void (*send) (void *arg, const uint8_t *to_id, const char *to_address,
                  const uint8_t *data, size_t size);
    //  Membership changes; may be NULL.
    void (*event) (void *arg, swim_event_t event, const swim_member_t *member);
    //  The injected clock, milliseconds (monotonic).
    int64_t (*now) (void *arg);
    void *arg;
    //  A finer clock, microseconds, for probe round trips only; may be NULL
    //  (then now () * 1000). On a LAN a round trip is well under a
    //  millisecond: measured on the ms clock it reads 0 and the RTT is lost.
    int64_t (*now_us) (void *arg);
} swim_host_t;

typedef struct {
    uint64_t tx_bytes, rx_bytes, tx_packets, rx_packets;
    uint64_t bad_packets;           //  did not decode: dropped
    uint64_t unexpected;            //  decoded but out of place (unknown seq, ack from nobody)
    uint64_t probes, probe_failures, indirect_probes, nacks_missed;
    uint64_t refutes, push_pulls, reconnects;
    uint64_t gossip_dropped;        //  updates dropped from a full broadcast queue
    uint32_t awareness;             //  current local health score (0 = healthy)
} swim_stats_t;

typedef struct _swim_t swim_t;

//  memberlist's LAN profile (the reference figures in docs/gossip.md).
void swim_config_lan (swim_config_t *config);
//  The irohds defaults: the LAN profile tuned by the simulator.
void swim_config_default (swim_config_t *config);

swim_t *swim_new (const swim_node_t *self_node, const swim_config_t *config,
                  const swim_host_t *host);
void swim_destroy (swim_t **self_p);

//  Feed one packet received from the member with node id from (as the
//  transport authenticated it). 0, or -1 if malformed (dropped, counted).
//  A packet may start timers: call swim_tick afterwards for the next wake-up.
int swim_on_message (swim_t *self, const uint8_t *from, const uint8_t *data, size_t size);
//  Run timers due at now_ms; returns when to call again (ms).
int64_t swim_tick (swim_t *self, int64_t now_ms);

//  Ask the node at address for its full state (a join). id may be NULL.
void swim_join (swim_t *self, const char *address, const uint8_t *id);
//  Learn a member as alive without a round trip (e.g. a cached peer list).
void swim_add_member (swim_t *self, const swim_node_t *node, uint32_t incarnation);
//  Announce a new heartbeat (address/name/metrics) of this node.
void swim_update_self (swim_t *self, const swim_node_t *node);
//  Announce our departure (dead about ourselves) to a few members.
void swim_leave (swim_t *self);

//  Members other than this node.
size_t swim_size (swim_t *self);
//  Members that are alive or suspect (others than this node).
size_t swim_live (swim_t *self);
int swim_member_at (swim_t *self, size_t index, swim_member_t *member);
int swim_member_find (swim_t *self, const uint8_t *id, swim_member_t *member);
uint32_t swim_incarnation (swim_t *self);
const swim_stats_t *swim_stats (swim_t *self);

//  Split a compound packet: returns the next message and its size, or
//  NULL at the end; *bad is set if the framing is broken.
const uint8_t *swim_packet_next (const uint8_t **pos, const uint8_t *end,
                                 size_t *size, bool *bad);

#endif
