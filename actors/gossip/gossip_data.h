/*  gossip_data.h: the result-sharing half of irohds-gossip (Peers II,
    docs/transfer.md, docs/digests.md). gossip.h is the membership half.

      gossip_calls.c    asynchronous broker requests (store, cap) with callbacks
      gossip_xfer.c     the data socket: a CURVE ROUTER on gossip port + 2,
                        a DEALER per peer we ask; req ids, timeouts, dispatch
      gossip_digests.c  our digests (from the store) out to peers, peers'
                        digests in; candidates for a key
      gossip_serve.c    answering peers: manifests, content, outboards
      gossip_fetch.c    gossip_lookup: candidates, manifests, verdict,
                        verified multi-source resumable fetch, ingest
      gossip_lease.c    gossip_claim: claims across machines (the asker);
      gossip_arbiter.c  the arbiter's decisions (gossip_lease.h);
      gossip_lease_keep.c  replicas to the successor, dead nodes' leases

    Everything a peer sends is outside input: decoded with the generated
    codec, sizes checked, refused and counted, never asserted on.
*/
#ifndef GOSSIP_DATA_H_INCLUDED
#define GOSSIP_DATA_H_INCLUDED
#include "irh_identity.h"
#include "irh_msgs.h"
#include "irh_table.h"
#include "irh_worker.h"
#include "swim.h"
#include <czmq.h>

typedef struct _gossip_calls_t gossip_calls_t;
typedef struct _gossip_xfer_t gossip_xfer_t;
typedef struct _gossip_digests_t gossip_digests_t;
typedef struct _gossip_serve_t gossip_serve_t;
typedef struct _gossip_fetch_t gossip_fetch_t;
typedef struct _gossip_lease_t gossip_lease_t;
typedef struct _gossip_ns_t gossip_ns_t;

//  ---------------------------------------------------------------------
//  gossip_calls: broker requests from the gossip actor, many in flight.

//  Answer to a call: rc 0 with the reply body (owned by the callee, valid
//  during the call), or rc -1 with an error code ("timeout", "forbidden",
//  "not-found", ...; proto/README.md) and body NULL.
typedef void (gossip_call_fn) (void *arg, int rc, zmsg_t *body, const char *error_code);

gossip_calls_t *gossip_calls_new (const char *broker, zloop_t *loop);
void gossip_calls_destroy (gossip_calls_t **self_p);
//  Send body (taken) to service; fn is called exactly once (answer, error
//  or timeout after timeout_ms). 0, or -1 when it could not be sent (fn is
//  not called then).
int gossip_calls_send (gossip_calls_t *self, const char *service, zmsg_t **body_p,
                       int timeout_ms, gossip_call_fn *fn, void *arg);
//  Forget every call whose arg is arg (its owner is going away): their fn
//  is never called.
void gossip_calls_cancel (gossip_calls_t *self, void *arg);
size_t gossip_calls_pending (gossip_calls_t *self);
//  Counters (calls_*) as name/value rows of the gossip_stats table.
void gossip_calls_stats (gossip_calls_t *self, irh_table_t *table);

//  ---------------------------------------------------------------------
//  gossip_xfer: the data socket.

//  Answer to a request we sent to peer: answer is the frame (decode it
//  yourself; owned by xfer, valid during the call), or NULL on timeout or
//  when the link to peer was closed.
typedef void (gossip_xfer_answer_fn) (void *arg, const uint8_t *peer, zframe_t *answer);
//  A message that is not an answer to our requests: a request from a peer
//  (answer it with gossip_xfer_reply on route) or a pushed digest. from is
//  the peer's node id (its CURVE key), route identifies the connection.
typedef void (gossip_xfer_message_fn) (void *arg, const uint8_t *from, zframe_t *route,
                                       int id, zframe_t *frame);

//  Bind the data ROUTER on the host of listen, port gossip_port + 2
//  (IRH_XFER_PORT_OFFSET). on_message gets peers' requests and pushes.
gossip_xfer_t *gossip_xfer_new (irh_identity_t *identity, const char *listen, int gossip_port,
                                zloop_t *loop, gossip_xfer_message_fn *on_message, void *arg);
void gossip_xfer_destroy (gossip_xfer_t **self_p);
int gossip_xfer_port (gossip_xfer_t *self);
//  A fresh request id for a message we are about to send.
uint32_t gossip_xfer_next_req (gossip_xfer_t *self);
//  Send request (taken; carries req) to peer at its gossip address
//  (tcp://IP:PORT; the data port is PORT + 2). fn is called exactly once.
//  -1 when it cannot be sent (fn not called).
int gossip_xfer_request (gossip_xfer_t *self, const uint8_t *peer, const char *gossip_address,
                         uint32_t req, zframe_t **request_p, int timeout_ms,
                         gossip_xfer_answer_fn *fn, void *arg);
//  Send a message that wants no answer (a digest push) to peer.
int gossip_xfer_push (gossip_xfer_t *self, const uint8_t *peer, const char *gossip_address,
                      zframe_t **frame_p);
//  Answer a peer's request on the connection it came on (route from
//  on_message). -1 when the peer is gone or not reading (counted).
int gossip_xfer_reply (gossip_xfer_t *self, zframe_t *route, zframe_t **frame_p);
//  Forget every pending request whose arg is arg (fn never called).
void gossip_xfer_cancel (gossip_xfer_t *self, void *arg);
//  Close our link to a peer declared dead (pending requests to it fail).
void gossip_xfer_forget (gossip_xfer_t *self, const uint8_t *peer);
//  Counters: each *_stats adds its name/value rows to the gossip_stats
//  table (columns name:s value:u).
void gossip_xfer_stats (gossip_xfer_t *self, irh_table_t *table);

//  ---------------------------------------------------------------------
//  gossip_digests: which peers may hold a key.

gossip_digests_t *gossip_digests_new (gossip_xfer_t *xfer, gossip_calls_t *calls, swim_t *swim,
                                      zloop_t *loop);
void gossip_digests_destroy (gossip_digests_t **self_p);
//  A member became alive (ask for its digests whole) or dead/left (drop them).
void gossip_digests_member (gossip_digests_t *self, const swim_member_t *member, bool alive);
//  A digest message from a peer (ids 141, 142, 143, 148) on the data socket.
void gossip_digests_message (gossip_digests_t *self, const uint8_t *from, zframe_t *route,
                             int id, zframe_t *frame);
//  Live peers whose digest for ns may hold key: copies up to max node ids
//  into ids, returns how many. No I/O, no allocation: the local-miss path.
size_t gossip_digests_candidates (gossip_digests_t *self, const char *ns, const uint8_t *key,
                                  uint8_t (*ids) [SWIM_ID_SIZE], size_t max);
//  Results peer holds by its digests (estimated from the bits set), for
//  `peers`; 0 when we hold none of its digests.
uint64_t gossip_digests_results (gossip_digests_t *self, const uint8_t *peer);
//  A done hint (claims: node finished key a moment ago): candidates
//  includes node for key while it is alive, although its digest may not
//  show the key yet (digests lag by a gossip round). Bounded, oldest out.
void gossip_digests_hint (gossip_digests_t *self, const uint8_t *key, const uint8_t *node);
void gossip_digests_stats (gossip_digests_t *self, irh_table_t *table);

//  ---------------------------------------------------------------------
//  gossip_serve: answering peers' manifest and read requests.

//  identity signs this node's own results as they are served.
gossip_serve_t *gossip_serve_new (gossip_xfer_t *xfer, gossip_calls_t *calls,
                                  irh_identity_t *identity, const char *home, zloop_t *loop);
void gossip_serve_destroy (gossip_serve_t **self_p);
//  peer_manifest_want or peer_read_want from a peer (route: answer there).
void gossip_serve_message (gossip_serve_t *self, const uint8_t *from, zframe_t *route, int id,
                           zframe_t *frame);
void gossip_serve_stats (gossip_serve_t *self, irh_table_t *table);

//  ---------------------------------------------------------------------
//  gossip_fetch: the gossip_lookup request and the transfers it starts.

//  fetch_dir: <home>/fetch (staging of fetched blobs, resumable).
gossip_fetch_t *gossip_fetch_new (gossip_xfer_t *xfer, gossip_digests_t *digests,
                                  gossip_calls_t *calls, swim_t *swim, irh_worker_t *worker,
                                  const char *fetch_dir, zloop_t *loop);
void gossip_fetch_destroy (gossip_fetch_t **self_p);
//  What checks producers (docs/security.md, "Signed results"): net knows
//  members' sign keys from their hellos, config lists a namespace's
//  producers (ns.<name>.producers). Both outlive fetch. Without net, a
//  signature is checked only against the key the manifest carries.
typedef struct _gossip_net_t gossip_net_t;
typedef struct _irh_config_t irh_config_t;
void gossip_fetch_trust (gossip_fetch_t *self, gossip_net_t *net, irh_config_t *config);
//  A gossip_lookup request (taken): answered through worker when done.
void gossip_fetch_lookup (gossip_fetch_t *self, irh_request_t **request_p,
                          const irh_gossip_lookup_t *lookup);
//  The gossip_fetches table (a reply body).
zmsg_t *gossip_fetch_table (gossip_fetch_t *self, const uint8_t *key);
//  A member's state changed (a source died or came back).
void gossip_fetch_member (gossip_fetch_t *self, const swim_member_t *member, bool alive);
void gossip_fetch_stats (gossip_fetch_t *self, irh_table_t *table);

//  ---------------------------------------------------------------------
//  gossip_lease: claims across machines (gossip_lease.h, docs/claims.md).

gossip_lease_t *gossip_lease_new (gossip_xfer_t *xfer, gossip_calls_t *calls, swim_t *swim,
                                  gossip_ns_t *ns, gossip_digests_t *digests,
                                  irh_worker_t *worker, const uint8_t *self_id);
void gossip_lease_destroy (gossip_lease_t **self_p);
//  A gossip_claim request (taken when valid: answered when every arbiter
//  answered or timed out; a bad one is answered here and counted).
void gossip_lease_claim (gossip_lease_t *self, irh_request_t **request_p, zframe_t *frame);
//  peer_claim_want from a peer (route: answer there).
void gossip_lease_message (gossip_lease_t *self, const uint8_t *from, zframe_t *route, int id,
                           zframe_t *frame);
//  A member swim declared dead (alive false): its leases here end now.
void gossip_lease_member (gossip_lease_t *self, const uint8_t *id, bool alive);
void gossip_lease_stats (gossip_lease_t *self, irh_table_t *table);

#endif
