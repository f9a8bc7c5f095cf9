/*  swim_proto.c: swim's packets. Building them (a first message plus
    piggybacked gossip, framed as proto/peer.def says: u16 length before
    each message) and handling what arrives: probes, acks, indirect probes
    and nacks, gossip, push-pull. Everything received is outside input:
    a packet that does not decode is dropped and counted, never trusted.
*/
#include "swim_core.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

const uint8_t *
swim_packet_next (const uint8_t **pos, const uint8_t *end, size_t *size, bool *bad)
{
    assert (pos && end && size && bad);
    *bad = false;
    if (*pos == end)
        return NULL;
    if (end - *pos < 2) {
        *bad = true;
        return NULL;
    }
    size_t len = ((size_t) (*pos) [0] << 8) | (*pos) [1];
    if (len == 0 || (size_t) (end - *pos - 2) < len) {
        *bad = true;
        return NULL;
    }
    const uint8_t *msg = *pos + 2;
    *pos += 2 + len;
    *size = len;
    return msg;
}

void
swim_send (swim_t *self, const uint8_t *to, const char *address, const uint8_t *data,
           size_t size)
{
    self->stats.tx_packets++;
    self->stats.tx_bytes += size;
    self->host.send (self->host.arg, to, address, data, size);
}

//  Frame an encoded message at buf + *used (the caller encoded it at
//  buf + *used + 2 and passes its size).
static void
s_frame (uint8_t *buf, size_t *used, size_t size)
{
    assert (size > 0 && size <= 0xFFFF);
    buf [*used] = (uint8_t) (size >> 8);
    buf [*used + 1] = (uint8_t) size;
    *used += 2 + size;
}

static size_t
s_retransmit_limit (swim_t *self)
{
    size_t n = self->live + 1, digits = 1;
    for (size_t p = 10; p < n + 1; p *= 10)
        digits++;
    return self->config.retransmit_mult * digits;
}

//  Lifeguard's buddy system: tell a member we doubt it, in the packet we
//  send it anyway, so it can refute at once.
static void
s_add_buddy (swim_t *self, const swim_entry_t *to, uint8_t *buf, size_t *used)
{
    if (!to || to->state == SWIM_ALIVE)
        return;
    size_t size;
    if (to->state == SWIM_SUSPECT) {
        irh_peer_suspect_t msg = { .incarnation = to->incarnation };
        memcpy (msg.node, swim_pool_get (to->rec)->id, SWIM_ID_SIZE);
        memcpy (msg.accuser, swim_self_id (self), SWIM_ID_SIZE);
        size = irh_peer_suspect_encode_buf (&msg, buf + *used + 2, SWIM_PACKET_MAX - *used - 2);
    }
    else {
        irh_peer_dead_t msg = { .incarnation = to->incarnation };
        memcpy (msg.node, swim_pool_get (to->rec)->id, SWIM_ID_SIZE);
        memcpy (msg.accuser, swim_self_id (self), SWIM_ID_SIZE);
        size = irh_peer_dead_encode_buf (&msg, buf + *used + 2, SWIM_PACKET_MAX - *used - 2);
    }
    if (size)
        s_frame (buf, used, size);
}

//  Send buf (first message already in) with as much gossip as fits.
static void
s_send_with_gossip (swim_t *self, const swim_entry_t *to, const uint8_t *to_id,
                    const char *address, uint8_t *buf, size_t used)
{
    s_add_buddy (self, to, buf, &used);
    swim_queue_fill (self->queue, buf, &used, SWIM_PACKET_MAX,
                     (uint32_t) s_retransmit_limit (self));
    swim_send (self, to_id, address, buf, used);
}

void
swim_send_ping (swim_t *self, const swim_entry_t *target, uint32_t seq)
{
    const swim_node_t *node = swim_pool_get (target->rec);
    irh_peer_ping_t msg = { .seq = seq };
    memcpy (msg.target, node->id, SWIM_ID_SIZE);
    uint8_t buf [SWIM_PACKET_MAX];
    size_t used = 0;
    s_frame (buf, &used, irh_peer_ping_encode_buf (&msg, buf + 2, sizeof (buf) - 2));
    s_send_with_gossip (self, target, node->id, node->address, buf, used);
}

void
swim_send_ping_req (swim_t *self, const swim_entry_t *via, const swim_entry_t *target,
                    uint32_t seq)
{
    const swim_node_t *t = swim_pool_get (target->rec);
    const swim_node_t *v = swim_pool_get (via->rec);
    irh_peer_ping_req_t msg = { .seq = seq };
    memcpy (msg.target, t->id, SWIM_ID_SIZE);
    memcpy (msg.target_address, t->address, sizeof (msg.target_address));
    uint8_t buf [SWIM_PACKET_MAX];
    size_t used = 0;
    s_frame (buf, &used, irh_peer_ping_req_encode_buf (&msg, buf + 2, sizeof (buf) - 2));
    s_send_with_gossip (self, via, v->id, v->address, buf, used);
}

static void
s_send_seq (swim_t *self, bool nack, uint32_t seq, const uint8_t *to)
{
    //  A member we have not learned yet (its join is still on the way)
    //  is answered on the link it came in on: by id, with no address.
    swim_entry_t *m = swim_lookup (self, to);
    const swim_node_t *node = m ? swim_pool_get (m->rec) : NULL;
    uint8_t buf [SWIM_PACKET_MAX];
    size_t used = 0;
    size_t size;
    if (nack) {
        irh_peer_nack_t msg = { .seq = seq };
        size = irh_peer_nack_encode_buf (&msg, buf + 2, sizeof (buf) - 2);
    }
    else {
        irh_peer_ack_t msg = { .seq = seq };
        size = irh_peer_ack_encode_buf (&msg, buf + 2, sizeof (buf) - 2);
    }
    s_frame (buf, &used, size);
    s_send_with_gossip (self, m, to, node ? node->address : NULL, buf, used);
}

void
swim_send_gossip (swim_t *self, const swim_entry_t *to)
{
    uint8_t buf [SWIM_PACKET_MAX];
    size_t used = 0;
    if (swim_queue_fill (self->queue, buf, &used, SWIM_PACKET_MAX,
                         (uint32_t) s_retransmit_limit (self)) == 0)
        return;
    const swim_node_t *node = swim_pool_get (to->rec);
    swim_send (self, node->id, node->address, buf, used);
}

void
swim_send_push_pull (swim_t *self, const uint8_t *to, const char *address, bool want_reply)
{
    //  Our own record, then every member we know, alive or not: the peer
    //  learns who we think is dead, which is how healed partitions notice.
    size_t cap = 16 + (self->count + 1) * (2 + 400);
    if (cap > SWIM_PUSH_PULL_MAX)
        cap = SWIM_PUSH_PULL_MAX;
    uint8_t *buf = malloc (cap);
    assert (buf);
    size_t used = 0;
    irh_peer_push_pull_t head = { .flags = want_reply ? 1 : 0 };
    size_t records = self->count + 1 < SWIM_MEMBERS_MAX ? self->count + 1 : SWIM_MEMBERS_MAX;
    size_t head_at = used;
    used += 2 + irh_peer_push_pull_encoded_size (&head);
    size_t n = 0;
    for (size_t i = 0; i < records; i++) {
        uint32_t rec = i == 0 ? self->self_rec : self->members [i - 1].rec;
        uint8_t state = i == 0 ? SWIM_ALIVE : self->members [i - 1].state;
        uint32_t incarnation = i == 0 ? self->incarnation : self->members [i - 1].incarnation;
        size_t size = swim_put_member (rec, state, incarnation, buf + used, cap - used);
        if (size == 0)
            break;
        used += size;
        n++;
    }
    head.count = (uint32_t) n;
    size_t head_size = irh_peer_push_pull_encode_buf (&head, buf + head_at + 2, cap - head_at - 2);
    s_frame (buf, &head_at, head_size);
    self->stats.push_pulls++;
    swim_send (self, to, address, buf, used);
    free (buf);
}

//  --------------------------------------------------------------------
//  Receiving.

static void
s_on_ack (swim_t *self, const uint8_t *from, uint32_t seq)
{
    if (seq == 0)
        return;         //  answer to a suspicion check: its gossip was the point
    if (self->probe.active && seq == self->probe.seq && !self->probe.acked) {
        self->probe.acked = true;
        swim_entry_t *m = swim_lookup (self, self->probe.target);
        //  Only a direct ack measures our round trip to the member.
        if (m && memcmp (from, self->probe.target, SWIM_ID_SIZE) == 0) {
            //  rtt_us 0 means "not measured": a round trip never reads
            //  below 1 µs, and the average never decays to 0.
            int64_t took = swim_now_us (self) - self->probe.sent_us;
            uint32_t rtt = took < 1 ? 1 : took > UINT32_MAX ? UINT32_MAX : (uint32_t) took;
            uint64_t avg = m->rtt_us ? ((uint64_t) m->rtt_us * 7 + rtt) / 8 : rtt;
            m->rtt_us = avg ? (uint32_t) avg : 1;
        }
        return;
    }
    for (size_t i = 0; i < self->nrelays; i++) {
        swim_relay_t *r = &self->relays [i];
        if (r->seq_out == seq) {
            uint8_t requester [SWIM_ID_SIZE];
            uint32_t seq_in = r->seq_in;
            memcpy (requester, r->requester, SWIM_ID_SIZE);
            *r = self->relays [--self->nrelays];
            s_send_seq (self, false, seq_in, requester);
            return;
        }
    }
    self->stats.unexpected++;   //  late, or never asked for
}

static void
s_on_ping_req (swim_t *self, const uint8_t *from, const irh_peer_ping_req_t *msg, int64_t now)
{
    swim_entry_t *target = swim_lookup (self, msg->target);
    if (!target || self->nrelays >= 256) {
        //  Unknown target (or flooded): we cannot help, say so.
        s_send_seq (self, true, msg->seq, from);
        return;
    }
    if (self->nrelays == self->relays_cap) {
        self->relays_cap = self->relays_cap ? self->relays_cap * 2 : 8;
        self->relays = realloc (self->relays, self->relays_cap * sizeof (swim_relay_t));
        assert (self->relays);
    }
    swim_relay_t *r = &self->relays [self->nrelays++];
    memcpy (r->requester, from, SWIM_ID_SIZE);
    r->seq_in = msg->seq;
    r->seq_out = swim_next_seq (self);
    r->nack_at = now + self->config.probe_timeout_ms;
    swim_send_ping (self, target, r->seq_out);
}

//  Apply one gossip message (member, suspect, dead). from is the sender.
static int
s_on_gossip (swim_t *self, const uint8_t *from, const uint8_t *data, size_t size, int64_t now,
             bool full_state)
{
    switch (irh_msgs_id_buf (data, size)) {
        case IRH_MSG_PEER_MEMBER: {
            irh_peer_member_t msg;
            if (irh_peer_member_decode_buf (data, size, &msg)
            ||  msg.state < SWIM_ALIVE || msg.state > SWIM_DEAD)
                return -1;
            if (msg.state == SWIM_ALIVE)
                swim_on_alive (self, &msg, now, true);
            else
            if (memcmp (msg.node, swim_self_id (self), SWIM_ID_SIZE) == 0)
                swim_refute (self, msg.incarnation);
            else
            if (full_state) {
                //  Someone else's view of a failure is only a suspicion
                //  to us: we check for ourselves (memberlist mergeState).
                swim_on_suspect (self, msg.incarnation, msg.node, from, now);
            }
            return 0;
        }
        case IRH_MSG_PEER_SUSPECT: {
            irh_peer_suspect_t msg;
            if (irh_peer_suspect_decode_buf (data, size, &msg))
                return -1;
            swim_on_suspect (self, msg.incarnation, msg.node, msg.accuser, now);
            return 0;
        }
        case IRH_MSG_PEER_DEAD: {
            irh_peer_dead_t msg;
            if (irh_peer_dead_decode_buf (data, size, &msg))
                return -1;
            swim_on_dead (self, msg.incarnation, msg.node, msg.accuser, now);
            return 0;
        }
        default:
            return -1;
    }
}

static int
s_on_push_pull (swim_t *self, const uint8_t *from, const irh_peer_push_pull_t *head,
                const uint8_t **pos, const uint8_t *end, int64_t now)
{
    if (head->count > SWIM_MEMBERS_MAX || (head->flags & ~1u))
        return -1;
    const char *reply_to = NULL;
    char address [65] = "";
    for (uint32_t i = 0; i < head->count; i++) {
        size_t size;
        bool bad;
        const uint8_t *msg = swim_packet_next (pos, end, &size, &bad);
        if (!msg || irh_msgs_id_buf (msg, size) != IRH_MSG_PEER_MEMBER)
            return -1;
        //  The first record is the sender itself: where we answer.
        if (i == 0) {
            irh_peer_member_t m;
            if (irh_peer_member_decode_buf (msg, size, &m)
            ||  memcmp (m.node, from, SWIM_ID_SIZE) != 0)
                return -1;
            memcpy (address, m.address, sizeof (address));
            reply_to = address;
        }
        if (s_on_gossip (self, from, msg, size, now, true))
            return -1;
    }
    if (*pos != end || !reply_to)
        return -1;
    if (head->flags & 1)
        swim_send_push_pull (self, from, reply_to, false);
    return 0;
}

int
swim_on_message (swim_t *self, const uint8_t *from, const uint8_t *data, size_t size)
{
    assert (self && from && (data || size == 0));
    int64_t now = self->host.now (self->host.arg);
    self->stats.rx_packets++;
    self->stats.rx_bytes += size;
    const uint8_t *pos = data, *end = data + size;
    size_t msg_size;
    bool bad;
    const uint8_t *first = size <= SWIM_PUSH_PULL_MAX
                         ? swim_packet_next (&pos, end, &msg_size, &bad) : NULL;
    int id = first ? irh_msgs_id_buf (first, msg_size) : -1;
    if (!first || (id != IRH_MSG_PEER_PUSH_PULL && size > SWIM_PACKET_MAX)
    ||  memcmp (from, swim_self_id (self), SWIM_ID_SIZE) == 0)
        goto malformed;
    swim_entry_t *sender = swim_lookup (self, from);
    if (sender)
        sender->seen_ms = now;
    int rc = 0;
    bool ack = false;
    uint32_t ack_seq = 0;
    switch (id) {
        case IRH_MSG_PEER_PING: {
            irh_peer_ping_t msg;
            if (irh_peer_ping_decode_buf (first, msg_size, &msg))
                goto malformed;
            if (memcmp (msg.target, swim_self_id (self), SWIM_ID_SIZE)) {
                self->stats.unexpected++;   //  meant for whoever had this address
                break;
            }
            //  Answered after the piggybacked gossip is applied, so a
            //  refutation it provokes rides on the ack.
            ack_seq = msg.seq;
            ack = true;
            break;
        }
        case IRH_MSG_PEER_ACK: {
            irh_peer_ack_t msg;
            if (irh_peer_ack_decode_buf (first, msg_size, &msg))
                goto malformed;
            s_on_ack (self, from, msg.seq);
            break;
        }
        case IRH_MSG_PEER_PING_REQ: {
            irh_peer_ping_req_t msg;
            if (irh_peer_ping_req_decode_buf (first, msg_size, &msg))
                goto malformed;
            s_on_ping_req (self, from, &msg, now);
            break;
        }
        case IRH_MSG_PEER_NACK: {
            irh_peer_nack_t msg;
            if (irh_peer_nack_decode_buf (first, msg_size, &msg))
                goto malformed;
            if (self->probe.active && msg.seq == self->probe.seq)
                self->probe.nacks++;
            else
                self->stats.unexpected++;
            break;
        }
        case IRH_MSG_PEER_PUSH_PULL: {
            irh_peer_push_pull_t msg;
            if (irh_peer_push_pull_decode_buf (first, msg_size, &msg)
            ||  s_on_push_pull (self, from, &msg, &pos, end, now))
                goto malformed;
            return 0;
        }
        default:
            //  A packet of gossip only: the first message is gossip too.
            rc = s_on_gossip (self, from, first, msg_size, now, false);
            if (rc)
                goto malformed;
    }
    //  Piggybacked gossip. A bad message stops here; what came before it
    //  was valid on its own and is kept.
    while ((first = swim_packet_next (&pos, end, &msg_size, &bad)))
        if (s_on_gossip (self, from, first, msg_size, now, false))
            goto malformed;
    if (bad)
        goto malformed;
    if (ack)
        s_send_seq (self, false, ack_seq, from);
    return 0;
malformed:
    self->stats.bad_packets++;
    return -1;
}
