/*  gossip_lease.c: claims across machines, the asker's half
    (gossip_lease.h, docs/claims.md): the broker request gossip_claim.

    The keys (and done keys) are grouped by their arbiter, the member of
    the namespace ranked first by rendezvous hashing; the group this node
    arbitrates goes to its own store (gossip_arbiter.c), the others as
    peer_claim_want over the data socket, all in parallel. The answers are
    merged in request order: states stop after the want-th grant, and a
    grant beyond it (each arbiter may grant up to want) is released again
    by renewing it with a 1 ms lease at its arbiter, unless it renewed a
    lease this node saw granted to the same holder before. With the keep
    flag (irohds.each's passes) want counts per arbiter and every grant is
    the caller's: the answer ends where the first arbiter stopped looking,
    so a step over keys of k arbiters runs up to k keys for one round trip
    instead of granting k and giving k - 1 back. An arbiter that does
    not answer in time gives state 4 for its keys, never "free".

    Cost: one data-socket round trip to each remote arbiter plus its store
    transaction; BLAKE3 ranking of every key against every member (~0.2 us
    each: 16,384 keys x 10 members is ~30 ms of the loop).
*/
#include "gossip_lease_int.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <assert.h>

#define S_TIMEOUT_MS    5000        //  per arbiter when the request says 0

typedef struct _s_claim_t s_claim_t;

//  The keys of one arbiter.
typedef struct {
    s_claim_t *claim;
    uint8_t arbiter [32];
    bool local;
    uint8_t *keys, *done;           //  wire keys
    size_t nkeys, ndone;
    bool failed;                    //  no answer (state 4 for its keys)
    uint8_t *states, *expires, *nodes;
    size_t count;
} s_group_t;

struct _s_claim_t {
    gossip_lease_t *lease;
    irh_request_t *request;
    void *handle;
    char ns [256], wire [GOSSIP_NS_WIRE_MAX], holder [256];
    uint8_t kind;
    uint64_t lease_ms;
    uint32_t want, timeout_ms;
    bool keep;                      //  flags bit 0: every grant in the answer is kept
    uint8_t *keys, *wkeys;          //  as asked, as the wire carries them
    size_t nkeys, ndone;
    uint8_t *wdone;
    uint32_t *group_of, *pos;       //  per key: its group, its place there
    s_group_t *groups;
    size_t ngroups, pending;
    bool alone;
};

static void
s_claim_free (s_claim_t *self)
{
    gossip_lease_t *lease = self->lease;
    for (size_t g = 0; g < self->ngroups; g++) {
        s_group_t *group = &self->groups [g];
        gossip_xfer_cancel (lease->xfer, group);
        free (group->keys);
        free (group->done);
        free (group->states);
        free (group->expires);
        free (group->nodes);
    }
    if (self->handle)
        zlistx_delete (lease->claims, self->handle);
    irh_request_destroy (&self->request);
    free (self->groups);
    free (self->keys);
    free (self->wkeys);
    free (self->wdone);
    free (self->group_of);
    free (self->pos);
    free (self);
}

//  A peer_claim_want of this claim's namespace, kind and holder for keys,
//  with a fresh req id (the caller adds done keys).
static void
s_want_fill (s_claim_t *self, irh_peer_claim_want_t *want, uint64_t lease_ms, uint32_t wanted,
             const uint8_t *keys, size_t n)
{
    memset (want, 0, sizeof *want);
    want->req = gossip_xfer_next_req (self->lease->xfer);
    snprintf (want->ns, sizeof want->ns, "%s", self->wire);
    want->kind = self->kind;
    snprintf (want->holder, sizeof want->holder, "%s", self->holder);
    want->lease_ms = lease_ms;
    want->want = wanted;
    want->keys = keys;
    want->keys_size = 32 * n;
}

//  Give back grants beyond want: a renewal with a 1 ms lease, at the
//  arbiter that granted them (no release message crosses the wire; the
//  lease then ends at the arbiter and its successor alike).
static void
s_release (s_claim_t *self, s_group_t *group, const uint8_t *keys, size_t n)
{
    gossip_lease_t *lease = self->lease;
    lease->c.overgrant_released += n;
    if (group->local) {
        gl_decide_t *decide = gl_decide_new (lease, self->ns, self->wire, self->kind, 0,
                                             lease->self_id, self->holder, 1, (uint32_t) n,
                                             NULL, 0, keys, n, NULL, NULL);
        if (decide)
            gl_decide_start (decide);
        return;
    }
    char address [80];
    if (!gl_address (lease, group->arbiter, address, sizeof address))
        return;
    irh_peer_claim_want_t want;
    s_want_fill (self, &want, 1, (uint32_t) n, keys, n);
    zframe_t *frame = gl_want_encode (lease, group->arbiter, self->ns, &want);
    if (frame)
        gossip_xfer_request (lease->xfer, group->arbiter, address, want.req, &frame,
                             GL_CALL_MS, gl_on_ignored, lease);
    zframe_destroy (&frame);
}

//  kind 1: done marks decided by another arbiter are kept here too, on
//  the node that did the work (a rerun here skips them at once).
static void
s_local_done_marks (s_claim_t *self)
{
    gossip_lease_t *lease = self->lease;
    size_t n = 0;
    uint8_t *done = (uint8_t *) malloc (32 * self->ndone + 1);
    assert (done);
    for (size_t g = 0; g < self->ngroups; g++)
        if (!self->groups [g].local && self->groups [g].ndone) {
            memcpy (done + 32 * n, self->groups [g].done, 32 * self->groups [g].ndone);
            n += self->groups [g].ndone;
        }
    if (n) {
        irh_each_claim_t q;
        memset (&q, 0, sizeof q);
        snprintf (q.ns, sizeof q.ns, "%s", self->ns);
        snprintf (q.holder, sizeof q.holder, "%s", self->holder);
        q.done = done;
        q.done_size = 32 * n;
        zframe_t *frame = irh_each_claim_encode (&q);
        zmsg_t *body = zmsg_new ();
        if (frame)
            zmsg_append (body, &frame);
        if (zmsg_size (body) != 1
        ||  gossip_calls_send (lease->calls, "store", &body, GL_CALL_MS, gl_on_store_done,
                               lease) != 0) {
            lease->c.store_errors++;
            zmsg_destroy (&body);
        }
    }
    free (done);
}

//  Every group answered: merge in request order, answer the client.
static void
s_finish (s_claim_t *self)
{
    gossip_lease_t *lease = self->lease;
    uint8_t *states = (uint8_t *) malloc (self->nkeys + 1);
    uint8_t *expires = (uint8_t *) calloc (self->nkeys + 1, 8);
    uint8_t *nodes = (uint8_t *) calloc (self->nkeys + 1, 32);
    uint8_t *extra = (uint8_t *) malloc (32 * self->nkeys + 1);
    assert (states && expires && nodes && extra);
    size_t n = 0;
    uint32_t granted = 0;
    for (size_t i = 0; i < self->nkeys; i++) {
        s_group_t *group = &self->groups [self->group_of [i]];
        size_t at = self->pos [i];
        bool have = !group->failed && at < group->count;
        if (self->keep) {
            if (!have && !group->failed)
                break;                  //  its arbiter stopped before key i: the answer ends
        }
        else
        if (self->want && granted == self->want)
            continue;                   //  past the want-th grant: see below
        states [n] = have ? group->states [at] : 4;
        if (have) {
            memcpy (expires + 8 * n, group->expires + 8 * at, 8);
            memcpy (nodes + 32 * n, group->nodes + 32 * at, 32);
        }
        if (states [n] == 0)
            granted++;
        if (states [n] == 2 && self->kind == 0 && have
        &&  memcmp (nodes + 32 * n, lease->self_id, 32) != 0
        &&  memcmp (nodes + 32 * n, (uint8_t [32]) { 0 }, 32) != 0) {
            //  The next gossip_lookup of this key asks that node even if
            //  its digest does not show the key yet (a gossip round late).
            gossip_digests_hint (lease->digests, self->keys + 32 * i, nodes + 32 * n);
            lease->c.done_hints++;
        }
        n++;
    }
    //  Grants past the want-th one, per group: given back, unless the
    //  holder had the key already (a renewal: it keeps its lease).
    uint8_t who [32], had [32];
    irh_blake3 (self->holder, strlen (self->holder), who);
    for (size_t i = 0; i < n; i++)
        if (states [i] == 0)
            gossip_keymap_put (lease->mine, self->wkeys + 32 * i, who);
    for (size_t i = 0; i < self->ndone; i++)
        gossip_keymap_remove (lease->mine, self->wdone + 32 * i);
    for (size_t g = 0; g < self->ngroups; g++) {
        s_group_t *group = &self->groups [g];
        size_t count = 0;
        for (size_t i = n; i < self->nkeys && !group->failed; i++) {
            size_t at = self->pos [i];
            if (self->group_of [i] != g || at >= group->count || group->states [at] != 0)
                continue;
            if (gossip_keymap_get (lease->mine, self->wkeys + 32 * i, had)
            &&  memcmp (had, who, 32) == 0)
                lease->c.renewals_kept++;
            else
                memcpy (extra + 32 * count++, self->wkeys + 32 * i, 32);
        }
        if (count)
            s_release (self, group, extra, count);
    }
    if (self->kind == 1 && self->ndone)
        s_local_done_marks (self);
    irh_gossip_claim_reply_t reply;
    memset (&reply, 0, sizeof reply);
    reply.alone = self->alone;
    reply.states = states;
    reply.states_size = n;
    reply.expires = expires;
    reply.expires_size = 8 * n;
    reply.nodes = nodes;
    reply.nodes_size = 32 * n;
    zframe_t *frame = irh_gossip_claim_reply_encode (&reply);
    zmsg_t *body = zmsg_new ();
    if (frame)
        zmsg_append (body, &frame);
    irh_worker_reply (lease->worker, self->request, &body);
    zmsg_destroy (&body);
    free (states);
    free (expires);
    free (nodes);
    free (extra);
    s_claim_free (self);
}

static void
s_group_done (s_group_t *group)
{
    s_claim_t *self = group->claim;
    if (--self->pending == 0)
        s_finish (self);
}

static void
s_keep (s_group_t *group, const uint8_t *states, const uint8_t *expires, const uint8_t *nodes,
        size_t count)
{
    group->states = (uint8_t *) malloc (count + 1);
    group->expires = (uint8_t *) malloc (8 * count + 1);
    group->nodes = (uint8_t *) malloc (32 * count + 1);
    assert (group->states && group->expires && group->nodes);
    memcpy (group->states, states, count);
    memcpy (group->expires, expires, 8 * count);
    memcpy (group->nodes, nodes, 32 * count);
    group->count = count;
}

static void
s_on_local (void *arg, gl_decide_t *decide)
{
    s_group_t *group = (s_group_t *) arg;
    if (decide->status != 0)
        group->failed = true;
    else
        s_keep (group, decide->states, decide->expires, decide->nodes, decide->count);
    s_group_done (group);
}

static void
s_on_answer (void *arg, const uint8_t *peer, zframe_t *frame)
{
    (void) peer;
    s_group_t *group = (s_group_t *) arg;
    gossip_lease_t *lease = group->claim->lease;
    irh_peer_claim_t answer;
    const char *why = "no answer";
    if (!frame)
        lease->c.unreachable++;
    else
    if (irh_peer_claim_decode (frame, &answer) != 0
    ||  gossip_lease_answer_check (&answer, group->nkeys, group->claim->want, &why) != 0) {
        lease->c.bad_answers++;
        irh_debug ("claims: bad answer from an arbiter: %s", why);
    }
    else
    if (answer.status != 0) {
        if (answer.status == 2)
            lease->c.refused++;
        irh_debug ("claims: the arbiter answered status %u", answer.status);
    }
    else {
        s_keep (group, answer.states, answer.expires, answer.nodes, answer.states_size);
        s_group_done (group);
        return;
    }
    group->failed = true;
    s_group_done (group);
}

static void
s_group_start (s_claim_t *self, s_group_t *group)
{
    gossip_lease_t *lease = self->lease;
    if (group->local) {
        lease->c.local++;
        gl_decide_t *decide = gl_decide_new (lease, self->ns, self->wire, self->kind, 0,
                                             lease->self_id, self->holder, self->lease_ms,
                                             self->want, group->done, group->ndone,
                                             group->keys, group->nkeys, s_on_local, group);
        if (decide)
            gl_decide_start (decide);
        else {
            group->failed = true;
            s_group_done (group);
        }
        return;
    }
    lease->c.remote++;
    irh_peer_claim_want_t want;
    s_want_fill (self, &want, self->lease_ms, self->want, group->keys, group->nkeys);
    want.done = group->done;
    want.done_size = 32 * group->ndone;
    zframe_t *frame = gl_want_encode (lease, group->arbiter, self->ns, &want);
    char address [80];
    if (!frame || !gl_address (lease, group->arbiter, address, sizeof address)
    ||  gossip_xfer_request (lease->xfer, group->arbiter, address, want.req, &frame,
                             (int) self->timeout_ms, s_on_answer, group) != 0) {
        zframe_destroy (&frame);
        lease->c.unreachable++;
        group->failed = true;
        s_group_done (group);
    }
}

//  Group keys (kind k: keys 0, done 1) by arbiter, making groups on demand.
static void
s_group_keys (s_claim_t *self, const uint8_t (*ids) [32], size_t count, size_t *group_of_member)
{
    for (int list = 0; list < 2; list++) {
        size_t n = list == 0 ? self->nkeys : self->ndone;
        const uint8_t *keys = list == 0 ? self->wkeys : self->wdone;
        for (size_t i = 0; i < n; i++) {
            size_t first, second;
            gossip_lease_rank (self->wire, keys + 32 * i, ids, count, &first, &second);
            if (group_of_member [first] == SIZE_MAX) {
                s_group_t *group = &self->groups [self->ngroups];
                group_of_member [first] = self->ngroups++;
                group->claim = self;
                memcpy (group->arbiter, ids [first], 32);
                group->local = first == 0;
                group->keys = (uint8_t *) malloc (32 * self->nkeys + 1);
                group->done = (uint8_t *) malloc (32 * self->ndone + 1);
                assert (group->keys && group->done);
            }
            s_group_t *group = &self->groups [group_of_member [first]];
            if (list == 0) {
                self->group_of [i] = (uint32_t) group_of_member [first];
                self->pos [i] = (uint32_t) group->nkeys;
                memcpy (group->keys + 32 * group->nkeys++, keys + 32 * i, 32);
            }
            else
                memcpy (group->done + 32 * group->ndone++, keys + 32 * i, 32);
        }
    }
}

//  A gossip_claim from a local client: -1 (answered, counted) when bad.
static int
s_check (gossip_lease_t *self, irh_request_t *request, const irh_gossip_claim_t *q)
{
    const char *why = NULL;
    if (q->kind > 1)
        why = "kind is neither 0 (memo) nor 1 (each)";
    else
    if (q->keys_size % 32 || q->keys_size / 32 > GOSSIP_LEASE_KEYS_MAX)
        why = "keys must be whole 32-byte keys, at most 16384";
    else
    if (q->done_size % 32 || q->done_size / 32 > GOSSIP_LEASE_DONE_MAX)
        why = "done must be whole 32-byte keys, at most 4096";
    else
    if (!gossip_lease_holder_valid (q->holder, GOSSIP_LEASE_HOLDER_MAX)
    &&  (*q->holder || q->want || q->done_size))
        why = "holder must be 1..237 printable characters (no spaces)";
    else
    if (q->flags & ~1u)
        why = "unknown flags";
    if (!why)
        return 0;
    self->c.bad_requests++;
    irh_worker_error (self->worker, request, "bad-request", "gossip_claim: %s", why);
    return -1;
}

void
gossip_lease_claim (gossip_lease_t *self, irh_request_t **request_p, zframe_t *frame)
{
    assert (self && request_p && *request_p);
    irh_request_t *request = *request_p;
    irh_gossip_claim_t q;
    if (irh_gossip_claim_decode (frame, &q) != 0) {
        self->c.bad_requests++;
        irh_worker_error (self->worker, request, "bad-request", "gossip_claim: %s",
                          irh_msgs_error ());
        return;
    }
    if (s_check (self, request, &q) != 0)
        return;
    if (zlistx_size (self->claims) >= GL_CLAIMS_MAX) {
        self->c.busy++;
        irh_worker_error (self->worker, request, "busy", "gossip_claim: too many under way");
        return;
    }
    self->c.asked++;
    s_claim_t *claim = (s_claim_t *) calloc (1, sizeof (s_claim_t));
    assert (claim);
    claim->lease = self;
    snprintf (claim->ns, sizeof claim->ns, "%s", q.ns);
    gossip_ns_wire (self->ns, q.ns, claim->wire);
    snprintf (claim->holder, sizeof claim->holder, "%s", q.holder);
    claim->kind = q.kind;
    claim->lease_ms = q.lease_ms;
    claim->want = q.want;
    claim->keep = q.flags & 1;
    claim->timeout_ms = q.timeout_ms ? q.timeout_ms : S_TIMEOUT_MS;
    claim->nkeys = q.keys_size / 32;
    claim->ndone = q.done_size / 32;
    claim->keys = (uint8_t *) malloc (32 * claim->nkeys + 1);
    claim->wkeys = (uint8_t *) malloc (32 * claim->nkeys + 1);
    claim->wdone = (uint8_t *) malloc (32 * claim->ndone + 1);
    claim->group_of = (uint32_t *) malloc (sizeof (uint32_t) * (claim->nkeys + 1));
    claim->pos = (uint32_t *) malloc (sizeof (uint32_t) * (claim->nkeys + 1));
    assert (claim->keys && claim->wkeys && claim->wdone && claim->group_of && claim->pos);
    if (claim->nkeys)
        memcpy (claim->keys, q.keys, q.keys_size);
    for (size_t i = 0; i < claim->nkeys; i++)
        gossip_ns_key_out (self->ns, q.ns, q.keys + 32 * i, claim->wkeys + 32 * i);
    for (size_t i = 0; i < claim->ndone; i++)
        gossip_ns_key_out (self->ns, q.ns, q.done + 32 * i, claim->wdone + 32 * i);
    claim->request = request;
    *request_p = NULL;
    claim->handle = zlistx_add_end (self->claims, claim);

    uint8_t (*ids) [32];
    size_t count = gl_members (self, q.ns, &ids);
    claim->alone = count == 1;
    size_t *group_of_member = (size_t *) malloc (count * sizeof (size_t));
    claim->groups = (s_group_t *) calloc (count, sizeof (s_group_t));
    assert (group_of_member && claim->groups);
    for (size_t i = 0; i < count; i++)
        group_of_member [i] = SIZE_MAX;
    s_group_keys (claim, (const uint8_t (*) [32]) ids, count, group_of_member);
    free (group_of_member);
    free (ids);
    //  One more than the groups: none can end the claim inside the loop.
    claim->pending = claim->ngroups + 1;
    for (size_t g = 0; g < claim->ngroups; g++)
        s_group_start (claim, &claim->groups [g]);
    if (--claim->pending == 0)
        s_finish (claim);
}

//  ---------------------------------------------------------------------

gossip_lease_t *
gossip_lease_new (gossip_xfer_t *xfer, gossip_calls_t *calls, swim_t *swim, gossip_ns_t *ns,
                  gossip_digests_t *digests, irh_worker_t *worker, const uint8_t *self_id)
{
    assert (xfer && calls && swim && ns && digests && worker && self_id);
    gossip_lease_t *self = (gossip_lease_t *) calloc (1, sizeof (gossip_lease_t));
    assert (self);
    self->xfer = xfer;
    self->calls = calls;
    self->swim = swim;
    self->ns = ns;
    self->digests = digests;
    self->worker = worker;
    memcpy (self->self_id, self_id, 32);
    self->done_by = gossip_keymap_new (GL_TABLE_SIZE);
    self->held_by = gossip_keymap_new (GL_TABLE_SIZE);
    self->held_lease = gossip_keymap_new (GL_TABLE_SIZE);
    self->mine = gossip_keymap_new (GL_TABLE_SIZE);
    gl_remote_new (self);
    self->claims = zlistx_new ();
    self->decides = zlistx_new ();
    assert (self->claims && self->decides);
    return self;
}

void
gossip_lease_destroy (gossip_lease_t **self_p)
{
    assert (self_p);
    gossip_lease_t *self = *self_p;
    if (!self)
        return;
    s_claim_t *claim;
    while ((claim = (s_claim_t *) zlistx_first (self->claims))) {
        irh_worker_error (self->worker, claim->request, "unavailable", "gossip is stopping");
        s_claim_free (claim);
    }
    gl_decide_destroy_all (self);
    gossip_xfer_cancel (self->xfer, self);
    gossip_calls_cancel (self->calls, self);
    zlistx_destroy (&self->claims);
    zlistx_destroy (&self->decides);
    gossip_keymap_destroy (&self->done_by);
    gossip_keymap_destroy (&self->held_by);
    gossip_keymap_destroy (&self->held_lease);
    gossip_keymap_destroy (&self->mine);
    gl_remote_destroy (self);
    free (self->recent);
    free (self);
    *self_p = NULL;
}

void
gossip_lease_stats (gossip_lease_t *self, irh_table_t *table)
{
    struct { const char *name; uint64_t value; } rows [] = {
        { "claims_asked", self->c.asked },
        { "claims_local", self->c.local },
        { "claims_remote", self->c.remote },
        { "claims_served", self->c.served },
        { "claims_replicas", self->c.replicas },
        { "claims_replicas_in", self->c.replicas_in },
        { "claims_refused", self->c.refused },
        { "claims_unreachable", self->c.unreachable },
        { "claims_overgrant_released", self->c.overgrant_released },
        { "claims_renewals_kept", self->c.renewals_kept },
        { "claims_freed_dead", self->c.freed_dead },
        { "claims_syncs", self->c.syncs_sent },
        { "claims_syncs_in", self->c.syncs_in },
        { "claims_not_arbiter", self->c.not_arbiter },
        { "claims_duplicates", self->c.duplicates },
        { "claims_done_hints", self->c.done_hints },
        { "claims_busy", self->c.busy },
        { "claims_store_errors", self->c.store_errors },
        { "claims_bad_answers", self->c.bad_answers },
        { "bad_claim_requests", self->c.bad_requests },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, rows [i].name);
        irh_table_u64 (table, rows [i].value);
    }
}
