/*  gossip_lease_int.h: what gossip_lease.c (the asker: gossip_claim) and
    gossip_arbiter.c (the arbiter: one decision on the local store) share.
    Not for other modules: gossip_data.h has the public calls.
*/
#ifndef GOSSIP_LEASE_INT_H_INCLUDED
#define GOSSIP_LEASE_INT_H_INCLUDED
#include "gossip_data.h"
#include "gossip_lease.h"
#include "gossip_ns.h"

#define GL_CALL_MS          5000        //  a store call
#define GL_TABLE_SIZE       65536       //  entries of each key table (72 B each: 4.5 MiB full)
#define GL_DECIDES_MAX      1024        //  decisions in flight (then peers get "busy")
#define GL_CLAIMS_MAX       1024        //  gossip_claim requests in flight
#define GL_REMOTE_MAX       16384       //  remote leases remembered (2.5 MiB full)
#define GL_RECENT_MAX       4096        //  recent done marks kept for syncs (1.3 MiB)
#define GL_FLAG_REPLICA     1           //  peer_claim_want flags
#define GL_FLAG_SYNC        2

//  A done mark this node decided as the arbiter, kept so that a node
//  that comes (back) alive and ranks first for its key learns it.
typedef struct {
    uint8_t key [32];
    uint8_t node [32];              //  who finished it
    uint8_t kind;
    char ns [GOSSIP_NS_WIRE_MAX];   //  local name
} gl_recent_t;

typedef struct _gl_decide_t gl_decide_t;
typedef void (gl_decided_fn) (void *arg, gl_decide_t *decide);

struct _gossip_lease_t {
    gossip_xfer_t *xfer;
    gossip_calls_t *calls;
    swim_t *swim;
    gossip_ns_t *ns;
    gossip_digests_t *digests;
    irh_worker_t *worker;
    uint8_t self_id [32];
    //  What this node knows as an arbiter beyond its store: who finished
    //  a key (memo results live on that node, not here) and who holds it
    //  (the store's each_claim does not name holders). Bounded, oldest
    //  out; lost on restart (then the nodes field is zeros).
    gossip_keymap_t *done_by;
    gossip_keymap_t *held_by;
    //  key -> first 24 bytes of BLAKE3(the holder as stored) and the
    //  lease's end (8 bytes, big-endian, us since the epoch): a done from
    //  another holder while that lease runs is a duplicate run.
    gossip_keymap_t *held_lease;
    //  As the asker: key -> BLAKE3 of the local holder it was last granted
    //  to, so that a renewal past the want-th grant is not given back.
    gossip_keymap_t *mine;
    //  Leases of remote holders granted here (hex key -> gl_remote_t *,
    //  and the same in grant order), so that the leases of a node swim
    //  declares dead are freed at once: at most GL_REMOTE_MAX (~150 bytes
    //  each), the oldest forgotten first (those just expire).
    zhashx_t *remote;
    zlistx_t *remote_order;
    gl_recent_t *recent;            //  ring of GL_RECENT_MAX (allocated on first use)
    size_t recent_next, recent_count;
    zlistx_t *claims;               //  gl_claim_t * in flight (gossip_lease.c)
    zlistx_t *decides;              //  gl_decide_t * in flight (gossip_arbiter.c)
    struct {
        uint64_t asked, local, remote, served, replicas, replicas_in, refused, unreachable;
        uint64_t overgrant_released, not_arbiter, duplicates, bad_requests, bad_answers;
        uint64_t busy, store_errors, done_hints, renewals_kept, freed_dead;
        uint64_t syncs_sent, syncs_in;
    } c;
};

//  One decision of this node as the arbiter (or as a successor applying
//  a replica): done keys first, then keys in order until want grants.
struct _gl_decide_t {
    gossip_lease_t *lease;
    void *handle;                   //  in lease->decides
    char ns [GOSSIP_NS_WIRE_MAX];   //  local name (the store's)
    char wire [GOSSIP_NS_WIRE_MAX]; //  wire name (ranking, replicas)
    uint8_t kind;
    bool replica;                   //  applying another arbiter's decision
    bool sync;                      //  ... a done mark it made while we were apart
    uint8_t holder_node [32];
    char holder [256];              //  the client's holder id
    char stored [256];              //  the holder as the store keeps it
    uint8_t stored_hash [24];       //  BLAKE3 of stored, cut (held_lease)
    uint64_t lease_ms;
    uint32_t want;
    uint8_t *keys, *done;           //  32 bytes each (wire keys)
    size_t nkeys, ndone;
    //  The answer: status 0 ok, 3 busy (the store failed: retry)
    uint8_t status;
    uint8_t *states, *expires, *nodes;      //  nkeys, 8 x nkeys (ms left, BE), 32 x nkeys
    size_t count;                   //  states filled
    uint32_t granted;
    size_t next;                    //  kind 0: the key being claimed
    size_t pending;                 //  kind 0: releases of done keys in flight
    gl_decided_fn *fn;
    void *arg;
};

//  The members of local namespace ns: this node first, then every member
//  alive or suspect that gossip_ns_member admits. Returns the count (at
//  least 1); *ids is malloc'd (free it).
size_t gl_members (gossip_lease_t *self, const char *ns, uint8_t (**ids) [32]);

//  A decision on the keys and done keys given (copied), for holder_node's
//  holder; flags as peer_claim_want's (GL_FLAG_*); fn (may be NULL) is
//  called once when it is over, then the decision is freed. NULL when too
//  many are in flight (counted).
gl_decide_t *gl_decide_new (gossip_lease_t *self, const char *ns, const char *wire,
                            uint8_t kind, uint8_t flags, const uint8_t *holder_node,
                            const char *holder, uint64_t lease_ms, uint32_t want,
                            const uint8_t *done, size_t ndone, const uint8_t *keys,
                            size_t nkeys, gl_decided_fn *fn, void *arg);
//  Starts it: fn may run before this returns.
void gl_decide_start (gl_decide_t *decide);
//  Forget every decision (gossip is stopping): fn is never called.
void gl_decide_destroy_all (gossip_lease_t *self);
//  Make and free the table of remote leases.
void gl_remote_new (gossip_lease_t *self);
void gl_remote_destroy (gossip_lease_t *self);

//  Is node this one, or a member alive or suspect?
bool gl_alive (gossip_lease_t *self, const uint8_t *node);
//  The gossip address of a member alive or suspect into out: false if none.
bool gl_address (gossip_lease_t *self, const uint8_t *id, char *out, size_t size);

//  gossip_lease_keep.c: a decision's replica to the successors of its
//  keys (sent, not waited for); the remote leases granted here.
void gl_replicate (gl_decide_t *decide);
void gl_remote_note (gossip_lease_t *self, const uint8_t *key, const uint8_t *node,
                     const char *stored);
void gl_remote_forget (gossip_lease_t *self, const uint8_t *key);
//  A done mark decided here (kept for syncs).
void gl_recent_note (gossip_lease_t *self, const char *ns, uint8_t kind, const uint8_t *key,
                     const uint8_t *node);

//  Callbacks for what nobody waits for: an answer to a replica, sync or
//  give-back (dropped), a store call (a failure is counted and logged).
void gl_on_ignored (void *arg, const uint8_t *peer, zframe_t *answer);
void gl_on_store_done (void *arg, int rc, zmsg_t *body, const char *error_code);

//  A peer_claim_want frame for a peer (auth from gossip_ns_proof), or NULL.
zframe_t *gl_want_encode (gossip_lease_t *self, const uint8_t *peer, const char *ns,
                          irh_peer_claim_want_t *want);

void gl_put_be64 (uint8_t *out, uint64_t value);
uint64_t gl_get_be64 (const uint8_t *in);

#endif
