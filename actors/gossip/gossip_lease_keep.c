/*  gossip_lease_keep.c: what keeps leases right beyond one arbiter
    (gossip_lease.h, docs/claims.md): the replica of every decision to
    the successor (the member ranked second), so that it answers at once
    when the arbiter dies; the leases of other nodes granted here, so
    that those of a node swim declares dead end at once; and the recent
    done marks decided here, sent to a node that comes (back) alive for
    the keys it now ranks first (a sync), so that a run on both sides of
    a partition is counted where both marks meet.
*/
#include "gossip_lease_int.h"
#include "irh_log.h"
#include <assert.h>

//  ---------------------------------------------------------------------
//  Remote leases, so that a dead node's leases end at once

typedef struct {
    char hex [2 * 32 + 1];          //  the key, the table's key
    uint8_t key [32];
    uint8_t node [32];
    char *stored;                   //  the holder as the store keeps it
    void *handle;                   //  in remote_order
} gl_remote_t;

static void
s_remote_free (void **item)
{
    gl_remote_t *remote = (gl_remote_t *) *item;
    if (remote) {
        free (remote->stored);
        free (remote);
        *item = NULL;
    }
}

void
gl_remote_new (gossip_lease_t *self)
{
    self->remote = zhashx_new ();
    self->remote_order = zlistx_new ();
    assert (self->remote && self->remote_order);
    zhashx_set_destructor (self->remote, s_remote_free);
}

void
gl_remote_destroy (gossip_lease_t *self)
{
    zlistx_destroy (&self->remote_order);
    zhashx_destroy (&self->remote);
}

static void
s_hex (const uint8_t *key, char *hex)
{
    for (int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", key [i]);
}

void
gl_remote_forget (gossip_lease_t *self, const uint8_t *key)
{
    char hex [2 * 32 + 1];
    s_hex (key, hex);
    gl_remote_t *remote = (gl_remote_t *) zhashx_lookup (self->remote, hex);
    if (remote) {
        zlistx_delete (self->remote_order, remote->handle);
        zhashx_delete (self->remote, hex);
    }
}

void
gl_remote_note (gossip_lease_t *self, const uint8_t *key, const uint8_t *node,
               const char *stored)
{
    gl_remote_forget (self, key);
    if (zhashx_size (self->remote) >= GL_REMOTE_MAX) {
        gl_remote_t *oldest = (gl_remote_t *) zlistx_first (self->remote_order);
        gl_remote_forget (self, oldest->key);
    }
    gl_remote_t *remote = (gl_remote_t *) calloc (1, sizeof (gl_remote_t));
    assert (remote);
    s_hex (key, remote->hex);
    memcpy (remote->key, key, 32);
    memcpy (remote->node, node, 32);
    remote->stored = strdup (stored);
    assert (remote->stored);
    remote->handle = zlistx_add_end (self->remote_order, remote);
    zhashx_insert (self->remote, remote->hex, remote);
}

void
gl_on_store_done (void *arg, int rc, zmsg_t *body, const char *error_code)
{
    (void) body;
    gossip_lease_t *self = (gossip_lease_t *) arg;
    if (rc != 0) {
        self->c.store_errors++;
        irh_warn ("claims: a store call nobody waits for failed: %s",
                  error_code ? error_code : "?");
    }
}

//  A member swim declared dead: the store releases each lease it holds
//  here (a release names the holder, so a key taken over since stays
//  with its new holder). It may be alive after all (a false suspicion):
//  its renewals are granted again where the key is still free.
static void s_sync (gossip_lease_t *self, const uint8_t *peer);

void
gossip_lease_member (gossip_lease_t *self, const uint8_t *id, bool alive)
{
    assert (self && id);
    if (memcmp (id, self->self_id, 32) == 0)
        return;
    if (alive) {
        s_sync (self, id);
        return;
    }
    gl_remote_t *remote = (gl_remote_t *) zlistx_first (self->remote_order);
    while (remote) {
        gl_remote_t *next = (gl_remote_t *) zlistx_next (self->remote_order);
        if (memcmp (remote->node, id, 32) == 0) {
            irh_release_t q;
            memset (&q, 0, sizeof q);
            memcpy (q.key, remote->key, 32);
            snprintf (q.holder, sizeof q.holder, "%s", remote->stored);
            zframe_t *frame = irh_release_encode (&q);
            zmsg_t *body = zmsg_new ();
            if (frame)
                zmsg_append (body, &frame);
            if (zmsg_size (body) == 1
            &&  gossip_calls_send (self->calls, "store", &body, GL_CALL_MS, gl_on_store_done,
                                   self) == 0)
                self->c.freed_dead++;
            zmsg_destroy (&body);
            gossip_keymap_remove (self->held_by, remote->key);
            gossip_keymap_remove (self->held_lease, remote->key);
            gl_remote_forget (self, remote->key);
        }
        remote = next;
    }
}

//  ---------------------------------------------------------------------
//  Replicas: every grant and done mark goes to the successor too, so that
//  it answers "held" / "done" at once when this node dies.

zframe_t *
gl_want_encode (gossip_lease_t *self, const uint8_t *peer, const char *ns,
                irh_peer_claim_want_t *want)
{
    uint8_t auth [GOSSIP_NS_AUTH];
    want->auth_size = gossip_ns_proof (self->ns, ns, peer, auth);
    want->auth = auth;
    return irh_peer_claim_want_encode (want);
}

void
gl_on_ignored (void *arg, const uint8_t *peer, zframe_t *answer)
{
    (void) arg; (void) peer; (void) answer;
}

bool
gl_address (gossip_lease_t *self, const uint8_t *id, char *out, size_t size)
{
    swim_member_t m;
    if (swim_member_find (self->swim, id, &m) != 0
    ||  (m.state != SWIM_ALIVE && m.state != SWIM_SUSPECT) || !m.node->address [0])
        return false;
    snprintf (out, size, "%s", m.node->address);
    return true;
}

//  The successor of key: the highest-ranked member that is not this node.
static size_t
s_successor (gl_decide_t *self, const uint8_t *key, const uint8_t (*ids) [32], size_t count)
{
    size_t first, second;
    gossip_lease_rank (self->wire, key, ids, count, &first, &second);
    return first == 0 ? second : first;         //  ids [0] is this node
}

void
gl_replicate (gl_decide_t *self)
{
    gossip_lease_t *lease = self->lease;
    if (self->granted == 0 && self->ndone == 0)
        return;
    uint8_t (*ids) [32];
    size_t count = gl_members (lease, self->ns, &ids);
    size_t *succ = (size_t *) malloc ((self->count + self->ndone + 1) * sizeof (size_t));
    uint8_t *keys = (uint8_t *) malloc (32 * self->count + 1);
    uint8_t *done = (uint8_t *) malloc (32 * self->ndone + 1);
    assert (succ && keys && done);
    for (size_t i = 0; i < self->count; i++)
        succ [i] = self->states [i] == 0 ? s_successor (self, self->keys + 32 * i, ids, count)
                                         : SIZE_MAX;
    for (size_t i = 0; i < self->ndone; i++)
        succ [self->count + i] = s_successor (self, self->done + 32 * i, ids, count);
    //  One replica per successor (a few members at most: quadratic is fine).
    for (size_t s = 0; s < self->count + self->ndone; s++) {
        size_t target = succ [s];
        if (target == SIZE_MAX)
            continue;
        size_t nkeys = 0, ndone = 0;
        for (size_t i = s; i < self->count + self->ndone; i++) {
            if (succ [i] != target)
                continue;
            if (i < self->count)
                memcpy (keys + 32 * nkeys++, self->keys + 32 * i, 32);
            else
                memcpy (done + 32 * ndone++, self->done + 32 * (i - self->count), 32);
            succ [i] = SIZE_MAX;
        }
        char address [80];
        if (!gl_address (lease, ids [target], address, sizeof address))
            continue;
        irh_peer_claim_want_t want;
        memset (&want, 0, sizeof want);
        want.req = gossip_xfer_next_req (lease->xfer);
        snprintf (want.ns, sizeof want.ns, "%s", self->wire);
        want.kind = self->kind;
        want.flags = 1;
        memcpy (want.holder_node, self->holder_node, 32);
        snprintf (want.holder, sizeof want.holder, "%s", self->holder);
        want.lease_ms = self->lease_ms;
        want.want = (uint32_t) nkeys;
        want.keys = keys;
        want.keys_size = 32 * nkeys;
        want.done = done;
        want.done_size = 32 * ndone;
        zframe_t *frame = gl_want_encode (lease, ids [target], self->ns, &want);
        if (frame && gossip_xfer_request (lease->xfer, ids [target], address, want.req, &frame,
                                          GL_CALL_MS, gl_on_ignored, lease) == 0)
            lease->c.replicas++;
        zframe_destroy (&frame);
    }
    free (succ);
    free (keys);
    free (done);
    free (ids);
}


//  ---------------------------------------------------------------------
//  Syncs: recent done marks to the node that arbitrates them now

void
gl_recent_note (gossip_lease_t *self, const char *ns, uint8_t kind, const uint8_t *key,
                const uint8_t *node)
{
    if (!self->recent) {
        self->recent = (gl_recent_t *) calloc (GL_RECENT_MAX, sizeof (gl_recent_t));
        assert (self->recent);
    }
    gl_recent_t *entry = &self->recent [self->recent_next];
    memcpy (entry->key, key, 32);
    memcpy (entry->node, node, 32);
    entry->kind = kind;
    snprintf (entry->ns, sizeof entry->ns, "%s", ns);
    self->recent_next = (self->recent_next + 1) % GL_RECENT_MAX;
    if (self->recent_count < GL_RECENT_MAX)
        self->recent_count++;
}

static void
s_sync_send (gossip_lease_t *self, const uint8_t *peer, const char *address,
             const gl_recent_t *like, const uint8_t *done, size_t n)
{
    irh_peer_claim_want_t want;
    memset (&want, 0, sizeof want);
    want.req = gossip_xfer_next_req (self->xfer);
    gossip_ns_wire (self->ns, like->ns, want.ns);
    want.kind = like->kind;
    want.flags = GL_FLAG_REPLICA | GL_FLAG_SYNC;
    memcpy (want.holder_node, like->node, 32);
    snprintf (want.holder, sizeof want.holder, "sync");
    want.done = done;
    want.done_size = 32 * n;
    zframe_t *frame = gl_want_encode (self, peer, like->ns, &want);
    if (frame && gossip_xfer_request (self->xfer, peer, address, want.req, &frame, GL_CALL_MS,
                                      gl_on_ignored, self) == 0)
        self->c.syncs_sent++;
    zframe_destroy (&frame);
}

//  peer is alive (new, restarted, or back from a partition): the recent
//  done marks it ranks first for go to it, batched by namespace, kind and
//  finishing node. Cost: ranking up to GL_RECENT_MAX keys (a few ms),
//  only when a member comes alive.
static void
s_sync (gossip_lease_t *self, const uint8_t *peer)
{
    char address [80];
    if (self->recent_count == 0 || !gl_address (self, peer, address, sizeof address))
        return;
    uint8_t *done = (uint8_t *) malloc (32 * GOSSIP_LEASE_DONE_MAX);
    assert (done);
    uint8_t (*ids) [32] = NULL;
    size_t count = 0, n = 0;
    const gl_recent_t *batch = NULL;        //  the first entry of the batch
    const char *members_ns = NULL;          //  ids are the members of this ns
    for (size_t i = 0; i < self->recent_count; i++) {
        size_t at = (self->recent_next + GL_RECENT_MAX - self->recent_count + i) % GL_RECENT_MAX;
        const gl_recent_t *entry = &self->recent [at];
        if (!members_ns || strcmp (members_ns, entry->ns) != 0) {
            free (ids);
            count = gl_members (self, entry->ns, &ids);
            members_ns = entry->ns;
        }
        char wire [GOSSIP_NS_WIRE_MAX];
        gossip_ns_wire (self->ns, entry->ns, wire);
        size_t first, second;
        gossip_lease_rank (wire, entry->key, (const uint8_t (*) [32]) ids, count, &first,
                           &second);
        if (first == SIZE_MAX || memcmp (ids [first], peer, 32) != 0)
            continue;
        if (batch && (n == GOSSIP_LEASE_DONE_MAX || batch->kind != entry->kind
                  ||  memcmp (batch->node, entry->node, 32) != 0
                  ||  strcmp (batch->ns, entry->ns) != 0)) {
            s_sync_send (self, peer, address, batch, done, n);
            n = 0;
        }
        if (n == 0)
            batch = entry;
        memcpy (done + 32 * n++, entry->key, 32);
    }
    if (n)
        s_sync_send (self, peer, address, batch, done, n);
    free (ids);
    free (done);
}
