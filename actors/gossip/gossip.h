/*  gossip.h: the inside of irohds-gossip, the actor behind service
    "gossip". gossip_main.c runs the loop (broker worker, timers, the
    broker requests of proto/gossip.def); gossip_link.c is swim's
    transport: the CURVE ROUTER peers connect to, outgoing DEALERs made on
    demand, and the hello exchange that opens every peer connection.
    docs/peers.md describes the behaviour.
*/
#ifndef GOSSIP_H_INCLUDED
#define GOSSIP_H_INCLUDED
#include "irh_identity.h"
#include "swim.h"
#include <czmq.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define GOSSIP_DEFAULT_PORT 47460
#define GOSSIP_LINKS_MAX    64          //  outgoing links open at once
#define GOSSIP_LINK_IDLE_MS 30000       //  close outgoing links idle this long
#define GOSSIP_INBOUND_MAX  4096        //  helloed inbound connections remembered
#define GOSSIP_FRAME_MAX    (2 * SWIM_PUSH_PULL_MAX)   //  libzmq drops the connection above

//  Counters reported by `gossip_stats` (besides swim's own).
typedef struct {
    uint64_t bad_frames;        //  wrong frame count, or empty
    uint64_t oversize;          //  frame above SWIM_PUSH_PULL_MAX
    uint64_t refused_hellos;    //  hello that did not decode, or no hello first
    uint64_t version_mismatch;  //  hello of another protocol version (refused)
    uint64_t unknown_keys;      //  hello whose node id is not the CURVE key used
    uint64_t refused_by_peer;   //  a peer refused our hello
    uint64_t no_route;          //  swim wanted a member we have no link to
    uint64_t links_opened, links_closed, send_dropped;
    uint64_t hellos_accepted;
    uint64_t handshake_failed;  //  no CURVE, or a failed CURVE handshake
} gossip_counters_t;

typedef struct _gossip_link_t gossip_link_t;
typedef struct _gossip_net_t gossip_net_t;

//  Receive handler: a swim packet from the authenticated member from.
typedef void (gossip_packet_fn) (void *arg, const uint8_t *from, const uint8_t *data,
                                 size_t size);

//  Bind the CURVE ROUTER on listen (tcp://ADDR:PORT; a free port on
//  ADDR if PORT is taken), with its own ZAP handler.
gossip_net_t *gossip_net_new (irh_identity_t *identity, const char *listen,
                              zloop_t *loop, gossip_packet_fn *packet, void *arg);
//  The TCP port bound.
int gossip_net_port (gossip_net_t *self);
//  The address peers reach us at (put in our hello); call before sending.
void gossip_net_advertise (gossip_net_t *self, const char *advertise);
void gossip_net_destroy (gossip_net_t **self_p);
//  swim's send callback (see swim_host_t).
void gossip_net_send (void *arg, const uint8_t *to_id, const char *to_address,
                      const uint8_t *data, size_t size);
//  Free closed links (call every swim tick: closed links wait two calls,
//  so no zloop poll set still refers to them).
void gossip_net_reap (gossip_net_t *self);
//  Close idle links, forget stale inbound connections.
void gossip_net_sweep (gossip_net_t *self, int64_t now_ms);
gossip_counters_t *gossip_net_counters (gossip_net_t *self);
size_t gossip_net_links (gossip_net_t *self);
size_t gossip_net_inbound (gossip_net_t *self);

//  True if address is tcp://HOST:PORT with a sane host (letters, digits,
//  '.', '-') and port 1..65535. Inline: irohds-ctl checks with it too.
static inline bool
gossip_address_valid (const char *address)
{
    if (!address || strncmp (address, "tcp://", 6) != 0 || strlen (address) > 64)
        return false;
    const char *host = address + 6;
    const char *colon = strrchr (host, ':');
    if (!colon || colon == host)
        return false;
    for (const char *p = host; p < colon; p++)
        if (!(isalnum ((unsigned char) *p) || *p == '.' || *p == '-'))
            return false;
    const char *port = colon + 1;
    if (!*port || strlen (port) > 5 || strspn (port, "0123456789") != strlen (port))
        return false;
    long value = atol (port);
    return value >= 1 && value <= 65535;
}


#endif
