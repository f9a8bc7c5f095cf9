/*  gossip_xfer.c: the data socket of irohds-gossip (gossip_data.h).

    Inbound: a CURVE ROUTER on the host of peers.listen, port gossip port
    + IRH_XFER_PORT_OFFSET. The ZAP handler gossip_link.c runs in this
    process lets in any CURVE key and makes it the connection's user id
    (Z85), so who asks is the CURVE key of the connection, never what a
    message says. Outbound: one DEALER per peer we ask (CURVE client with
    the peer's node id as server key, so only that node can answer on it),
    made on demand, at most S_LINKS_MAX (the least recently used is
    closed), closed after S_LINK_IDLE_MS without use.

    Requests carry a req id from gossip_xfer_next_req; the answer echoes
    it, and (peer, req) finds the callback. An answer nobody waits for
    (late, unknown, or from another peer) is dropped and counted. Every
    frame is checked by gossip_wire_classify (size, id, full decode)
    before anything else sees it.
*/
#include "gossip_data.h"
#include "irh_hash.h"
#include "gossip_wire.h"
#include "irh_log.h"
#include <assert.h>
#include <string.h>

#define S_LINKS_MAX         64          //  outgoing data links open at once
#define S_LINK_IDLE_MS      60000       //  close a link unused this long
#define S_RECONNECT_MAX_MS  5000        //  libzmq's reconnect backoff stops here
#define S_HWM               256         //  messages queued per connection (<= 1 MiB each)
#define S_TICK_MS           50          //  timeouts, graveyard, idle links
#define S_PENDING_MAX       65536       //  requests in flight at once

typedef struct {
    gossip_xfer_t *xfer;
    uint8_t id [SWIM_ID_SIZE];
    char key [2 * SWIM_ID_SIZE + 1];    //  hex id: the links hash key
    char endpoint [80];                 //  tcp://IP:PORT+2
    zsock_t *sock;
    int64_t used_ms;
    size_t pending;                     //  requests waiting for an answer on it
} s_link_t;

typedef struct {
    uint32_t req;
    uint8_t peer [SWIM_ID_SIZE];
    gossip_xfer_answer_fn *fn;
    void *arg;
    int64_t deadline;
} s_pending_t;

typedef struct {
    zsock_t *sock;
    int ticks;                          //  destroyed after two ticks off the poll set
} s_grave_t;

struct _gossip_xfer_t {
    irh_identity_t *identity;
    zloop_t *loop;
    zsock_t *router;
    int port;
    int timer;
    gossip_xfer_message_fn *on_message;
    void *arg;
    zhashx_t *links;                    //  hex id -> s_link_t *
    zhashx_t *pending;                  //  "%08x" req -> s_pending_t *
    zlist_t *graveyard;                 //  s_grave_t *
    uint32_t next_req;
    struct {
        uint64_t requests_sent, requests_in, answers, timeouts, late, bad_frames;
        uint64_t refused_no_key, bytes_in, bytes_out, links_opened, links_closed;
        uint64_t pushes_sent, pushes_in, replies_sent, send_failed, reply_failed, failed_links;
    } c;
};

static void
s_req_key (uint32_t req, char *out)
{
    snprintf (out, 9, "%08x", req);
}

//  Fail every pending request to peer (fn gets NULL): its link is gone.
static void
s_fail_peer (gossip_xfer_t *self, const uint8_t *peer)
{
    zlist_t *doomed = zlist_new ();
    for (s_pending_t *p = (s_pending_t *) zhashx_first (self->pending); p;
         p = (s_pending_t *) zhashx_next (self->pending))
        if (memcmp (p->peer, peer, SWIM_ID_SIZE) == 0)
            zlist_append (doomed, p);
    //  Taken out of the hash first: a callback may send new requests.
    for (s_pending_t *p = (s_pending_t *) zlist_first (doomed); p;
         p = (s_pending_t *) zlist_next (doomed)) {
        char key [9];
        s_req_key (p->req, key);
        zhashx_delete (self->pending, key);
    }
    s_pending_t *p;
    while ((p = (s_pending_t *) zlist_pop (doomed))) {
        if (p->fn)
            p->fn (p->arg, p->peer, NULL);
        free (p);
    }
    zlist_destroy (&doomed);
}

static void
s_link_close (gossip_xfer_t *self, s_link_t *link)
{
    zloop_reader_end (self->loop, link->sock);
    //  zloop may still hold the socket in this turn's poll set: destroy it
    //  two ticks later, never inside the turn that closed it.
    s_grave_t *grave = (s_grave_t *) zmalloc (sizeof (s_grave_t));
    assert (grave);
    grave->sock = link->sock;
    zlist_append (self->graveyard, grave);
    uint8_t peer [SWIM_ID_SIZE];
    memcpy (peer, link->id, SWIM_ID_SIZE);
    zhashx_delete (self->links, link->key);
    free (link);
    self->c.links_closed++;
    s_fail_peer (self, peer);
}

//  An answer (or a digest pushed back) on our link to a peer.
static void
s_link_frame (gossip_xfer_t *self, s_link_t *link, zmsg_t *msg)
{
    zframe_t *frame = zmsg_size (msg) == 1 ? zmsg_first (msg) : NULL;
    gossip_wire_t wire;
    const char *why = "not one frame";
    if (!frame || gossip_wire_classify (zframe_data (frame), zframe_size (frame), &wire,
                                        &why) != 0) {
        self->c.bad_frames++;
        irh_debug ("xfer: dropped a frame from %.12s: %s", link->key, why);
        return;
    }
    self->c.bytes_in += zframe_size (frame);
    if (wire.kind == GOSSIP_WIRE_PUSH) {
        self->c.pushes_in++;
        uint8_t peer [SWIM_ID_SIZE];
        memcpy (peer, link->id, SWIM_ID_SIZE);
        self->on_message (self->arg, peer, NULL, wire.id, frame);
        return;
    }
    if (wire.kind != GOSSIP_WIRE_ANSWER) {
        self->c.bad_frames++;           //  requests come to the ROUTER only
        return;
    }
    char key [9];
    s_req_key (wire.req, key);
    s_pending_t *p = (s_pending_t *) zhashx_lookup (self->pending, key);
    if (!p || memcmp (p->peer, link->id, SWIM_ID_SIZE) != 0) {
        self->c.late++;                 //  timed out already, or not ours
        return;
    }
    zhashx_freefn (self->pending, key, NULL);
    zhashx_delete (self->pending, key);
    if (link->pending)
        link->pending--;
    link->used_ms = zclock_mono ();
    self->c.answers++;
    if (p->fn)                          //  NULL: cancelled by its owner
        p->fn (p->arg, p->peer, frame);
    free (p);
}

static int
s_link_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    s_link_t *link = (s_link_t *) arg;
    gossip_xfer_t *self = link->xfer;
    //  A callback may close this link (forget, LRU): stop reading it then
    //  (its socket waits in the graveyard, so reader stays valid).
    char key [2 * SWIM_ID_SIZE + 1];
    memcpy (key, link->key, sizeof key);
    for (int i = 0; i < 64; i++) {
        s_link_t *now = (s_link_t *) zhashx_lookup (self->links, key);
        if (!now || now->sock != reader || !(zsock_events (reader) & ZMQ_POLLIN))
            break;
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;
        s_link_frame (self, now, msg);
        zmsg_destroy (&msg);
    }
    return 0;
}

static s_link_t *
s_link_get (gossip_xfer_t *self, const uint8_t *peer, const char *gossip_address)
{
    char key [2 * SWIM_ID_SIZE + 1], endpoint [80];
    irh_hash_hex (peer, key);
    if (gossip_wire_data_endpoint (gossip_address, endpoint, sizeof endpoint) != 0)
        return NULL;
    s_link_t *link = (s_link_t *) zhashx_lookup (self->links, key);
    if (link && strcmp (link->endpoint, endpoint) != 0) {
        s_link_close (self, link);              //  the member moved
        link = NULL;
    }
    if (link)
        return link;
    if (zhashx_size (self->links) >= S_LINKS_MAX) {
        s_link_t *oldest = NULL;
        for (s_link_t *l = (s_link_t *) zhashx_first (self->links); l;
             l = (s_link_t *) zhashx_next (self->links))
            if (!oldest || l->used_ms < oldest->used_ms)
                oldest = l;
        if (oldest)
            s_link_close (self, oldest);
    }
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, S_HWM);
    zsock_set_rcvhwm (sock, S_HWM);
    zsock_set_maxmsgsize (sock, GOSSIP_WIRE_FRAME_MAX);
    zsock_set_reconnect_ivl_max (sock, S_RECONNECT_MAX_MS);
    zcert_apply (irh_identity_cert (self->identity), sock);
    zsock_set_curve_serverkey_bin (sock, peer);
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        zsock_destroy (&sock);
        self->c.failed_links++;
        return NULL;
    }
    link = (s_link_t *) zmalloc (sizeof (s_link_t));
    assert (link);
    link->xfer = self;
    memcpy (link->id, peer, SWIM_ID_SIZE);
    memcpy (link->key, key, sizeof key);
    snprintf (link->endpoint, sizeof link->endpoint, "%s", endpoint);
    link->sock = sock;
    link->used_ms = zclock_mono ();
    zhashx_insert (self->links, key, link);
    zloop_reader (self->loop, sock, s_link_readable, link);
    self->c.links_opened++;
    return link;
}

static int
s_link_send (gossip_xfer_t *self, s_link_t *link, zframe_t **frame_p)
{
    size_t size = zframe_size (*frame_p);
    if (zframe_send (frame_p, link->sock, ZFRAME_DONTWAIT) != 0) {
        zframe_destroy (frame_p);       //  queue full (peer not reading) or closed
        self->c.send_failed++;
        return -1;
    }
    self->c.bytes_out += size;
    link->used_ms = zclock_mono ();
    return 0;
}

//  ---------------------------------------------------------------------
//  Inbound: the ROUTER

//  The asker's node id: the CURVE key of the connection, which our ZAP
//  handler put in the user id (Z85). False if absent (not CURVE).
static bool
s_asker (zframe_t *frame, uint8_t key [SWIM_ID_SIZE])
{
    const char *user = zframe_meta (frame, "User-Id");
    if (!user || strlen (user) != 40)
        return false;
    return zmq_z85_decode (key, user) != NULL;
}

static int
s_router_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    gossip_xfer_t *self = (gossip_xfer_t *) arg;
    for (int i = 0; i < 64 && (zsock_events (reader) & ZMQ_POLLIN); i++) {
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;
        zframe_t *route = zmsg_pop (msg);
        zframe_t *frame = zmsg_size (msg) == 1 ? zmsg_first (msg) : NULL;
        uint8_t from [SWIM_ID_SIZE];
        gossip_wire_t wire;
        const char *why = "not one frame";
        if (!frame)
            self->c.bad_frames++;
        else
        if (!s_asker (frame, from))
            self->c.refused_no_key++;
        else
        if (gossip_wire_classify (zframe_data (frame), zframe_size (frame), &wire, &why) != 0
        ||  wire.kind == GOSSIP_WIRE_ANSWER) {
            self->c.bad_frames++;       //  answers come on our DEALERs only
            irh_debug ("xfer: dropped a frame on the data socket: %s",
                       wire.kind == GOSSIP_WIRE_ANSWER ? "an answer nobody asked here" : why);
        }
        else {
            self->c.bytes_in += zframe_size (frame);
            if (wire.kind == GOSSIP_WIRE_REQUEST)
                self->c.requests_in++;
            else
                self->c.pushes_in++;
            self->on_message (self->arg, from, route, wire.id, frame);
        }
        zframe_destroy (&route);
        zmsg_destroy (&msg);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Timer: timeouts, graveyard, idle links

static void
s_expire (gossip_xfer_t *self, int64_t now)
{
    zlist_t *doomed = NULL;
    for (s_pending_t *p = (s_pending_t *) zhashx_first (self->pending); p;
         p = (s_pending_t *) zhashx_next (self->pending))
        if (now >= p->deadline) {
            if (!doomed)
                doomed = zlist_new ();
            zlist_append (doomed, p);
        }
    if (!doomed)
        return;
    for (s_pending_t *p = (s_pending_t *) zlist_first (doomed); p;
         p = (s_pending_t *) zlist_next (doomed)) {
        char key [9];
        s_req_key (p->req, key);
        zhashx_delete (self->pending, key);
        char hex [2 * SWIM_ID_SIZE + 1];
        irh_hash_hex (p->peer, hex);
        s_link_t *link = (s_link_t *) zhashx_lookup (self->links, hex);
        if (link && link->pending)
            link->pending--;
    }
    s_pending_t *p;
    while ((p = (s_pending_t *) zlist_pop (doomed))) {
        self->c.timeouts++;
        if (p->fn)
            p->fn (p->arg, p->peer, NULL);
        free (p);
    }
    zlist_destroy (&doomed);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_xfer_t *self = (gossip_xfer_t *) arg;
    int64_t now = zclock_mono ();
    for (size_t i = zlist_size (self->graveyard); i > 0; i--) {
        s_grave_t *grave = (s_grave_t *) zlist_pop (self->graveyard);
        if (++grave->ticks > 2) {
            zsock_destroy (&grave->sock);
            free (grave);
        }
        else
            zlist_append (self->graveyard, grave);
    }
    if (zhashx_size (self->pending))
        s_expire (self, now);
    s_link_t *idle = NULL;              //  one per tick is plenty
    for (s_link_t *link = (s_link_t *) zhashx_first (self->links); link && !idle;
         link = (s_link_t *) zhashx_next (self->links))
        if (link->pending == 0 && now - link->used_ms > S_LINK_IDLE_MS)
            idle = link;
    if (idle)
        s_link_close (self, idle);
    return 0;
}

//  ---------------------------------------------------------------------
//  API

static void
s_link_free (void **item)
{
    //  Used only at destroy time: sockets closed directly.
    s_link_t *link = (s_link_t *) *item;
    if (link) {
        zsock_destroy (&link->sock);
        free (link);
        *item = NULL;
    }
}

gossip_xfer_t *
gossip_xfer_new (irh_identity_t *identity, const char *listen, int gossip_port, zloop_t *loop,
                 gossip_xfer_message_fn *on_message, void *arg)
{
    assert (identity && listen && loop && on_message);
    const char *host = strncmp (listen, "tcp://", 6) == 0 ? listen + 6 : NULL;
    const char *colon = host ? strrchr (host, ':') : NULL;
    if (!colon || gossip_port < 1 || gossip_port + IRH_XFER_PORT_OFFSET > 65535) {
        irh_error ("xfer: cannot derive the data port from %s and port %d", listen, gossip_port);
        return NULL;
    }
    gossip_xfer_t *self = (gossip_xfer_t *) zmalloc (sizeof (gossip_xfer_t));
    assert (self);
    self->identity = identity;
    self->loop = loop;
    self->on_message = on_message;
    self->arg = arg;
    self->links = zhashx_new ();
    self->pending = zhashx_new ();
    self->graveyard = zlist_new ();
    self->next_req = (uint32_t) randof (0x7fffffff) + 1;
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router) {
        gossip_xfer_destroy (&self);
        return NULL;
    }
    zsock_set_linger (self->router, 0);
    zsock_set_maxmsgsize (self->router, GOSSIP_WIRE_FRAME_MAX);
    zsock_set_sndhwm (self->router, S_HWM);
    zsock_set_rcvhwm (self->router, S_HWM);
    //  A reply to a peer that went away fails (counted) instead of vanishing.
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_zap_domain (self->router, "irohds");
    zcert_apply (irh_identity_cert (identity), self->router);
    zsock_set_curve_server (self->router, 1);
    int port = gossip_port + IRH_XFER_PORT_OFFSET;
    if (zsock_bind (self->router, "%.*s:%d", (int) (colon - listen), listen, port) < 0) {
        irh_error ("xfer: cannot listen on %.*s:%d: %s; results are not shared",
                   (int) (colon - listen), listen, port, zmq_strerror (zmq_errno ()));
        gossip_xfer_destroy (&self);
        return NULL;
    }
    self->port = port;
    zloop_reader (loop, self->router, s_router_readable, self);
    self->timer = zloop_timer (loop, S_TICK_MS, 0, s_on_timer, self);
    return self;
}

void
gossip_xfer_destroy (gossip_xfer_t **self_p)
{
    assert (self_p);
    gossip_xfer_t *self = *self_p;
    if (self) {
        if (self->timer)
            zloop_timer_end (self->loop, self->timer);
        if (self->router)
            zloop_reader_end (self->loop, self->router);
        zsock_destroy (&self->router);
        for (s_link_t *link = (s_link_t *) zhashx_first (self->links); link;
             link = (s_link_t *) zhashx_next (self->links))
            zloop_reader_end (self->loop, link->sock);
        zhashx_set_destructor (self->links, s_link_free);
        zhashx_destroy (&self->links);
        for (s_pending_t *p = (s_pending_t *) zhashx_first (self->pending); p;
             p = (s_pending_t *) zhashx_next (self->pending))
            free (p);                           //  callbacks are not called
        zhashx_destroy (&self->pending);
        s_grave_t *grave;
        while ((grave = (s_grave_t *) zlist_pop (self->graveyard))) {
            zsock_destroy (&grave->sock);
            free (grave);
        }
        zlist_destroy (&self->graveyard);
        free (self);
        *self_p = NULL;
    }
}

int
gossip_xfer_port (gossip_xfer_t *self)
{
    assert (self);
    return self->port;
}

uint32_t
gossip_xfer_next_req (gossip_xfer_t *self)
{
    assert (self);
    char key [9];
    do {
        if (++self->next_req == 0)
            self->next_req = 1;
        s_req_key (self->next_req, key);
    } while (zhashx_lookup (self->pending, key));
    return self->next_req;
}

int
gossip_xfer_request (gossip_xfer_t *self, const uint8_t *peer, const char *gossip_address,
                     uint32_t req, zframe_t **request_p, int timeout_ms,
                     gossip_xfer_answer_fn *fn, void *arg)
{
    assert (self && peer && request_p && *request_p && fn);
    char key [9];
    s_req_key (req, key);
    s_link_t *link = NULL;
    if (zhashx_size (self->pending) < S_PENDING_MAX && !zhashx_lookup (self->pending, key))
        link = s_link_get (self, peer, gossip_address);
    if (!link || s_link_send (self, link, request_p) != 0) {
        zframe_destroy (request_p);
        if (!link)
            self->c.send_failed++;
        return -1;
    }
    s_pending_t *p = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    assert (p);
    p->req = req;
    memcpy (p->peer, peer, SWIM_ID_SIZE);
    p->fn = fn;
    p->arg = arg;
    p->deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 1);
    zhashx_insert (self->pending, key, p);
    link->pending++;
    self->c.requests_sent++;
    return 0;
}

int
gossip_xfer_push (gossip_xfer_t *self, const uint8_t *peer, const char *gossip_address,
                  zframe_t **frame_p)
{
    assert (self && peer && frame_p && *frame_p);
    s_link_t *link = s_link_get (self, peer, gossip_address);
    if (!link) {
        zframe_destroy (frame_p);
        self->c.send_failed++;
        return -1;
    }
    if (s_link_send (self, link, frame_p) != 0)
        return -1;
    self->c.pushes_sent++;
    return 0;
}

int
gossip_xfer_reply (gossip_xfer_t *self, zframe_t *route, zframe_t **frame_p)
{
    assert (self && frame_p && *frame_p);
    if (!route) {
        zframe_destroy (frame_p);       //  a push has no route to answer on
        self->c.reply_failed++;
        return -1;
    }
    size_t size = zframe_size (*frame_p);
    zframe_t *to = zframe_dup (route);
    if (zframe_send (&to, self->router, ZFRAME_MORE | ZFRAME_DONTWAIT) != 0
    ||  zframe_send (frame_p, self->router, ZFRAME_DONTWAIT) != 0) {
        zframe_destroy (&to);
        zframe_destroy (frame_p);
        self->c.reply_failed++;
        return -1;
    }
    self->c.replies_sent++;
    self->c.bytes_out += size;
    return 0;
}

void
gossip_xfer_cancel (gossip_xfer_t *self, void *arg)
{
    assert (self);
    for (s_pending_t *p = (s_pending_t *) zhashx_first (self->pending); p;
         p = (s_pending_t *) zhashx_next (self->pending))
        if (p->arg == arg)
            p->fn = NULL;               //  stays until answered or expired: counts right
}

void
gossip_xfer_forget (gossip_xfer_t *self, const uint8_t *peer)
{
    assert (self && peer);
    char key [2 * SWIM_ID_SIZE + 1];
    irh_hash_hex (peer, key);
    s_link_t *link = (s_link_t *) zhashx_lookup (self->links, key);
    if (link)
        s_link_close (self, link);
    else
        s_fail_peer (self, peer);
}

void
gossip_xfer_stats (gossip_xfer_t *self, irh_table_t *table)
{
    assert (self && table);
    struct { const char *name; uint64_t value; } rows [] = {
        { "xfer_port", (uint64_t) self->port },
        { "xfer_requests_sent", self->c.requests_sent },
        { "xfer_requests_in", self->c.requests_in },
        { "xfer_answers", self->c.answers },
        { "xfer_replies_sent", self->c.replies_sent },
        { "xfer_pushes_sent", self->c.pushes_sent },
        { "xfer_pushes_in", self->c.pushes_in },
        { "xfer_timeouts", self->c.timeouts },
        { "xfer_late", self->c.late },
        { "xfer_bad_frames", self->c.bad_frames },
        { "xfer_refused_no_key", self->c.refused_no_key },
        { "xfer_send_failed", self->c.send_failed },
        { "xfer_reply_failed", self->c.reply_failed },
        { "xfer_bytes_in", self->c.bytes_in },
        { "xfer_bytes_out", self->c.bytes_out },
        { "xfer_links_open", zhashx_size (self->links) },
        { "xfer_links_opened", self->c.links_opened },
        { "xfer_links_closed", self->c.links_closed },
        { "xfer_link_failures", self->c.failed_links },
        { "xfer_pending", zhashx_size (self->pending) },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, rows [i].name);
        irh_table_u64 (table, rows [i].value);
    }
}
