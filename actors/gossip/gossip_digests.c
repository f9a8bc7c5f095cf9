/*  gossip_digests.c: key digests between peers (gossip_data.h,
    docs/digests.md).

    Out: every S_POLL_MS the store's digest_list (through gossip_calls);
    a namespace whose (seed, epoch) moved since we last sent it is cut by
    the store (digest_get from what we last sent: a delta, or the whole
    digest when smaller or when the seed changed) and pushed to every live
    member, at most once a second per namespace (changes in between are
    coalesced into the next delta).

    In: a peer's digests as irh_digest_remote_t, one per (peer, namespace),
    capped per peer (S_NS_PER_PEER) and in total bytes (S_BYTES_MAX); what
    does not fit is refused and counted. A delta that does not start at
    our copy (stale) makes us ask that namespace again with our (seed,
    epoch). First contact: peer_digests_want, answered with every digest
    whole. Anti-entropy: every S_SYNC_MS each namespace we hold of each
    peer is asked again with our (seed, epoch); unchanged, that is an
    empty delta, so an idle cluster costs a few small messages a minute.

    The local-miss path (gossip_digests_candidates) is one hash lookup of
    the namespace and one pass over a per-namespace array of remotes: no
    allocation, no I/O.
*/
#include "gossip_data.h"
#include "gossip_lease.h"
#include "irh_hash.h"
#include "gossip_wire.h"
#include "irh_digest.h"
#include "irh_log.h"
#include <assert.h>
#include <string.h>

#define S_POLL_MS       1000            //  store digest_list period
#define S_PUSH_MIN_MS   1000            //  one push per namespace per second at most
#define S_SYNC_MS       30000           //  anti-entropy period
#define S_CALL_MS       5000            //  store call timeout
#define S_NS_PER_PEER   256             //  namespaces held per peer
#define S_BYTES_MAX     (256u << 20)    //  bits held of all peers together
#define S_ANSWERS_MAX   64              //  peers' digests_want answered at once
#define S_ASK_BACK_MS   10000           //  ask a (re)starting peer back at most this often
#define S_HINTS_MAX     4096            //  done hints from claims (72 B each)

typedef struct _s_peer_t s_peer_t;

//  One namespace of ours, as peers last heard it.
typedef struct {
    gossip_digests_t *owner;
    char ns [256];
    uint64_t seed, epoch;               //  the store's current generation
    uint64_t sent_seed, sent_epoch;     //  what our last push carried
    int64_t pushed_ms;
    bool getting;                       //  a digest_get is in flight
    bool listed;                        //  in the last digest_list
} s_ours_t;

//  A peer's digest of one namespace.
typedef struct {
    s_peer_t *peer;
    char ns [256];
    irh_digest_remote_t *remote;
    uint8_t k;                          //  from its last whole digest
    size_t bytes;                       //  nbits / 8 held
} s_theirs_t;

struct _s_peer_t {
    uint8_t id [SWIM_ID_SIZE];
    char key [2 * SWIM_ID_SIZE + 1];
    zhashx_t *theirs;                   //  ns -> s_theirs_t *
    int64_t asked_ms;                   //  when we last sent it peer_digests_want
};

//  Every peer's digest of one namespace, for the miss path.
typedef struct {
    irh_digest_remote_t **remotes;
    s_theirs_t **owners;
    bool *hits;
    size_t count, cap;
} s_view_t;

//  A peer's peer_digests_want being answered (store calls in flight).
typedef struct {
    gossip_digests_t *owner;
    zframe_t *route;
    size_t waiting;                     //  digest_get calls still out
} s_answer_t;

struct _gossip_digests_t {
    gossip_xfer_t *xfer;
    gossip_calls_t *calls;
    swim_t *swim;
    zloop_t *loop;
    int poll_timer, sync_timer;
    bool listing;                       //  our digest_list in flight
    zhashx_t *ours;                     //  ns -> s_ours_t *
    zhashx_t *peers;                    //  hex id -> s_peer_t *
    zhashx_t *views;                    //  ns -> s_view_t *
    zlist_t *answers;                   //  s_answer_t * being answered
    gossip_keymap_t *hints;             //  key -> node that just finished it (claims)
    size_t bytes;                       //  held of all peers
    struct {
        uint64_t fulls_in, fulls_out, deltas_in, deltas_out, stale, malformed, refused;
        uint64_t wants_in, wants_out, list_errors, get_errors, not_member, busy;
        uint64_t hinted;
    } c;
};

//  ---------------------------------------------------------------------
//  Peers' digests

static void
s_view_add (gossip_digests_t *self, s_theirs_t *theirs)
{
    s_view_t *view = (s_view_t *) zhashx_lookup (self->views, theirs->ns);
    if (!view) {
        view = (s_view_t *) zmalloc (sizeof (s_view_t));
        assert (view);
        zhashx_insert (self->views, theirs->ns, view);
    }
    if (view->count == view->cap) {
        size_t cap = view->cap ? 2 * view->cap : 8;
        view->remotes = (irh_digest_remote_t **) realloc (view->remotes, cap * sizeof (void *));
        view->owners = (s_theirs_t **) realloc (view->owners, cap * sizeof (void *));
        view->hits = (bool *) realloc (view->hits, cap * sizeof (bool));
        assert (view->remotes && view->owners && view->hits);
        view->cap = cap;
    }
    view->remotes [view->count] = theirs->remote;
    view->owners [view->count] = theirs;
    view->count++;
}

static void
s_view_free (void **item)
{
    s_view_t *view = (s_view_t *) *item;
    if (view) {
        free (view->remotes);
        free (view->owners);
        free (view->hits);
        free (view);
        *item = NULL;
    }
}

static void
s_view_remove (gossip_digests_t *self, s_theirs_t *theirs)
{
    s_view_t *view = (s_view_t *) zhashx_lookup (self->views, theirs->ns);
    if (!view)
        return;
    for (size_t i = 0; i < view->count; i++)
        if (view->owners [i] == theirs) {
            view->count--;
            view->owners [i] = view->owners [view->count];
            view->remotes [i] = view->remotes [view->count];
            break;
        }
    if (view->count == 0)
        zhashx_delete (self->views, theirs->ns);
}

static void
s_theirs_drop (gossip_digests_t *self, s_theirs_t *theirs)
{
    s_view_remove (self, theirs);
    self->bytes -= theirs->bytes;
    irh_digest_remote_destroy (&theirs->remote);
    free (theirs);
}

static void
s_peer_drop (gossip_digests_t *self, s_peer_t *peer)
{
    for (s_theirs_t *t = (s_theirs_t *) zhashx_first (peer->theirs); t;
         t = (s_theirs_t *) zhashx_next (peer->theirs))
        s_theirs_drop (self, t);
    zhashx_destroy (&peer->theirs);
    zhashx_delete (self->peers, peer->key);
    free (peer);
}

static s_peer_t *
s_peer (gossip_digests_t *self, const uint8_t *id, bool create)
{
    char key [2 * SWIM_ID_SIZE + 1];
    irh_hash_hex (id, key);
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, key);
    if (!peer && create) {
        peer = (s_peer_t *) zmalloc (sizeof (s_peer_t));
        assert (peer);
        memcpy (peer->id, id, SWIM_ID_SIZE);
        memcpy (peer->key, key, sizeof key);
        peer->theirs = zhashx_new ();
        zhashx_insert (self->peers, key, peer);
    }
    return peer;
}

//  Send frame (taken) to a member: on route when it asked, else pushed.
static void
s_send (gossip_digests_t *self, const uint8_t *to, zframe_t *route, zframe_t **frame_p)
{
    if (route) {
        gossip_xfer_reply (self->xfer, route, frame_p);
        return;
    }
    swim_member_t member;
    if (swim_member_find (self->swim, to, &member) != 0) {
        zframe_destroy (frame_p);
        return;
    }
    gossip_xfer_push (self->xfer, to, member.node->address, frame_p);
}

static void
s_want (gossip_digests_t *self, const uint8_t *to, const char *ns, uint64_t seed,
        uint64_t epoch)
{
    irh_peer_digest_want_t want;
    memset (&want, 0, sizeof want);
    snprintf (want.ns, sizeof want.ns, "%s", ns);
    want.seed = seed;
    want.epoch = epoch;
    zframe_t *frame = irh_peer_digest_want_encode (&want);
    if (frame) {
        self->c.wants_out++;
        s_send (self, to, NULL, &frame);
    }
}

//  A peer's whole digest or delta for a namespace.
static void
s_apply (gossip_digests_t *self, const uint8_t *from, int id, zframe_t *frame)
{
    swim_member_t member;
    if (swim_member_find (self->swim, from, &member) != 0 || member.state != SWIM_ALIVE) {
        self->c.not_member++;           //  digests only of live members
        return;
    }
    irh_peer_digest_full_t full;
    irh_peer_digest_delta_t delta;
    const char *ns;
    if (id == IRH_MSG_PEER_DIGEST_FULL) {
        if (irh_peer_digest_full_decode (frame, &full) != 0) {
            self->c.malformed++;
            return;
        }
        ns = full.ns;
        self->c.fulls_in++;
    }
    else {
        if (irh_peer_digest_delta_decode (frame, &delta) != 0) {
            self->c.malformed++;
            return;
        }
        ns = delta.ns;
        self->c.deltas_in++;
    }
    s_peer_t *peer = s_peer (self, from, true);
    s_theirs_t *theirs = (s_theirs_t *) zhashx_lookup (peer->theirs, ns);
    if (!theirs && id == IRH_MSG_PEER_DIGEST_DELTA) {
        self->c.stale++;                //  nothing to apply it to: ask whole
        s_want (self, from, ns, 0, 0);
        return;
    }
    if (id == IRH_MSG_PEER_DIGEST_FULL) {
        size_t bytes = full.nbits / 8, old = theirs ? theirs->bytes : 0;
        if ((!theirs && zhashx_size (peer->theirs) >= S_NS_PER_PEER)
        ||  self->bytes - old + bytes > S_BYTES_MAX) {
            self->c.refused++;
            return;
        }
        bool fresh = !theirs;
        if (fresh) {
            theirs = (s_theirs_t *) zmalloc (sizeof (s_theirs_t));
            assert (theirs);
            theirs->peer = peer;
            snprintf (theirs->ns, sizeof theirs->ns, "%s", ns);
            theirs->remote = irh_digest_remote_new ();
        }
        if (irh_digest_remote_apply_full (theirs->remote, &full) != 0) {
            self->c.malformed++;
            if (fresh) {
                irh_digest_remote_destroy (&theirs->remote);
                free (theirs);
            }
            return;
        }
        self->bytes = self->bytes - old + bytes;
        theirs->bytes = bytes;
        theirs->k = full.k;
        if (fresh) {
            zhashx_insert (peer->theirs, theirs->ns, theirs);
            s_view_add (self, theirs);
        }
        return;
    }
    if (irh_digest_remote_apply_delta (theirs->remote, &delta) != 0) {
        if (streq (irh_digest_remote_error (theirs->remote), "stale")) {
            self->c.stale++;
            s_want (self, from, ns, irh_digest_remote_seed (theirs->remote),
                    irh_digest_remote_epoch (theirs->remote));
        }
        else
            self->c.malformed++;
    }
}

//  ---------------------------------------------------------------------
//  Our digests, from the store

static void
s_count_out (gossip_digests_t *self, zframe_t *frame, uint64_t *seed, uint64_t *epoch)
{
    irh_peer_digest_full_t full;
    irh_peer_digest_delta_t delta;
    if (irh_peer_digest_full_decode (frame, &full) == 0) {
        self->c.fulls_out++;
        *seed = full.seed;
        *epoch = full.epoch;
    }
    else
    if (irh_peer_digest_delta_decode (frame, &delta) == 0) {
        self->c.deltas_out++;
        *seed = delta.seed;
        *epoch = delta.epoch;
    }
}

static void
s_on_push_get (void *arg, int rc, zmsg_t *body, const char *code)
{
    s_ours_t *ours = (s_ours_t *) arg;
    gossip_digests_t *self = ours->owner;
    ours->getting = false;
    zframe_t *frame = rc == 0 ? zmsg_first (body) : NULL;
    if (!frame) {
        self->c.get_errors++;
        irh_debug ("digests: digest_get %s: %s", ours->ns, code ? code : "empty reply");
        return;
    }
    uint64_t seed = 0, epoch = 0;
    s_count_out (self, frame, &seed, &epoch);
    if (seed == 0) {
        self->c.get_errors++;           //  the store sent something else
        return;
    }
    ours->sent_seed = seed;
    ours->sent_epoch = epoch;
    ours->pushed_ms = zclock_mono ();
    size_t count = swim_size (self->swim);
    for (size_t i = 0; i < count; i++) {
        swim_member_t m;
        if (swim_member_at (self->swim, i, &m) != 0 || m.state != SWIM_ALIVE)
            continue;
        zframe_t *copy = zframe_dup (frame);
        gossip_xfer_push (self->xfer, m.node->id, m.node->address, &copy);
    }
}

static void
s_push_if_changed (gossip_digests_t *self, s_ours_t *ours)
{
    if (ours->getting || (ours->seed == ours->sent_seed && ours->epoch == ours->sent_epoch)
    ||  zclock_mono () - ours->pushed_ms < S_PUSH_MIN_MS)
        return;
    irh_digest_get_t get;
    memset (&get, 0, sizeof get);
    snprintf (get.ns, sizeof get.ns, "%s", ours->ns);
    get.seed = ours->sent_seed;
    get.epoch = ours->sent_epoch;
    zframe_t *frame = irh_digest_get_encode (&get);
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    if (gossip_calls_send (self->calls, "store", &body, S_CALL_MS, s_on_push_get, ours) == 0)
        ours->getting = true;
}

static void
s_ours_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_on_list (void *arg, int rc, zmsg_t *body, const char *code)
{
    gossip_digests_t *self = (gossip_digests_t *) arg;
    self->listing = false;
    irh_table_t *table = rc == 0 ? irh_table_decode (body) : NULL;
    if (!table) {
        self->c.list_errors++;
        irh_debug ("digests: digest_list: %s", code ? code : "not a table");
        return;
    }
    for (s_ours_t *o = (s_ours_t *) zhashx_first (self->ours); o;
         o = (s_ours_t *) zhashx_next (self->ours))
        o->listed = false;
    for (size_t row = 0; row < irh_table_rows (table); row++) {
        const char *ns = irh_table_get (table, row, "ns");
        const char *seed = irh_table_get (table, row, "seed");
        const char *epoch = irh_table_get (table, row, "epoch");
        if (!ns || !seed || !epoch || strlen (ns) > 255)
            continue;
        s_ours_t *ours = (s_ours_t *) zhashx_lookup (self->ours, ns);
        if (!ours) {
            ours = (s_ours_t *) zmalloc (sizeof (s_ours_t));
            assert (ours);
            ours->owner = self;
            snprintf (ours->ns, sizeof ours->ns, "%s", ns);
            zhashx_insert (self->ours, ours->ns, ours);
        }
        ours->listed = true;
        ours->seed = strtoull (seed, NULL, 10);
        ours->epoch = strtoull (epoch, NULL, 10);
        s_push_if_changed (self, ours);
    }
    irh_table_destroy (&table);
    //  Namespaces the store no longer lists (every result evicted).
    zlist_t *gone = zlist_new ();
    for (s_ours_t *o = (s_ours_t *) zhashx_first (self->ours); o;
         o = (s_ours_t *) zhashx_next (self->ours))
        if (!o->listed && !o->getting)
            zlist_append (gone, o->ns);
    for (char *ns = (char *) zlist_first (gone); ns; ns = (char *) zlist_next (gone))
        zhashx_delete (self->ours, ns);
    zlist_destroy (&gone);
}

static int
s_on_poll (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_digests_t *self = (gossip_digests_t *) arg;
    if (self->listing)
        return 0;
    irh_digest_list_t list;
    memset (&list, 0, sizeof list);
    zframe_t *frame = irh_digest_list_encode (&list);
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    if (gossip_calls_send (self->calls, "store", &body, S_CALL_MS, s_on_list, self) == 0)
        self->listing = true;
    return 0;
}

//  Anti-entropy: ask every namespace we hold of each live peer again (an
//  empty delta when unchanged); a live peer we hold nothing of is asked
//  for everything (its first answer may have been lost).
static int
s_on_sync (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_digests_t *self = (gossip_digests_t *) arg;
    size_t count = swim_size (self->swim);
    for (size_t i = 0; i < count; i++) {
        swim_member_t m;
        if (swim_member_at (self->swim, i, &m) != 0 || m.state != SWIM_ALIVE)
            continue;
        uint8_t id [SWIM_ID_SIZE];
        memcpy (id, m.node->id, SWIM_ID_SIZE);
        s_peer_t *peer = s_peer (self, id, false);
        if (!peer || zhashx_size (peer->theirs) == 0) {
            gossip_digests_member (self, &m, true);
            continue;
        }
        for (s_theirs_t *t = (s_theirs_t *) zhashx_first (peer->theirs); t;
             t = (s_theirs_t *) zhashx_next (peer->theirs))
            s_want (self, id, t->ns, irh_digest_remote_seed (t->remote),
                    irh_digest_remote_epoch (t->remote));
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Answering peers' wants

static void
s_answer_done (s_answer_t *answer)
{
    if (answer->waiting == 0) {
        zlist_remove (answer->owner->answers, answer);
        zframe_destroy (&answer->route);
        free (answer);
    }
}

//  One digest from the store, to reply on the asker's route.
static void
s_on_answer_get (void *arg, int rc, zmsg_t *body, const char *code)
{
    s_answer_t *answer = (s_answer_t *) arg;
    gossip_digests_t *self = answer->owner;
    answer->waiting--;
    zframe_t *frame = rc == 0 ? zmsg_first (body) : NULL;
    if (frame) {
        uint64_t seed = 0, epoch = 0;
        s_count_out (self, frame, &seed, &epoch);
        zframe_t *copy = zframe_dup (frame);
        gossip_xfer_reply (self->xfer, answer->route, &copy);
    }
    else
    if (!code || !streq (code, "not-found"))
        self->c.get_errors++;
    s_answer_done (answer);
}

static void
s_answer_get (gossip_digests_t *self, s_answer_t *answer, const char *ns, uint64_t seed,
              uint64_t epoch)
{
    irh_digest_get_t get;
    memset (&get, 0, sizeof get);
    snprintf (get.ns, sizeof get.ns, "%s", ns);
    get.seed = seed;
    get.epoch = epoch;
    zframe_t *frame = irh_digest_get_encode (&get);
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    answer->waiting++;
    if (gossip_calls_send (self->calls, "store", &body, S_CALL_MS, s_on_answer_get, answer) != 0)
        answer->waiting--;
}

//  digest_list for a peer's digests_want: every namespace, whole.
static void
s_on_answer_list (void *arg, int rc, zmsg_t *body, const char *code)
{
    s_answer_t *answer = (s_answer_t *) arg;
    gossip_digests_t *self = answer->owner;
    answer->waiting--;
    irh_table_t *table = rc == 0 ? irh_table_decode (body) : NULL;
    if (!table) {
        self->c.list_errors++;
        irh_debug ("digests: digest_list: %s", code ? code : "not a table");
    }
    for (size_t row = 0; table && row < irh_table_rows (table); row++) {
        const char *ns = irh_table_get (table, row, "ns");
        if (ns && strlen (ns) <= 255)
            s_answer_get (self, answer, ns, 0, 0);
    }
    irh_table_destroy (&table);
    s_answer_done (answer);
}

static s_answer_t *
s_answer_new (gossip_digests_t *self, zframe_t *route)
{
    if (!route || zlist_size (self->answers) >= S_ANSWERS_MAX) {
        self->c.busy++;
        return NULL;
    }
    s_answer_t *answer = (s_answer_t *) zmalloc (sizeof (s_answer_t));
    assert (answer);
    answer->owner = self;
    answer->route = zframe_dup (route);
    zlist_append (self->answers, answer);
    return answer;
}

//  ---------------------------------------------------------------------
//  API

gossip_digests_t *
gossip_digests_new (gossip_xfer_t *xfer, gossip_calls_t *calls, swim_t *swim, zloop_t *loop)
{
    assert (xfer && calls && swim && loop);
    gossip_digests_t *self = (gossip_digests_t *) zmalloc (sizeof (gossip_digests_t));
    assert (self);
    self->xfer = xfer;
    self->calls = calls;
    self->swim = swim;
    self->loop = loop;
    self->ours = zhashx_new ();
    zhashx_set_destructor (self->ours, s_ours_free);
    self->peers = zhashx_new ();
    self->views = zhashx_new ();
    self->answers = zlist_new ();
    self->hints = gossip_keymap_new (S_HINTS_MAX);
    zhashx_set_destructor (self->views, s_view_free);
    self->poll_timer = zloop_timer (loop, S_POLL_MS, 0, s_on_poll, self);
    self->sync_timer = zloop_timer (loop, S_SYNC_MS, 0, s_on_sync, self);
    return self;
}

void
gossip_digests_destroy (gossip_digests_t **self_p)
{
    assert (self_p);
    gossip_digests_t *self = *self_p;
    if (self) {
        zloop_timer_end (self->loop, self->poll_timer);
        zloop_timer_end (self->loop, self->sync_timer);
        //  Calls in flight carry our objects: they must never come back.
        gossip_calls_cancel (self->calls, self);
        for (s_ours_t *o = (s_ours_t *) zhashx_first (self->ours); o;
             o = (s_ours_t *) zhashx_next (self->ours))
            gossip_calls_cancel (self->calls, o);
        s_peer_t *peer;
        while ((peer = (s_peer_t *) zhashx_first (self->peers)))
            s_peer_drop (self, peer);
        zhashx_destroy (&self->peers);
        zhashx_destroy (&self->views);
        zhashx_destroy (&self->ours);
        s_answer_t *answer;
        while ((answer = (s_answer_t *) zlist_pop (self->answers))) {
            gossip_calls_cancel (self->calls, answer);
            zframe_destroy (&answer->route);
            free (answer);
        }
        zlist_destroy (&self->answers);
        gossip_keymap_destroy (&self->hints);
        free (self);
        *self_p = NULL;
    }
}

void
gossip_digests_member (gossip_digests_t *self, const swim_member_t *member, bool alive)
{
    assert (self && member);
    if (!alive) {
        s_peer_t *peer = s_peer (self, member->node->id, false);
        if (peer)
            s_peer_drop (self, peer);
        return;
    }
    //  Remember when we asked (a peer entry with no digests yet is fine:
    //  it is dropped with the member).
    s_peer_t *peer = s_peer (self, member->node->id, true);
    peer->asked_ms = zclock_mono ();
    irh_peer_digests_want_t want;
    memset (&want, 0, sizeof want);
    zframe_t *frame = irh_peer_digests_want_encode (&want);
    if (frame) {
        self->c.wants_out++;
        gossip_xfer_push (self->xfer, member->node->id, member->node->address, &frame);
    }
}

void
gossip_digests_message (gossip_digests_t *self, const uint8_t *from, zframe_t *route, int id,
                        zframe_t *frame)
{
    assert (self && from && frame);
    if (id == IRH_MSG_PEER_DIGEST_FULL || id == IRH_MSG_PEER_DIGEST_DELTA) {
        s_apply (self, from, id, frame);
        return;
    }
    self->c.wants_in++;
    if (id == IRH_MSG_PEER_DIGESTS_WANT) {
        //  A peer asking for everything has just (re)started contact: its
        //  own digests are likely new too (a restart draws new seeds), and
        //  we may never see it as a new member (back before it was found
        //  dead). Ask back, unless we asked it lately (no ping-pong).
        s_peer_t *peer = s_peer (self, from, false);
        if (!peer || zclock_mono () - peer->asked_ms >= S_ASK_BACK_MS) {
            swim_member_t member;
            if (swim_member_find (self->swim, from, &member) == 0
            &&  member.state == SWIM_ALIVE)
                gossip_digests_member (self, &member, true);
        }
        s_answer_t *answer = s_answer_new (self, route);
        if (!answer)
            return;
        irh_digest_list_t list;
        memset (&list, 0, sizeof list);
        zframe_t *request = irh_digest_list_encode (&list);
        zmsg_t *body = zmsg_new ();
        zmsg_append (body, &request);
        answer->waiting++;
        if (gossip_calls_send (self->calls, "store", &body, S_CALL_MS, s_on_answer_list,
                               answer) != 0)
            answer->waiting--;
        s_answer_done (answer);
        return;
    }
    irh_peer_digest_want_t want;
    if (id != IRH_MSG_PEER_DIGEST_WANT || irh_peer_digest_want_decode (frame, &want) != 0) {
        self->c.malformed++;
        return;
    }
    s_answer_t *answer = s_answer_new (self, route);
    if (!answer)
        return;
    s_answer_get (self, answer, want.ns, want.seed, want.epoch);
    s_answer_done (answer);
}

size_t
gossip_digests_candidates (gossip_digests_t *self, const char *ns, const uint8_t *key,
                           uint8_t (*ids) [SWIM_ID_SIZE], size_t max)
{
    assert (self && ns && key);
    s_view_t *view = (s_view_t *) zhashx_lookup (self->views, ns);
    size_t found = 0;
    if (view && view->count && max
    &&  irh_digest_remote_candidates (view->remotes, view->count, key, view->hits) > 0) {
        for (size_t i = 0; i < view->count && found < max; i++) {
            if (!view->hits [i])
                continue;
            swim_member_t m;
            const uint8_t *id = view->owners [i]->peer->id;
            if (swim_member_find (self->swim, id, &m) == 0 && m.state == SWIM_ALIVE)
                memcpy (ids [found++], id, SWIM_ID_SIZE);
        }
    }
    //  A done hint: the node that just finished key, before its digest
    //  shows it (one probe of a small table).
    uint8_t node [SWIM_ID_SIZE];
    swim_member_t m;
    if (found < max && gossip_keymap_get (self->hints, key, node)
    &&  swim_member_find (self->swim, node, &m) == 0 && m.state == SWIM_ALIVE) {
        bool known = false;
        for (size_t i = 0; i < found && !known; i++)
            known = memcmp (ids [i], node, SWIM_ID_SIZE) == 0;
        if (!known) {
            memcpy (ids [found++], node, SWIM_ID_SIZE);
            self->c.hinted++;
        }
    }
    return found;
}

void
gossip_digests_hint (gossip_digests_t *self, const uint8_t *key, const uint8_t *node)
{
    assert (self && key && node);
    gossip_keymap_put (self->hints, key, node);
}

uint64_t
gossip_digests_results (gossip_digests_t *self, const uint8_t *peer_id)
{
    assert (self && peer_id);
    s_peer_t *peer = s_peer (self, peer_id, false);
    uint64_t total = 0;
    for (s_theirs_t *t = peer ? (s_theirs_t *) zhashx_first (peer->theirs) : NULL; t;
         t = (s_theirs_t *) zhashx_next (peer->theirs)) {
        uint32_t nbits = irh_digest_remote_nbits (t->remote);
        uint64_t set = (uint64_t) (irh_digest_remote_fill (t->remote) * nbits + 0.5);
        total += gossip_wire_estimate (set, nbits, t->k);
    }
    return total;
}

void
gossip_digests_stats (gossip_digests_t *self, irh_table_t *table)
{
    assert (self && table);
    size_t held = 0, peers = 0;
    for (s_peer_t *p = (s_peer_t *) zhashx_first (self->peers); p;
         p = (s_peer_t *) zhashx_next (self->peers)) {
        held += zhashx_size (p->theirs);
        peers += zhashx_size (p->theirs) > 0;
    }
    struct { const char *name; uint64_t value; } rows [] = {
        { "digest_namespaces_ours", zhashx_size (self->ours) },
        { "digest_peers", peers },
        { "digest_held", held },
        { "digest_bytes", self->bytes },
        { "digest_fulls_in", self->c.fulls_in },
        { "digest_fulls_out", self->c.fulls_out },
        { "digest_deltas_in", self->c.deltas_in },
        { "digest_deltas_out", self->c.deltas_out },
        { "digest_wants_in", self->c.wants_in },
        { "digest_wants_out", self->c.wants_out },
        { "digest_hinted", self->c.hinted },
        { "digest_stale", self->c.stale },
        { "digest_malformed", self->c.malformed },
        { "digest_refused", self->c.refused },
        { "digest_not_member", self->c.not_member },
        { "digest_busy", self->c.busy },
        { "digest_list_errors", self->c.list_errors },
        { "digest_get_errors", self->c.get_errors },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, rows [i].name);
        irh_table_u64 (table, rows [i].value);
    }
}
