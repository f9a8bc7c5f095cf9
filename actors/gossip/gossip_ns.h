/*  gossip_ns.h: namespaces as the wire sees them (docs/namespaces.md).

    A namespace without a secret travels under its name, and every live
    member of the cluster is a member of it. A namespace with a secret
    (<home>/ns/, read at start) travels under its namespace id, its keys
    are blinded, every request naming it carries a proof that the asker
    holds the secret, and only peers that proved it are its members.

    Every module of the gossip actor that puts a namespace on the wire or
    takes one from it goes through here (digests, manifests, reads,
    claims), so that the rules live in one place.
*/
#ifndef GOSSIP_NS_H_INCLUDED
#define GOSSIP_NS_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "irh_table.h"

#define GOSSIP_NS_WIRE_MAX  256         //  bytes of a wire name, with its NUL
#define GOSSIP_NS_AUTH      32          //  bytes of a proof

typedef struct _gossip_ns_t gossip_ns_t;

//  Loads the secrets of ns_dir (NULL or unreadable: none; each refused
//  file is logged and counted). self_id is this node's node id.
gossip_ns_t *gossip_ns_new (const char *ns_dir, const uint8_t *self_id);
void gossip_ns_destroy (gossip_ns_t **self_p);

//  True if ns (a local name) has a secret here.
bool gossip_ns_secret (gossip_ns_t *self, const char *ns);

//  The wire name of local namespace ns into wire (GOSSIP_NS_WIRE_MAX).
void gossip_ns_wire (gossip_ns_t *self, const char *ns, char *wire);

//  The key as the wire carries it in ns (blinded when ns has a secret,
//  else copied).
void gossip_ns_key_out (gossip_ns_t *self, const char *ns, const uint8_t *key,
                        uint8_t *wire_key);

//  The proof for a request in ns sent to peer: its size (0 for a public
//  namespace), written to auth (GOSSIP_NS_AUTH bytes).
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

//  Counters (ns_*) as name/value rows of the gossip_stats table.
void gossip_ns_stats (gossip_ns_t *self, irh_table_t *table);

#endif
