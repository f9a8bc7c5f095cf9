/*  gossip_arbiter.c: the arbiter's half of claims across machines
    (gossip_lease.h, docs/claims.md): one decision on this node's store
    for keys this node ranks first, asked by a peer (peer_claim_want) or
    by this node's own gossip_claim, or a replica of another arbiter's
    decision (gossip_lease_keep.c sends them).

    The store keeps a remote holder as "n<16 hex of its node>:<holder>",
    so its check for dead local processes ("pid@host/uuid") never takes
    a remote holder for a local one (namespaces on one host share its
    name and pid space). The asker's node is its CURVE key, never a
    field, except in a replica, which names the holder's node.

    Cost per decision: kind 1 is one store each_claim (one LMDB write
    transaction for all keys); kind 0 is one store call per key, in order
    until want grants (memo asks for one key). The replica is sent after
    the answer and nobody waits for it.
*/
#include "gossip_lease_int.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <assert.h>
#include <sys/time.h>

void
gl_put_be64 (uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--, value >>= 8)
        out [i] = (uint8_t) value;
}

uint64_t
gl_get_be64 (const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | in [i];
    return value;
}

static uint64_t
s_wall_us (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (uint64_t) tv.tv_sec * 1000000ULL + (uint64_t) tv.tv_usec;
}

//  A store expiry (microseconds since the epoch) as ms left, for the wire:
//  clocks of different machines never meet.
static uint64_t
s_ms_left (uint64_t expires_us)
{
    uint64_t now = s_wall_us ();
    return expires_us > now ? (expires_us - now) / 1000 : 0;
}

size_t
gl_members (gossip_lease_t *self, const char *ns, uint8_t (**ids) [32])
{
    size_t total = swim_size (self->swim);
    *ids = (uint8_t (*) [32]) malloc ((total + 1) * 32);
    assert (*ids);
    memcpy ((*ids) [0], self->self_id, 32);
    size_t count = 1;
    for (size_t i = 0; i < total; i++) {
        swim_member_t m;
        if (swim_member_at (self->swim, i, &m) != 0
        ||  (m.state != SWIM_ALIVE && m.state != SWIM_SUSPECT)
        ||  memcmp (m.node->id, self->self_id, 32) == 0
        ||  !gossip_ns_member (self->ns, ns, m.node->id))
            continue;
        memcpy ((*ids) [count++], m.node->id, 32);
    }
    return count;
}

//  Is node this one, or a live member? (A done hint naming a dead node
//  sends waiters to a result nobody can serve.)
bool
gl_alive (gossip_lease_t *self, const uint8_t *node)
{
    if (memcmp (node, self->self_id, 32) == 0)
        return true;
    swim_member_t m;
    return swim_member_find (self->swim, node, &m) == 0
        && (m.state == SWIM_ALIVE || m.state == SWIM_SUSPECT);
}

//  The holder's node from the store's holder string: the node whose id
//  starts with the prefix's 16 hex digits, this node for an unprefixed
//  (local) holder, zeros when the prefix names nobody we know.
static void
s_holder_node (gossip_lease_t *self, const char *stored, uint8_t *node)
{
    memset (node, 0, 32);
    if (stored [0] != 'n' || strlen (stored) < GOSSIP_LEASE_PREFIX
    ||  stored [GOSSIP_LEASE_PREFIX - 1] != ':') {
        memcpy (node, self->self_id, 32);
        return;
    }
    char hex [IRH_NODE_ID_HEX + 1];
    size_t total = swim_size (self->swim);
    for (size_t i = 0; i < total; i++) {
        swim_member_t m;
        if (swim_member_at (self->swim, i, &m) != 0)
            continue;
        irh_identity_id_from_key (m.node->id, hex);
        if (memcmp (hex, stored + 1, 16) == 0) {
            memcpy (node, m.node->id, 32);
            return;
        }
    }
}

//  ---------------------------------------------------------------------
//  One decision

static void
s_free (gl_decide_t *self)
{
    gossip_lease_t *lease = self->lease;
    gossip_calls_cancel (lease->calls, self);
    if (self->handle)
        zlistx_delete (lease->decides, self->handle);
    free (self->keys);
    free (self->done);
    free (self->states);
    free (self->expires);
    free (self->nodes);
    free (self);
}


static void
s_finish (gl_decide_t *self, uint8_t status)
{
    self->status = status;
    if (status != 0) {
        self->count = 0;
        self->lease->c.store_errors++;
    }
    if (self->fn)
        self->fn (self->arg, self);
    if (status == 0 && (!self->replica || self->sync))
        gl_replicate (self);
    s_free (self);
}

//  Sends frame (taken; NULL when it did not encode) to the store: false
//  when it could not be sent (the caller ends the decision busy).
static bool
s_store (gl_decide_t *self, zframe_t *frame, gossip_call_fn *fn)
{
    zmsg_t *body = zmsg_new ();
    if (frame)
        zmsg_append (body, &frame);
    if (zmsg_size (body) == 1
    &&  gossip_calls_send (self->lease->calls, "store", &body, GL_CALL_MS, fn, self) == 0)
        return true;
    zmsg_destroy (&body);
    return false;
}

static void
s_fill (gl_decide_t *self, size_t i, uint8_t state, uint64_t expires_us, const uint8_t *node)
{
    self->states [i] = state;
    gl_put_be64 (self->expires + 8 * i, state <= 1 ? s_ms_left (expires_us) : 0);
    if (node)
        memcpy (self->nodes + 32 * i, node, 32);
    else
        memset (self->nodes + 32 * i, 0, 32);
    if (state == 0) {
        self->granted++;
        gossip_keymap_put (self->lease->held_by, self->keys + 32 * i, self->holder_node);
        uint8_t lease [32];
        memcpy (lease, self->stored_hash, 24);
        gl_put_be64 (lease + 24, expires_us);
        gossip_keymap_put (self->lease->held_lease, self->keys + 32 * i, lease);
        if (memcmp (self->holder_node, self->lease->self_id, 32) != 0)
            gl_remote_note (self->lease, self->keys + 32 * i, self->holder_node, self->stored);
    }
    self->count = i + 1;
}

//  Done keys: remember who finished them; count a duplicate run: a done
//  for a key another node finished already, or one that another holder
//  holds a live lease on (its lease ran out and it was taken over).
static void
s_note_done (gl_decide_t *self)
{
    gossip_lease_t *lease = self->lease;
    uint64_t now = s_wall_us ();
    for (size_t i = 0; i < self->ndone; i++) {
        const uint8_t *key = self->done + 32 * i;
        uint8_t before [32];
        //  A replica repeats what its arbiter counted already; a sync
        //  brings a mark made apart from us (both sides ran it).
        bool counts = !self->replica || self->sync;
        if (counts && gossip_keymap_get (lease->done_by, key, before)
        &&  memcmp (before, self->holder_node, 32) != 0)
            lease->c.duplicates++;
        else
        if (counts && gossip_keymap_get (lease->held_lease, key, before)
        &&  memcmp (before, self->stored_hash, 24) != 0 && gl_get_be64 (before + 24) > now)
            lease->c.duplicates++;
        gossip_keymap_remove (lease->held_lease, key);
        if (!self->replica)
            gl_recent_note (lease, self->ns, self->kind, key, self->holder_node);
        gossip_keymap_put (lease->done_by, key, self->holder_node);
        gossip_keymap_remove (lease->held_by, key);
        gl_remote_forget (lease, key);
    }
}

//  kind 1: the store's each_claim does it all in one transaction.
static void
s_on_each (void *arg, int rc, zmsg_t *body, const char *error_code)
{
    gl_decide_t *self = (gl_decide_t *) arg;
    irh_each_claim_reply_t reply;
    zframe_t *frame = rc == 0 && body ? zmsg_first (body) : NULL;
    if (!frame || irh_each_claim_reply_decode (frame, &reply) != 0
    ||  reply.states_size > self->nkeys || reply.expires_size != 8 * reply.states_size) {
        irh_warn ("claims: the store's each_claim failed: %s",
                  rc == 0 ? "bad reply" : error_code ? error_code : "?");
        s_finish (self, 3);
        return;
    }
    for (size_t i = 0; i < reply.states_size; i++) {
        uint8_t state = reply.states [i];
        const uint8_t *key = self->keys + 32 * i;
        uint8_t node [32];
        bool known = false;
        if (state == 1)
            known = gossip_keymap_get (self->lease->held_by, key, node);
        else
        if (state == 2)
            known = gossip_keymap_get (self->lease->done_by, key, node);
        else
        if (state == 3 && self->kind == 0
        &&  gossip_keymap_get (self->lease->done_by, key, node) && gl_alive (self->lease, node)) {
            state = 2;          //  a memo result on the node that computed it
            known = true;
        }
        s_fill (self, i, state > 3 ? 3 : state, gl_get_be64 (reply.expires + 8 * i),
                state == 0 ? self->holder_node : known ? node : NULL);
    }
    s_finish (self, 0);
}

static void
s_each_claim (gl_decide_t *self, bool with_done)
{
    irh_each_claim_t q;
    memset (&q, 0, sizeof q);
    snprintf (q.ns, sizeof q.ns, "%s", self->ns);
    snprintf (q.holder, sizeof q.holder, "%s", self->stored);
    q.lease_ms = self->lease_ms;
    q.want = self->want;
    q.keys = self->keys;
    q.keys_size = 32 * self->nkeys;
    if (with_done) {
        q.done = self->done;
        q.done_size = 32 * self->ndone;
    }
    if (!s_store (self, irh_each_claim_encode (&q), s_on_each))
        s_finish (self, 3);
}

//  kind 0: one store claim per key, in order, until want grants. A key
//  done by a live node we know of is answered from the table (memo
//  results live on the node that computed them, not at the arbiter).
static void s_claim_next (gl_decide_t *self);

static void
s_on_claim (void *arg, int rc, zmsg_t *body, const char *error_code)
{
    gl_decide_t *self = (gl_decide_t *) arg;
    irh_claim_reply_t reply;
    zframe_t *frame = rc == 0 && body ? zmsg_first (body) : NULL;
    if (!frame || irh_claim_reply_decode (frame, &reply) != 0 || reply.status > 2) {
        irh_warn ("claims: the store's claim failed: %s",
                  rc == 0 ? "bad reply" : error_code ? error_code : "?");
        s_finish (self, 3);
        return;
    }
    uint8_t node [32];
    if (reply.status == 1)
        s_holder_node (self->lease, reply.holder, node);
    else
        memcpy (node, reply.status == 0 ? self->holder_node : self->lease->self_id, 32);
    s_fill (self, self->next, reply.status, reply.expires_us, node);
    self->next++;
    s_claim_next (self);
}

static void
s_claim_next (gl_decide_t *self)
{
    while (self->next < self->nkeys && self->granted < self->want) {
        const uint8_t *key = self->keys + 32 * self->next;
        uint8_t node [32];
        if (gossip_keymap_get (self->lease->done_by, key, node) && gl_alive (self->lease, node)) {
            s_fill (self, self->next++, 2, 0, node);
            continue;
        }
        irh_claim_t q;
        memset (&q, 0, sizeof q);
        memcpy (q.key, key, 32);
        snprintf (q.holder, sizeof q.holder, "%s", self->stored);
        q.lease_ms = self->lease_ms;
        if (!s_store (self, irh_claim_encode (&q), s_on_claim))
            s_finish (self, 3);
        return;
    }
    s_finish (self, 0);
}

static void
s_keys_phase (gl_decide_t *self)
{
    if (self->nkeys == 0)
        s_finish (self, 0);
    else
    if (self->kind == 1 || self->want == 0)
        s_each_claim (self, self->kind == 1);
    else
        s_claim_next (self);
}

//  kind 0 done keys: the result is stored on the holder's node; here the
//  lease ends (release) and the table remembers who has it.
static void
s_on_release (void *arg, int rc, zmsg_t *body, const char *error_code)
{
    (void) body;
    gl_decide_t *self = (gl_decide_t *) arg;
    if (rc != 0)
        irh_debug ("claims: release at the store: %s", error_code ? error_code : "?");
    if (--self->pending == 0)
        s_keys_phase (self);
}

gl_decide_t *
gl_decide_new (gossip_lease_t *lease, const char *ns, const char *wire, uint8_t kind,
               uint8_t flags, const uint8_t *holder_node, const char *holder,
               uint64_t lease_ms, uint32_t want, const uint8_t *done, size_t ndone,
               const uint8_t *keys, size_t nkeys, gl_decided_fn *fn, void *arg)
{
    if (zlistx_size (lease->decides) >= GL_DECIDES_MAX) {
        lease->c.busy++;
        return NULL;
    }
    gl_decide_t *self = (gl_decide_t *) calloc (1, sizeof (gl_decide_t));
    assert (self);
    self->lease = lease;
    snprintf (self->ns, sizeof self->ns, "%s", ns);
    snprintf (self->wire, sizeof self->wire, "%s", wire);
    self->kind = kind;
    self->replica = flags & GL_FLAG_REPLICA;
    self->sync = flags & GL_FLAG_SYNC;
    memcpy (self->holder_node, holder_node, 32);
    snprintf (self->holder, sizeof self->holder, "%s", holder);
    if (!*holder)
        self->stored [0] = 0;
    else
    if (memcmp (holder_node, lease->self_id, 32) == 0)
        snprintf (self->stored, sizeof self->stored, "%s", holder);
    else {
        char hex [IRH_NODE_ID_HEX + 1];
        irh_identity_id_from_key (holder_node, hex);
        snprintf (self->stored, sizeof self->stored, "n%.16s:%.*s", hex,
                  GOSSIP_LEASE_HOLDER_MAX, holder);
    }
    uint8_t hash [32];
    irh_blake3 (self->stored, strlen (self->stored), hash);
    memcpy (self->stored_hash, hash, 24);
    self->lease_ms = lease_ms;
    self->want = want;
    self->nkeys = nkeys;
    self->ndone = ndone;
    self->keys = (uint8_t *) malloc (32 * nkeys + 1);
    self->done = (uint8_t *) malloc (32 * ndone + 1);
    self->states = (uint8_t *) malloc (nkeys + 1);
    self->expires = (uint8_t *) malloc (8 * nkeys + 1);
    self->nodes = (uint8_t *) malloc (32 * nkeys + 1);
    assert (self->keys && self->done && self->states && self->expires && self->nodes);
    if (nkeys)
        memcpy (self->keys, keys, 32 * nkeys);
    if (ndone)
        memcpy (self->done, done, 32 * ndone);
    self->fn = fn;
    self->arg = arg;
    self->handle = zlistx_add_end (lease->decides, self);
    return self;
}

void
gl_decide_start (gl_decide_t *self)
{
    if (self->ndone)
        s_note_done (self);
    if (self->kind == 1 || self->ndone == 0) {
        //  kind 1 marks done keys in its each_claim; with no keys, alone.
        if (self->kind == 1 && self->nkeys == 0 && self->ndone)
            s_each_claim (self, true);
        else
            s_keys_phase (self);
        return;
    }
    self->pending = 1;                  //  the loop below: nothing ends inside it
    for (size_t i = 0; i < self->ndone; i++) {
        irh_release_t q;
        memset (&q, 0, sizeof q);
        memcpy (q.key, self->done + 32 * i, 32);
        snprintf (q.holder, sizeof q.holder, "%s", self->stored);
        if (s_store (self, irh_release_encode (&q), s_on_release))
            self->pending++;
    }
    if (--self->pending == 0)
        s_keys_phase (self);
}

static void s_on_decided (void *arg, gl_decide_t *decide);
static void s_route_free (void *arg);

void
gl_decide_destroy_all (gossip_lease_t *lease)
{
    gl_decide_t *self;
    while ((self = (gl_decide_t *) zlistx_first (lease->decides))) {
        if (self->fn == s_on_decided)
            s_route_free (self->arg);
        s_free (self);
    }
}

//  ---------------------------------------------------------------------
//  peer_claim_want from a peer

typedef struct {
    gossip_lease_t *lease;
    zframe_t *route;
    uint32_t req;
} s_route_t;

static void
s_answer (gossip_lease_t *lease, zframe_t *route, uint32_t req, uint8_t status,
          gl_decide_t *decide)
{
    irh_peer_claim_t answer;
    memset (&answer, 0, sizeof answer);
    answer.req = req;
    answer.status = status;
    if (decide && status == 0) {
        answer.states = decide->states;
        answer.states_size = decide->count;
        answer.expires = decide->expires;
        answer.expires_size = 8 * decide->count;
        answer.nodes = decide->nodes;
        answer.nodes_size = 32 * decide->count;
    }
    zframe_t *frame = irh_peer_claim_encode (&answer);
    if (frame)
        gossip_xfer_reply (lease->xfer, route, &frame);
    zframe_destroy (&frame);
}

static void
s_route_free (void *arg)
{
    s_route_t *route = (s_route_t *) arg;
    zframe_destroy (&route->route);
    free (route);
}

static void
s_on_decided (void *arg, gl_decide_t *decide)
{
    s_route_t *route = (s_route_t *) arg;
    s_answer (route->lease, route->route, route->req, decide->status, decide);
    s_route_free (route);
}

//  Does this node rank first for every key of the request in its own
//  view? A "no" is counted (views differ while swim converges); the
//  request is served all the same: refusing would leave the keys with
//  nobody to decide them.
static bool
s_am_arbiter (gossip_lease_t *self, const char *ns, const char *wire, const uint8_t *keys,
              size_t nkeys)
{
    uint8_t (*ids) [32];
    size_t count = gl_members (self, ns, &ids);
    bool first = true;
    for (size_t i = 0; i < nkeys && first; i++) {
        size_t a, b;
        gossip_lease_rank (wire, keys + 32 * i, (const uint8_t (*) [32]) ids, count, &a, &b);
        first = a == 0;
    }
    free (ids);
    return first;
}

void
gossip_lease_message (gossip_lease_t *self, const uint8_t *from, zframe_t *route, int id,
                      zframe_t *frame)
{
    assert (self);
    irh_peer_claim_want_t want;
    memset (&want, 0, sizeof want);
    const char *why = "not a claim request";
    if (id != IRH_MSG_PEER_CLAIM_WANT || !route
    ||  irh_peer_claim_want_decode (frame, &want) != 0
    ||  gossip_lease_want_check (&want, &why) != 0) {
        self->c.bad_requests++;
        irh_debug ("claims: bad request from a peer: %s", why);
        if (route)
            s_answer (self, route, want.req, 4, NULL);
        return;
    }
    char ns [GOSSIP_NS_WIRE_MAX];
    bool replica = want.flags & 1;
    //  A replica comes from a member (in any state: a node back from a
    //  partition syncs before every member has seen it alive again).
    swim_member_t member;
    if (gossip_ns_accept (self->ns, want.ns, from, want.auth, want.auth_size, ns) != 0
    ||  (replica && swim_member_find (self->swim, from, &member) != 0)) {
        self->c.refused++;
        s_answer (self, route, want.req, 2, NULL);
        return;
    }
    if (want.flags & GL_FLAG_SYNC)
        self->c.syncs_in++;
    else
    if (replica)
        self->c.replicas_in++;
    else {
        self->c.served++;
        if (!s_am_arbiter (self, ns, want.ns, want.keys, want.keys_size / 32))
            self->c.not_arbiter++;
    }
    s_route_t *back = (s_route_t *) calloc (1, sizeof (s_route_t));
    assert (back);
    back->lease = self;
    back->req = want.req;
    gl_decide_t *decide = gl_decide_new (self, ns, want.ns, want.kind, want.flags,
                                         replica ? want.holder_node : from, want.holder,
                                         want.lease_ms, want.want, want.done,
                                         want.done_size / 32, want.keys, want.keys_size / 32,
                                         s_on_decided, back);
    if (!decide) {
        free (back);
        s_answer (self, route, want.req, 3, NULL);
        return;
    }
    back->route = zframe_dup (route);
    gl_decide_start (decide);
}
