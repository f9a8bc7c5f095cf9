/*  gossip_link.c: swim's transport in irohds-gossip. All peer traffic is
    ZeroMQ over TCP with CURVE; nothing is accepted in clear.

    Inbound: one ROUTER, CURVE server with the node key, with this
    process's own ZAP handler (CURVE, any key: who a peer is gets settled
    by its hello, whose node id must be the CURVE key it connected with;
    the handler hands that key over as the user id, which zauth's
    allow-any does not). Outbound: a DEALER per
    member we talk to, CURVE client with the member's node id as server
    key, so a link reaches the pinned key or nothing. Links are made on
    demand, capped (GOSSIP_LINKS_MAX, least recently used goes first) and
    closed when idle: no full mesh.

    Every connection opens with peer_hello (proto/peer.def) both ways; a
    hello of another protocol version is answered with peer_refuse and
    nothing else. Every frame is outside input: a frame that does not fit
    is dropped and counted, never trusted.
*/
#include "gossip.h"
#include "irh_log.h"
#include "irh_msgs.h"
#include <string.h>

struct _gossip_link_t {
    gossip_net_t *net;
    uint8_t id [SWIM_ID_SIZE];
    char address [65];
    zsock_t *sock;
    bool helloed;               //  the peer's hello came back
    bool closed;                //  dropped, waiting in the graveyard
    uint64_t reap_gen;
    int64_t used_ms;
};

typedef struct {
    uint8_t id [SWIM_ID_SIZE];
    int64_t seen_ms;
} s_inbound_t;

struct _gossip_net_t {
    irh_identity_t *identity;
    zloop_t *loop;
    zsock_t *zap;               //  our ZAP handler (CURVE, any key, user id = key)
    zactor_t *monitor;          //  handshake failures of the ROUTER
    zsock_t *router;
    zframe_t *hello;            //  our encoded hello
    char advertise [65];
    int port;                   //  the TCP port bound
    gossip_packet_fn *packet;
    void *arg;
    zhashx_t *links;            //  hex id -> gossip_link_t
    zhashx_t *inbound;          //  hex routing id -> s_inbound_t
    zhashx_t *routes;           //  hex node id -> routing id (zframe_t)
    zhashx_t *sign_keys;        //  hex node id -> 32-byte Ed25519 key of its hello
    zlist_t *graveyard;         //  closed links not freed yet (s_link_drop)
    uint64_t gen;               //  gossip_net_reap calls
    gossip_counters_t counters;
};

static void
s_hex (const uint8_t *data, size_t size, char *out)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out [2 * i] = digits [data [i] >> 4];
        out [2 * i + 1] = digits [data [i] & 15];
    }
    out [2 * size] = 0;
}

//  A hello's sign_key, bound to its node id by the CURVE handshake the
//  hello came over: what checks the producer of a manifest (gossip_lookup.c,
//  docs/security.md). The latest hello wins; at most GOSSIP_SIGN_KEYS_MAX
//  nodes are remembered (32 bytes each), new ones beyond are not.
#define GOSSIP_SIGN_KEYS_MAX    16384

static void
s_remember_sign_key (gossip_net_t *self, const uint8_t *id, const uint8_t *sign_key)
{
    char idkey [2 * SWIM_ID_SIZE + 1];
    s_hex (id, SWIM_ID_SIZE, idkey);
    uint8_t *known = (uint8_t *) zhashx_lookup (self->sign_keys, idkey);
    if (known) {
        memcpy (known, sign_key, 32);
        return;
    }
    if (zhashx_size (self->sign_keys) >= GOSSIP_SIGN_KEYS_MAX)
        return;
    known = (uint8_t *) malloc (32);
    if (!known)
        return;
    memcpy (known, sign_key, 32);
    zhashx_insert (self->sign_keys, idkey, known);
}

bool
gossip_net_sign_key (gossip_net_t *self, const uint8_t *id, uint8_t *sign_key)
{
    assert (self && id && sign_key);
    char idkey [2 * SWIM_ID_SIZE + 1];
    s_hex (id, SWIM_ID_SIZE, idkey);
    const uint8_t *known = (const uint8_t *) zhashx_lookup (self->sign_keys, idkey);
    if (known)
        memcpy (sign_key, known, 32);
    return known != NULL;
}

static void
s_free_bytes (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_link_destroy (gossip_link_t **self_p)
{
    gossip_link_t *self = *self_p;
    if (self) {
        zsock_destroy (&self->sock);
        free (self);
        *self_p = NULL;
    }
}

//  Close a link. zloop polls a copy of its reader list and may still call
//  this link's handler in the current pass (a timer or another handler
//  closed it): so the link is only marked closed and parked, and freed by
//  gossip_net_reap two swim ticks later, when no poll set holds it.
static void
s_link_drop (gossip_net_t *self, gossip_link_t *link)
{
    char key [2 * SWIM_ID_SIZE + 1];
    s_hex (link->id, SWIM_ID_SIZE, key);
    zhashx_delete (self->links, key);
    zloop_reader_end (self->loop, link->sock);
    link->closed = true;
    link->reap_gen = self->gen;
    zlist_append (self->graveyard, link);
    self->counters.links_closed++;
}

void
gossip_net_reap (gossip_net_t *self)
{
    self->gen++;
    gossip_link_t *link = (gossip_link_t *) zlist_first (self->graveyard);
    while (link && link->reap_gen + 2 <= self->gen) {
        zlist_pop (self->graveyard);
        s_link_destroy (&link);
        link = (gossip_link_t *) zlist_first (self->graveyard);
    }
}

//  A refusal or hello on an outgoing link; true if the link stays.
static bool
s_link_control (gossip_link_t *link, zframe_t *frame)
{
    gossip_net_t *self = link->net;
    int id = irh_msgs_id (frame);
    if (id == IRH_MSG_PEER_REFUSE) {
        irh_peer_refuse_t refuse;
        if (irh_peer_refuse_decode (frame, &refuse) == 0)
            irh_warn ("peer %s refused us (its protocol version %u): %s", link->address,
                      refuse.version, refuse.reason);
        self->counters.refused_by_peer++;
        return false;
    }
    irh_peer_hello_t hello;
    if (irh_peer_hello_decode (frame, &hello) != 0
    ||  memcmp (hello.node_id, link->id, SWIM_ID_SIZE) != 0) {
        self->counters.refused_hellos++;
        return false;
    }
    if (hello.version != SWIM_PROTOCOL_VERSION) {
        irh_warn ("peer %s speaks peer protocol version %u, this node %u: not talking to it",
                  link->address, hello.version, SWIM_PROTOCOL_VERSION);
        self->counters.version_mismatch++;
        return false;
    }
    link->helloed = true;
    s_remember_sign_key (self, hello.node_id, hello.sign_key);
    return true;
}

static int
s_link_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    gossip_link_t *link = (gossip_link_t *) arg;
    if (link->closed)
        return 0;                       //  a stale poll set entry
    gossip_net_t *self = link->net;
    zmsg_t *msg = zmsg_recv (link->sock);
    if (!msg)
        return 0;
    bool keep = true;
    zframe_t *frame = zmsg_first (msg);
    if (zmsg_size (msg) != 1 || zframe_size (frame) == 0)
        self->counters.bad_frames++;
    else
    if (!link->helloed || irh_msgs_id (frame) == IRH_MSG_PEER_REFUSE)
        keep = s_link_control (link, frame);
    else {
        link->used_ms = zclock_mono ();
        uint8_t id [SWIM_ID_SIZE];
        memcpy (id, link->id, SWIM_ID_SIZE);
        frame = zmsg_pop (msg);
        zmsg_destroy (&msg);
        //  The handler may send, and sending may close this link: read
        //  nothing of it afterwards.
        self->packet (self->arg, id, zframe_data (frame), zframe_size (frame));
        zframe_destroy (&frame);
        return 0;
    }
    zmsg_destroy (&msg);
    if (!keep)
        s_link_drop (self, link);
    return 0;
}

static void
s_close_oldest (gossip_net_t *self)
{
    gossip_link_t *oldest = NULL;
    for (gossip_link_t *link = (gossip_link_t *) zhashx_first (self->links); link;
         link = (gossip_link_t *) zhashx_next (self->links))
        if (!oldest || link->used_ms < oldest->used_ms)
            oldest = link;
    if (oldest)
        s_link_drop (self, oldest);
}

static gossip_link_t *
s_link_get (gossip_net_t *self, const uint8_t *id, const char *address)
{
    char key [2 * SWIM_ID_SIZE + 1];
    s_hex (id, SWIM_ID_SIZE, key);
    gossip_link_t *link = (gossip_link_t *) zhashx_lookup (self->links, key);
    if (link && address && strcmp (link->address, address) != 0) {
        s_link_drop (self, link);           //  the member moved
        link = NULL;
    }
    if (link || !address)
        return link;
    if (!gossip_address_valid (address))
        return NULL;
    if (zhashx_size (self->links) >= GOSSIP_LINKS_MAX)
        s_close_oldest (self);
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger (sock, 0);
    zsock_set_sndhwm (sock, 200);
    zsock_set_maxmsgsize (sock, GOSSIP_FRAME_MAX);
    //  libzmq retries a refused or failed connection every 100 ms by
    //  default, forever: to a member that crashed (or whose address a new
    //  node took: a full TCP + CURVE handshake that fails each time) that
    //  was most of a 6-node cluster's idle traffic. Back off to 5 s.
    zsock_set_reconnect_ivl_max (sock, GOSSIP_RECONNECT_MAX_MS);
    zcert_apply (irh_identity_cert (self->identity), sock);
    zsock_set_curve_serverkey_bin (sock, id);
    if (zsock_connect (sock, "%s", address) != 0) {
        zsock_destroy (&sock);
        return NULL;
    }
    link = (gossip_link_t *) zmalloc (sizeof (gossip_link_t));
    assert (link);
    link->net = self;
    memcpy (link->id, id, SWIM_ID_SIZE);
    snprintf (link->address, sizeof link->address, "%s", address);
    link->sock = sock;
    link->used_ms = zclock_mono ();
    zhashx_insert (self->links, key, link);
    zloop_reader (self->loop, sock, s_link_readable, link);
    self->counters.links_opened++;
    zframe_t *hello = zframe_dup (self->hello);
    if (zframe_send (&hello, sock, ZFRAME_DONTWAIT) != 0) {
        zframe_destroy (&hello);
        self->counters.send_dropped++;
    }
    return link;
}

//  ---------------------------------------------------------------------
//  Inbound

static void
s_refuse (gossip_net_t *self, zframe_t *rid, const char *reason)
{
    irh_peer_refuse_t refuse;
    memset (&refuse, 0, sizeof refuse);
    refuse.version = SWIM_PROTOCOL_VERSION;
    snprintf (refuse.reason, sizeof refuse.reason, "%s", reason);
    zframe_t *frame = irh_peer_refuse_encode (&refuse);
    zframe_t *to = zframe_dup (rid);
    zframe_send (&to, self->router, ZFRAME_MORE | ZFRAME_DONTWAIT);
    zframe_send (&frame, self->router, ZFRAME_DONTWAIT);
    zframe_destroy (&to);
    zframe_destroy (&frame);
}

//  The CURVE key the connection was made with: our ZAP handler sets the
//  user id to the client's key in Z85. False if absent.
static bool
s_curve_key (zframe_t *frame, uint8_t key [SWIM_ID_SIZE])
{
    const char *user = zframe_meta (frame, "User-Id");
    if (!user || strlen (user) != 40)
        return false;
    return zmq_z85_decode (key, user) != NULL;
}

static void
s_inbound_hello (gossip_net_t *self, zframe_t *rid, const char *rkey, zframe_t *frame)
{
    irh_peer_hello_t hello;
    if (irh_msgs_id (frame) != IRH_MSG_PEER_HELLO) {
        self->counters.refused_hellos++;
        s_refuse (self, rid, "hello expected first");
        return;
    }
    if (irh_peer_hello_decode (frame, &hello) != 0) {
        //  A hello of a newer version may not decode as ours: the version
        //  is its first field, so tell that case apart.
        const uint8_t *data = zframe_data (frame);
        if (zframe_size (frame) >= 3 && ((data [1] << 8) | data [2]) != SWIM_PROTOCOL_VERSION) {
            self->counters.version_mismatch++;
            s_refuse (self, rid, "peer protocol version not supported: this node speaks 1");
        }
        else {
            self->counters.refused_hellos++;
            s_refuse (self, rid, "malformed hello");
        }
        return;
    }
    if (hello.version != SWIM_PROTOCOL_VERSION) {
        self->counters.version_mismatch++;
        char reason [129];
        snprintf (reason, sizeof reason, "peer protocol version %u not supported: this node "
                  "speaks %u", hello.version, SWIM_PROTOCOL_VERSION);
        irh_info ("refused a peer: %s", reason);
        s_refuse (self, rid, reason);
        return;
    }
    uint8_t key [SWIM_ID_SIZE];
    if (!s_curve_key (frame, key) || memcmp (key, hello.node_id, SWIM_ID_SIZE) != 0) {
        self->counters.unknown_keys++;
        s_refuse (self, rid, "node id is not the CURVE key of this connection");
        return;
    }
    if (zhashx_size (self->inbound) >= GOSSIP_INBOUND_MAX)
        gossip_net_sweep (self, zclock_mono () + GOSSIP_LINK_IDLE_MS);
    s_inbound_t *in = (s_inbound_t *) zmalloc (sizeof (s_inbound_t));
    assert (in);
    memcpy (in->id, hello.node_id, SWIM_ID_SIZE);
    in->seen_ms = zclock_mono ();
    zhashx_update (self->inbound, rkey, in);
    char idkey [2 * SWIM_ID_SIZE + 1];
    s_hex (hello.node_id, SWIM_ID_SIZE, idkey);
    zhashx_update (self->routes, idkey, zframe_dup (rid));
    s_remember_sign_key (self, hello.node_id, hello.sign_key);
    self->counters.hellos_accepted++;
    zframe_t *to = zframe_dup (rid);
    zframe_t *ours = zframe_dup (self->hello);
    zframe_send (&to, self->router, ZFRAME_MORE | ZFRAME_DONTWAIT);
    zframe_send (&ours, self->router, ZFRAME_DONTWAIT);
    zframe_destroy (&to);
    zframe_destroy (&ours);
}

static int
s_router_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    gossip_net_t *self = (gossip_net_t *) arg;
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return 0;
    zframe_t *rid = zmsg_first (msg);
    zframe_t *frame = zmsg_next (msg);
    if (zmsg_size (msg) != 2 || zframe_size (frame) == 0 || zframe_size (rid) > 64) {
        self->counters.bad_frames++;
        zmsg_destroy (&msg);
        return 0;
    }
    if (zframe_size (frame) > SWIM_PUSH_PULL_MAX) {
        //  Larger than anything swim sends (libzmq cuts the connection
        //  of anything above GOSSIP_FRAME_MAX).
        self->counters.oversize++;
        zmsg_destroy (&msg);
        return 0;
    }
    char rkey [129];
    s_hex (zframe_data (rid), zframe_size (rid), rkey);
    s_inbound_t *in = (s_inbound_t *) zhashx_lookup (self->inbound, rkey);
    if (!in)
        s_inbound_hello (self, rid, rkey, frame);
    else
    if (irh_msgs_id (frame) == IRH_MSG_PEER_HELLO)
        self->counters.refused_hellos++;        //  one hello per connection
    else {
        in->seen_ms = zclock_mono ();
        uint8_t id [SWIM_ID_SIZE];
        memcpy (id, in->id, SWIM_ID_SIZE);
        //  The route back to this member is the connection it used last.
        char idkey [2 * SWIM_ID_SIZE + 1];
        s_hex (id, SWIM_ID_SIZE, idkey);
        zframe_t *route = (zframe_t *) zhashx_lookup (self->routes, idkey);
        if (!route || !zframe_eq (route, rid))
            zhashx_update (self->routes, idkey, zframe_dup (rid));
        self->packet (self->arg, id, zframe_data (frame), zframe_size (frame));
    }
    zmsg_destroy (&msg);
    return 0;
}

void
gossip_net_send (void *arg, const uint8_t *to_id, const char *to_address,
                 const uint8_t *data, size_t size)
{
    gossip_net_t *self = (gossip_net_t *) arg;
    if (!to_id) {
        self->counters.no_route++;          //  joins need the key (gossip_join)
        return;
    }
    gossip_link_t *link = s_link_get (self, to_id, to_address);
    if (link) {
        link->used_ms = zclock_mono ();
        zframe_t *frame = zframe_new (data, size);
        if (zframe_send (&frame, link->sock, ZFRAME_DONTWAIT) != 0) {
            zframe_destroy (&frame);
            self->counters.send_dropped++;
        }
        return;
    }
    char idkey [2 * SWIM_ID_SIZE + 1];
    s_hex (to_id, SWIM_ID_SIZE, idkey);
    zframe_t *route = (zframe_t *) zhashx_lookup (self->routes, idkey);
    if (!route) {
        self->counters.no_route++;
        return;
    }
    zframe_t *to = zframe_dup (route);
    zframe_t *frame = zframe_new (data, size);
    if (zframe_send (&to, self->router, ZFRAME_MORE | ZFRAME_DONTWAIT) != 0
    ||  zframe_send (&frame, self->router, ZFRAME_DONTWAIT) != 0)
        self->counters.send_dropped++;
    zframe_destroy (&to);
    zframe_destroy (&frame);
}

void
gossip_net_forget (gossip_net_t *self, const uint8_t *id)
{
    assert (self && id);
    char key [2 * SWIM_ID_SIZE + 1];
    s_hex (id, SWIM_ID_SIZE, key);
    gossip_link_t *link = (gossip_link_t *) zhashx_lookup (self->links, key);
    if (link)
        s_link_drop (self, link);
}

void
gossip_net_sweep (gossip_net_t *self, int64_t now_ms)
{
    zlist_t *stale = zlist_new ();
    for (gossip_link_t *link = (gossip_link_t *) zhashx_first (self->links); link;
         link = (gossip_link_t *) zhashx_next (self->links))
        if (now_ms - link->used_ms > GOSSIP_LINK_IDLE_MS)
            zlist_append (stale, link);
    for (gossip_link_t *link = (gossip_link_t *) zlist_first (stale); link;
         link = (gossip_link_t *) zlist_next (stale))
        s_link_drop (self, link);
    zlist_purge (stale);
    //  Inbound connections silent for 4x the idle time are gone (the
    //  peer closed its link): forget them and their routes.
    for (s_inbound_t *in = (s_inbound_t *) zhashx_first (self->inbound); in;
         in = (s_inbound_t *) zhashx_next (self->inbound))
        if (now_ms - in->seen_ms > 4 * GOSSIP_LINK_IDLE_MS)
            zlist_append (stale, (void *) zhashx_cursor (self->inbound));
    for (const char *key = (const char *) zlist_first (stale); key;
         key = (const char *) zlist_next (stale)) {
        s_inbound_t *in = (s_inbound_t *) zhashx_lookup (self->inbound, key);
        char idkey [2 * SWIM_ID_SIZE + 1];
        s_hex (in->id, SWIM_ID_SIZE, idkey);
        zframe_t *route = (zframe_t *) zhashx_lookup (self->routes, idkey);
        if (route) {
            char rkey [129];
            s_hex (zframe_data (route), zframe_size (route), rkey);
            if (streq (rkey, key))
                zhashx_delete (self->routes, idkey);
        }
        zhashx_delete (self->inbound, key);
    }
    zlist_destroy (&stale);
}

//  ZAP (ZeroMQ RFC 27) for the ROUTER: CURVE with any key is let in; the
//  key becomes the user id, which s_inbound_hello checks against the node
//  id of the hello. Anything else (another mechanism) is refused.
static int
s_zap_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    gossip_net_t *self = (gossip_net_t *) arg;
    zmsg_t *request = zmsg_recv (self->zap);
    if (!request)
        return 0;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);
    char user [41] = "";
    bool ok = version && streq (version, "1.0") && mechanism && streq (mechanism, "CURVE")
           && key && zframe_size (key) == 32
           && zmq_z85_encode (user, zframe_data (key), 32) != NULL;
    if (!ok)
        self->counters.unknown_keys++;
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, ok ? "200" : "400");
    zmsg_addstr (reply, ok ? "OK" : "CURVE only");
    zmsg_addstr (reply, ok ? user : "");
    zmsg_addmem (reply, "", 0);
    zmsg_send (&reply, self->zap);
    zstr_free (&version); zstr_free (&sequence); zstr_free (&domain);
    zstr_free (&address); zstr_free (&identity); zstr_free (&mechanism);
    zframe_destroy (&key);
    zmsg_destroy (&request);
    return 0;
}

static int
s_monitor_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    gossip_net_t *self = (gossip_net_t *) arg;
    zmsg_t *msg = zmsg_recv (self->monitor);
    self->counters.handshake_failed++;
    zmsg_destroy (&msg);
    return 0;
}

static void
s_inbound_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_frame_free (void **item)
{
    zframe_destroy ((zframe_t **) item);
}

gossip_net_t *
gossip_net_new (irh_identity_t *identity, const char *listen, zloop_t *loop,
                gossip_packet_fn *packet, void *arg)
{
    assert (identity && listen && loop && packet);
    gossip_net_t *self = (gossip_net_t *) zmalloc (sizeof (gossip_net_t));
    assert (self);
    self->identity = identity;
    self->loop = loop;
    self->packet = packet;
    self->arg = arg;
    self->links = zhashx_new ();
    self->graveyard = zlist_new ();
    self->inbound = zhashx_new ();
    zhashx_set_destructor (self->inbound, s_inbound_free);
    self->routes = zhashx_new ();
    zhashx_set_destructor (self->routes, s_frame_free);
    self->sign_keys = zhashx_new ();
    zhashx_set_destructor (self->sign_keys, s_free_bytes);
    s_remember_sign_key (self, irh_identity_curve_public (identity),
                         irh_identity_sign_public (identity));

    //  The ZAP handler first: a CURVE server with none accepts anyone
    //  without telling us their key. (zauth's allow-any leaves the user
    //  id empty, so the hello could not be checked against the key.)
    self->zap = zsock_new_rep ("inproc://zeromq.zap.01");
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->zap || !self->router) {
        irh_error ("cannot set up the CURVE server (ZAP handler or socket)");
        gossip_net_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, self->zap, s_zap_readable, self);
    zsock_set_linger (self->router, 0);
    zsock_set_maxmsgsize (self->router, GOSSIP_FRAME_MAX);
    zsock_set_sndhwm (self->router, 1000);
    zsock_set_zap_domain (self->router, "irohds");
    zcert_apply (irh_identity_cert (identity), self->router);
    zsock_set_curve_server (self->router, 1);
    self->port = zsock_bind (self->router, "%s", listen);
    if (self->port < 0) {
        //  Port taken (e.g. a second daemon on this host): any free port
        //  on the same address beats no membership at all; the address we
        //  advertise (hello, member record, beacon) carries the real one.
        irh_warn ("cannot listen on %s (peers.listen): %s; using a free port instead",
                  listen, zmq_strerror (zmq_errno ()));
        char any [80];
        snprintf (any, sizeof any, "%.*s:*", (int) (strrchr (listen, ':') - listen), listen);
        self->port = zsock_bind (self->router, "%s", any);
    }
    if (self->port < 0) {
        irh_error ("cannot listen on %s: %s", listen, zmq_strerror (zmq_errno ()));
        gossip_net_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, self->router, s_router_readable, self);
    //  Clients without CURVE, or with a broken handshake, never reach
    //  us as messages: count them from the socket's monitor.
    self->monitor = zactor_new (zmonitor, self->router);
    if (self->monitor) {
        zstr_sendx (self->monitor, "LISTEN", "HANDSHAKE_FAILED_NO_DETAIL",
                    "HANDSHAKE_FAILED_PROTOCOL", "HANDSHAKE_FAILED_AUTH", NULL);
        zstr_sendx (self->monitor, "START", NULL);
        zsock_wait (self->monitor);
        zloop_reader (loop, (zsock_t *) self->monitor, s_monitor_readable, self);
    }
    return self;
}

void
gossip_net_advertise (gossip_net_t *self, const char *advertise)
{
    snprintf (self->advertise, sizeof self->advertise, "%s", advertise);
    irh_identity_t *identity = self->identity;
    irh_peer_hello_t hello;
    memset (&hello, 0, sizeof hello);
    hello.version = SWIM_PROTOCOL_VERSION;
    memcpy (hello.node_id, irh_identity_curve_public (identity), SWIM_ID_SIZE);
    snprintf (hello.name, sizeof hello.name, "%s", irh_identity_name (identity));
    hello.capabilities = 1;
    memcpy (hello.sign_key, irh_identity_sign_public (identity), SWIM_ID_SIZE);
    snprintf (hello.listen, sizeof hello.listen, "%s", self->advertise);
    zframe_destroy (&self->hello);
    self->hello = irh_peer_hello_encode (&hello);
    assert (self->hello);

}

int
gossip_net_port (gossip_net_t *self)
{
    return self->port;
}

void
gossip_net_destroy (gossip_net_t **self_p)
{
    gossip_net_t *self = *self_p;
    if (self) {
        //  Let a departure (swim_leave) just sent get out.
        for (gossip_link_t *link = (gossip_link_t *) zhashx_first (self->links); link;
             link = (gossip_link_t *) zhashx_next (self->links))
            zsock_set_linger (link->sock, 200);
        gossip_link_t *link;
        while ((link = (gossip_link_t *) zhashx_first (self->links))) {
            char key [2 * SWIM_ID_SIZE + 1];
            s_hex (link->id, SWIM_ID_SIZE, key);
            zhashx_delete (self->links, key);
            s_link_destroy (&link);
        }
        zhashx_destroy (&self->links);
        zhashx_destroy (&self->sign_keys);
        while ((link = (gossip_link_t *) zlist_pop (self->graveyard)))
            s_link_destroy (&link);
        zlist_destroy (&self->graveyard);
        if (self->monitor)
            zloop_reader_end (self->loop, (zsock_t *) self->monitor);
        zactor_destroy (&self->monitor);
        if (self->router)
            zloop_reader_end (self->loop, self->router);
        zsock_destroy (&self->router);
        if (self->zap)
            zloop_reader_end (self->loop, self->zap);
        zsock_destroy (&self->zap);
        zhashx_destroy (&self->inbound);
        zhashx_destroy (&self->routes);
        zframe_destroy (&self->hello);
        free (self);
        *self_p = NULL;
    }
}

gossip_counters_t *
gossip_net_counters (gossip_net_t *self)
{
    return &self->counters;
}

size_t
gossip_net_links (gossip_net_t *self)
{
    return zhashx_size (self->links);
}

size_t
gossip_net_inbound (gossip_net_t *self)
{
    return zhashx_size (self->inbound);
}
