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
#include "irh_known.h"
#include "swim.h"
#include <czmq.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define GOSSIP_DEFAULT_PORT 47460
#define GOSSIP_LINKS_MAX    64          //  outgoing links open at once
#define GOSSIP_LINK_IDLE_MS 30000       //  close outgoing links idle this long
#define GOSSIP_RECONNECT_MAX_MS 5000    //  libzmq's reconnect backoff stops here
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
//  The Ed25519 key node id's last hello carried (this node's own too):
//  true and copied into sign_key, or false when no hello was seen.
bool gossip_net_sign_key (gossip_net_t *self, const uint8_t *id, uint8_t *sign_key);
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
//  Close our link to a member declared dead or gone (swim reaches it again,
//  for Serf-style reconnects, through a new link made on demand).
void gossip_net_forget (gossip_net_t *self, const uint8_t *id);
gossip_counters_t *gossip_net_counters (gossip_net_t *self);
size_t gossip_net_links (gossip_net_t *self);
size_t gossip_net_inbound (gossip_net_t *self);

//  ---------------------------------------------------------------------
//  Trust on first use (gossip_tofu.c): the key endpoint and key fetches.

typedef struct _gossip_tofu_t gossip_tofu_t;
//  Called when address may be joined with key (pinned or just trusted).
typedef void (gossip_tofu_join_fn) (void *arg, const char *address, const uint8_t *key);

typedef struct {
    uint64_t key_answers;       //  key endpoint: node id sent
    uint64_t key_bad_asks;      //  key endpoint: anything but peer_key_ask
    uint64_t key_rate_limited;  //  key endpoint: over the rate, or peer not reading
    uint64_t fetches;           //  key fetches started (joins without a node id)
    uint64_t fetch_failed;      //  no answer in time, or too many under way
    uint64_t bad_answers;       //  an answer that is not a peer_key
    uint64_t pinned;            //  nodes trusted on first use (new pins)
    uint64_t pinned_joins;      //  joins with an existing pin that matched
    uint64_t key_changed;       //  answer differs from the pin: refused
    uint64_t pin_errors;        //  pin could not be written
    uint64_t bad_pin_lines;     //  lines of known_nodes skipped at start
} gossip_tofu_counters_t;

//  Loads the pins of peers_dir/known_nodes (NULL: no pins, none made);
//  fetches run on loop.
gossip_tofu_t *gossip_tofu_new (irh_identity_t *identity, const char *peers_dir, zloop_t *loop,
                                gossip_tofu_join_fn *join, void *arg);
void gossip_tofu_destroy (gossip_tofu_t **self_p);
//  Serves this node's id in clear on the host of listen, port
//  gossip_port + 1. Returns the port, or -1 (logged).
int gossip_tofu_serve (gossip_tofu_t *self, const char *listen, int gossip_port);
//  The key endpoint's port, 0 when off.
int gossip_tofu_port (gossip_tofu_t *self);
//  Fetch the node id of address (tcp://HOST:PORT) from HOST:PORT+1, check
//  it against the pins and call join. 0 started, -1 (bad address, too
//  many fetches under way).
int gossip_tofu_join (gossip_tofu_t *self, const char *address);
gossip_tofu_counters_t *gossip_tofu_counters (gossip_tofu_t *self);
size_t gossip_tofu_pins (gossip_tofu_t *self);

//  True if address is tcp://HOST:PORT with a sane host (letters, digits,
//  '.', '-') and port 1..65535 (irh_known.h). irohds-ctl checks with it too.
static inline bool
gossip_address_valid (const char *address)
{
    return irh_known_address_valid (address);
}


#endif
