/*  swim_core.h: the swim_t structure and the functions its files share
    (swim.c: table and merge rules; swim_proto.c: packets; swim_timers.c:
    probes and periodic work). Not for hosts: they use swim.h.
*/
#ifndef SWIM_CORE_H_INCLUDED
#define SWIM_CORE_H_INCLUDED
#include "swim_internal.h"
#include "irh_msgs.h"

#define SWIM_FLAG_LEFT 1        //  announced its own departure: no reconnects
#define SWIM_CONFIRM_MAX 8      //  suspicion confirmations tracked

//  One member, kept small: 10,000 simulated nodes hold 10^8 of these.
typedef struct {
    uint32_t rec;               //  swim_pool record: id, address, name, heartbeat
    uint32_t incarnation;
    int64_t changed_ms;
    int64_t seen_ms;
    uint32_t rtt_us;
    uint8_t state;
    uint8_t flags;
} swim_entry_t;

typedef struct {
    uint8_t node [SWIM_ID_SIZE];
    uint8_t from [SWIM_CONFIRM_MAX + 1][SWIM_ID_SIZE];  //  [0] first accuser
    uint32_t incarnation, confirmations, k;
    uint32_t min_ms, max_ms;
    int64_t start, deadline;
    int64_t check_at;           //  next direct ping to the suspect
} swim_suspicion_t;

//  A ping_req we relay: our ping to target, their seq to answer.
typedef struct {
    uint8_t requester [SWIM_ID_SIZE];
    uint32_t seq_out, seq_in;
    int64_t nack_at;
} swim_relay_t;

struct _swim_t {
    swim_config_t config;
    swim_host_t host;
    uint64_t rng;
    uint32_t self_rec;
    uint32_t incarnation;
    bool leaving;
    swim_entry_t *members;
    size_t count, cap, live;
    uint32_t *slots;            //  id index: member position + 1, 0 = empty
    size_t nslots;
    size_t probe_index;
    swim_suspicion_t *suspicions;
    size_t nsuspicions, suspicions_cap;
    swim_relay_t *relays;
    size_t nrelays, relays_cap;
    swim_queue_t *queue;
    uint32_t seq;
    uint32_t awareness;
    struct {
        bool active, acked, indirect;
        uint32_t seq;
        uint8_t target [SWIM_ID_SIZE];
        int64_t sent, sent_us, timeout_at, deadline;
        uint32_t expected_nacks, nacks;
    } probe;
    int64_t next_probe, next_gossip, next_push_pull, next_reconnect;
    swim_stats_t stats;
};

uint64_t swim_rand (swim_t *self);
//  Next probe sequence number; 0 is reserved (suspicion checks).
static inline uint32_t
swim_next_seq (swim_t *self)
{
    if (++self->seq == 0)
        self->seq = 1;
    return self->seq;
}
//  The host's microsecond clock, or its millisecond one scaled.
static inline int64_t
swim_now_us (swim_t *self)
{
    return self->host.now_us ? self->host.now_us (self->host.arg)
                             : self->host.now (self->host.arg) * 1000;
}
const uint8_t *swim_self_id (swim_t *self);
swim_entry_t *swim_lookup (swim_t *self, const uint8_t *id);
void swim_index_rebuild (swim_t *self);
void swim_member_fill (swim_t *self, const swim_entry_t *m, swim_member_t *out);
void swim_purge (swim_t *self, int64_t now);
size_t swim_put_member (uint32_t rec, uint8_t state, uint32_t incarnation, uint8_t *buf,
                        size_t cap);
void swim_broadcast_alive (swim_t *self, uint32_t rec, uint32_t incarnation);
void swim_refute (swim_t *self, uint32_t incarnation);
void swim_on_alive (swim_t *self, const irh_peer_member_t *msg, int64_t now, bool gossip);
void swim_on_suspect (swim_t *self, uint32_t incarnation, const uint8_t *node,
                      const uint8_t *from, int64_t now);
void swim_on_dead (swim_t *self, uint32_t incarnation, const uint8_t *node,
                   const uint8_t *from, int64_t now);
void swim_suspicion_start (swim_t *self, const uint8_t *node, uint32_t incarnation,
                           const uint8_t *from, int64_t now);
bool swim_suspicion_confirm (swim_t *self, const uint8_t *node, const uint8_t *from,
                             int64_t now);
void swim_suspicion_drop (swim_t *self, const uint8_t *node);
int64_t swim_suspicion_expire (swim_t *self, int64_t now);
void swim_awareness (swim_t *self, int delta);
//  swim_proto.c
void swim_send (swim_t *self, const uint8_t *to, const char *address, const uint8_t *data,
                size_t size);
void swim_send_ping (swim_t *self, const swim_entry_t *target, uint32_t seq);
void swim_send_ping_req (swim_t *self, const swim_entry_t *via, const swim_entry_t *target,
                         uint32_t seq);
void swim_send_gossip (swim_t *self, const swim_entry_t *to);
void swim_send_push_pull (swim_t *self, const uint8_t *to, const char *address, bool want_reply);
#endif
