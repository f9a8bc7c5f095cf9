/*  gossip_ns.h: namespaces as the wire sees them (docs/namespaces.md).

    A namespace without a secret travels under its name, and every live
    member of the cluster is a member of it. A namespace with a secret
    (<home>/ns/, read at start and every few seconds) travels under its namespace id, its keys
    are blinded, every request naming it carries a proof that the asker
    holds the secret, and only peers that proved it are its members.

    Every module of the gossip actor that puts a namespace on the wire or
    takes one from it goes through here (digests, manifests, reads,
    claims), so that the rules live in one place.

    Local spelling: the Python client stores a secret namespace's results
    under its id (64 hex) with keys already blinded, so inside the node
    (store, digests, claims from the client) its ns is the id, which is
    also its wire name. A secret namespace's name spelled out is, on the
    wire, a public namespace like any other (treating it differently
    would tell anyone which names we hold secrets of); only our own
    results stored under it are never published (gossip_ns_visible). The
    name is what the user's config uses (gossip_ns_name).
*/
#ifndef GOSSIP_NS_H_INCLUDED
#define GOSSIP_NS_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "irh_table.h"
#include "swim.h"
#include <czmq.h>

#define GOSSIP_NS_WIRE_MAX  256         //  bytes of a wire name, with its NUL
#define GOSSIP_NS_AUTH      32          //  bytes of a proof

typedef struct _gossip_ns_t gossip_ns_t;
typedef struct _gossip_xfer_t gossip_xfer_t;

//  Loads the secrets of ns_dir (NULL or unreadable: none; each refused
//  file is logged and counted), and again every few seconds once
//  started. self_id is this node's node id. NULL if libsodium cannot start.
gossip_ns_t *gossip_ns_new (const char *ns_dir, const uint8_t *self_id);
//  Ends its timers: destroy it while the loop it was started on lives.
void gossip_ns_destroy (gossip_ns_t **self_p);

//  Peer ns proved namespace ns (its id) to us: time to exchange its digest.
typedef void (gossip_ns_joined_fn) (void *arg, const uint8_t *peer, const char *ns);
//  Once the data plane exists: proofs go out on xfer, joined is called
//  for each namespace a peer proves.
void gossip_ns_start (gossip_ns_t *self, gossip_xfer_t *xfer, swim_t *swim, zloop_t *loop,
                      gossip_ns_joined_fn *joined, void *arg);
//  A member became alive (we send it our proofs and ask for its) or gone
//  (its proofs are forgotten).
void gossip_ns_member_event (gossip_ns_t *self, const uint8_t *peer, const char *address,
                             bool alive);
//  The pure half of a peer_ns_proof (no I/O; fuzzed): from's proofs in
//  data are matched, counted, and what they prove recorded; *ask when it
//  wants ours. 0, or -1 when malformed (counted).
int gossip_ns_proof_in (gossip_ns_t *self, const uint8_t *from, const uint8_t *data,
                        size_t size, bool *ask);
//  A peer_ns_proof from a live member peer (its CURVE key), on route.
void gossip_ns_message (gossip_ns_t *self, const uint8_t *from, zframe_t *route,
                        zframe_t *frame);

//  The name the user knows ns by (for config keys such as
//  ns.<name>.producers): a secret namespace's name for its id, else ns.
const char *gossip_ns_name (gossip_ns_t *self, const char *ns);

//  Namespaces with a secret held here.
size_t gossip_ns_count (gossip_ns_t *self);

//  True if ns is the id or the name of a namespace with a secret here
//  (what is stored under either is never counted or shown as public).
bool gossip_ns_secret (gossip_ns_t *self, const char *ns);

//  The wire name of local namespace ns into wire (GOSSIP_NS_WIRE_MAX).
void gossip_ns_wire (gossip_ns_t *self, const char *ns, char *wire);

//  The key as the wire carries it in ns: as it is (the client blinded
//  the keys of a namespace with a secret before storing them).
void gossip_ns_key_out (gossip_ns_t *self, const char *ns, const uint8_t *key,
                        uint8_t *wire_key);

//  The proof for a request in ns (an id) sent to peer: its size (0 for a
//  public namespace), written to auth (GOSSIP_NS_AUTH bytes).
size_t gossip_ns_proof (gossip_ns_t *self, const char *ns, const uint8_t *peer,
                        uint8_t *auth);

//  A request from peer naming wire namespace wire with proof auth: the
//  local name to serve it under, copied to ns (GOSSIP_NS_WIRE_MAX), and 0;
//  -1 when it must be refused (a secret namespace not proved, or one this
//  node does not hold): counted.
int gossip_ns_accept (gossip_ns_t *self, const char *wire, const uint8_t *peer,
                      const uint8_t *auth, size_t auth_size, char *ns);

//  True if node may take part in ns (claims' rendezvous ranking, digests):
//  always for a public namespace, for a secret one only after node proved
//  the secret to us.
bool gossip_ns_member (gossip_ns_t *self, const char *ns, const uint8_t *node);

//  May anything about local namespace ns (its digest, a manifest, its
//  existence) go to peer? Public: yes; secret: only to a member; a store
//  namespace spelled with a secret namespace's name (keys not blinded):
//  never.
bool gossip_ns_visible (gossip_ns_t *self, const char *ns, const uint8_t *peer);
//  Count a request refused because of the rules above (answered as
//  "not found" by its module).
void gossip_ns_refused (gossip_ns_t *self);

//  The MAC of a manifest record served in ns for key (GOSSIP_NS_AUTH
//  bytes into tag, returned), 0 for a public namespace. check: 0 when tag
//  is right for ns (empty for a public one), else -1.
size_t gossip_ns_manifest_tag (gossip_ns_t *self, const char *ns, const uint8_t *key,
                               const uint8_t *record, size_t size, uint8_t *tag);
int gossip_ns_manifest_check (gossip_ns_t *self, const char *ns, const uint8_t *key,
                              const uint8_t *record, size_t size, const uint8_t *tag,
                              size_t tag_size);

//  Counters (ns_*) as name/value rows of the gossip_stats table.
void gossip_ns_stats (gossip_ns_t *self, irh_table_t *table);

#endif
