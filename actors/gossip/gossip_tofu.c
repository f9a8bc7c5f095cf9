/*  gossip_tofu.c: trust on first use in irohds-gossip (docs/peers.md).

    CURVE needs the server's key before the first byte, so an address
    given without a node id (peers.bootstrap "tcp://HOST:PORT", `irohds-ctl
    join tcp://HOST:PORT`) cannot be joined directly. Two halves:

    Key endpoint (serving): a ROUTER in clear (NULL mechanism, no ZAP
    domain) on the gossip port + 1 that answers the one fixed peer_key_ask
    with peer_key, this node's id. Anything else is dropped and counted;
    answers are rate-limited (a token bucket) and sent without blocking,
    and a frame above a few bytes makes libzmq cut the connection.

    Fetch (joining): a DEALER to HOST:PORT+1 asks once and waits a few
    seconds. A first answer is pinned in <home>/peers/known_nodes
    (irh_known.h) and logged "trusting node ... on first use". Later, the
    pin is what counts: an answer with another key is refused and counted
    (key_changed, like ssh's "host key changed"); no answer at all joins
    with the pinned key, which CURVE then checks anyway. The clear answer
    is only a hint: a CURVE handshake with the pinned key succeeds only
    with the holder of its secret.
*/
#include "gossip.h"
#include "irh_log.h"
#include <string.h>

#define S_FETCH_MS      3000        //  wait this long for a key answer
#define S_FETCHES_MAX   16          //  key fetches under way at once
#define S_TIMER_MS      250
#define S_RATE_PER_S    20          //  key answers per second (burst as many)
#define S_ASK_MAX       64          //  bytes: libzmq drops a connection sending more

typedef struct {
    gossip_tofu_t *tofu;
    char address [65];
    zsock_t *sock;
    int64_t deadline_ms;
    bool closed;
    uint64_t reap_gen;
} s_fetch_t;

struct _gossip_tofu_t {
    irh_identity_t *identity;
    zloop_t *loop;
    int timer;
    irh_known_t *known;
    gossip_tofu_join_fn *join;
    void *arg;
    zsock_t *server;            //  the key endpoint, NULL when off
    int port;                   //  its port, 0 when off
    zframe_t *answer;           //  our encoded peer_key
    double tokens;
    int64_t tokens_ms;
    zlistx_t *fetches;          //  s_fetch_t under way
    zlist_t *graveyard;         //  finished, freed two timer ticks later
    uint64_t gen;
    gossip_tofu_counters_t counters;
};

//  ---------------------------------------------------------------------
//  Key endpoint

static int
s_server_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    gossip_tofu_t *self = (gossip_tofu_t *) arg;
    zmsg_t *msg = zmsg_recv (self->server);
    if (!msg)
        return 0;
    zframe_t *rid = zmsg_first (msg);
    zframe_t *ask = zmsg_next (msg);
    if (zmsg_size (msg) != 2 || !irh_known_ask_valid (zframe_data (ask), zframe_size (ask))) {
        self->counters.key_bad_asks++;
        zmsg_destroy (&msg);
        return 0;
    }
    int64_t now = zclock_mono ();
    self->tokens += (double) (now - self->tokens_ms) * S_RATE_PER_S / 1000.0;
    if (self->tokens > S_RATE_PER_S)
        self->tokens = S_RATE_PER_S;
    self->tokens_ms = now;
    if (self->tokens < 1.0) {
        self->counters.key_rate_limited++;
        zmsg_destroy (&msg);
        return 0;
    }
    self->tokens -= 1.0;
    zframe_t *to = zframe_dup (rid);
    zframe_t *answer = zframe_dup (self->answer);
    if (zframe_send (&to, self->server, ZFRAME_MORE | ZFRAME_DONTWAIT) == 0
    &&  zframe_send (&answer, self->server, ZFRAME_DONTWAIT) == 0)
        self->counters.key_answers++;
    else
        self->counters.key_rate_limited++;      //  the peer does not read: same as too fast
    zframe_destroy (&to);
    zframe_destroy (&answer);
    zmsg_destroy (&msg);
    return 0;
}

int
gossip_tofu_serve (gossip_tofu_t *self, const char *listen, int gossip_port)
{
    assert (self && listen && !self->server);
    if (gossip_port >= 65535)
        return -1;
    self->server = zsock_new (ZMQ_ROUTER);
    if (!self->server)
        return -1;
    zsock_set_linger (self->server, 0);
    zsock_set_maxmsgsize (self->server, S_ASK_MAX);
    zsock_set_sndhwm (self->server, 100);
    zsock_set_rcvhwm (self->server, 100);
    int host_len = (int) (strrchr (listen, ':') - listen);
    self->port = zsock_bind (self->server, "%.*s:%d", host_len, listen, gossip_port + 1);
    if (self->port < 0) {
        irh_warn ("key endpoint: cannot listen on %.*s:%d: %s; nodes that know this node's "
                  "address but not its id cannot join it", host_len, listen, gossip_port + 1,
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->server);
        self->port = 0;
        return -1;
    }
    self->tokens = S_RATE_PER_S;
    self->tokens_ms = zclock_mono ();
    zloop_reader (self->loop, self->server, s_server_readable, self);
    return self->port;
}

int
gossip_tofu_port (gossip_tofu_t *self)
{
    return self->port;
}

//  ---------------------------------------------------------------------
//  Fetch

static void
s_fetch_close (gossip_tofu_t *self, s_fetch_t *fetch)
{
    void *handle = zlistx_find (self->fetches, fetch);
    if (handle)
        zlistx_detach (self->fetches, handle);
    zloop_reader_end (self->loop, fetch->sock);
    fetch->closed = true;
    fetch->reap_gen = self->gen;
    zlist_append (self->graveyard, fetch);
}

static void
s_fetch_destroy (s_fetch_t **fetch_p)
{
    s_fetch_t *fetch = *fetch_p;
    if (fetch) {
        zsock_destroy (&fetch->sock);
        free (fetch);
        *fetch_p = NULL;
    }
}

//  What the pins say about address presenting key (NULL: no answer).
static void
s_decide (gossip_tofu_t *self, const char *address, const uint8_t *key)
{
    const uint8_t *pinned = irh_known_lookup (self->known, address);
    char id [IRH_NODE_ID_HEX + 1];
    if (!key) {
        if (pinned) {
            self->counters.pinned_joins++;
            self->join (self->arg, address, pinned);
        }
        return;
    }
    irh_identity_id_from_key (key, id);
    if (pinned && memcmp (pinned, key, IRH_KEY_BYTES) != 0) {
        char was [IRH_NODE_ID_HEX + 1];
        irh_identity_id_from_key (pinned, was);
        self->counters.key_changed++;
        irh_warn ("NODE KEY CHANGED at %s: it presents node id %s, but %s is pinned for that "
                  "address (peers/known_nodes); refusing it. Someone may be impersonating the "
                  "node. If it really has a new key, join %s#%s explicitly or delete its line "
                  "from the known-nodes file", address, id, was, address, id);
        return;
    }
    if (!pinned) {
        if (memcmp (key, irh_identity_curve_public (self->identity), IRH_KEY_BYTES) == 0) {
            irh_info ("%s is this node: not joining it", address);
            return;
        }
        char *err = NULL;
        irh_info ("trusting node %s at %s on first use", id, address);
        if (irh_known_pin (self->known, address, key, &err) != 0) {
            self->counters.pin_errors++;
            irh_error ("cannot pin %s for %s in the known-nodes file: %s (joining anyway)",
                       id, address, err ? err : "?");
        }
        else
            self->counters.pinned++;
        free (err);
    }
    else
        self->counters.pinned_joins++;
    self->join (self->arg, address, key);
}

static int
s_fetch_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    s_fetch_t *fetch = (s_fetch_t *) arg;
    if (fetch->closed)
        return 0;                       //  a stale poll set entry
    gossip_tofu_t *self = fetch->tofu;
    zmsg_t *msg = zmsg_recv (fetch->sock);
    zframe_t *frame = msg ? zmsg_first (msg) : NULL;
    uint8_t key [IRH_KEY_BYTES];
    bool good = frame && zmsg_size (msg) == 1
             && irh_known_answer_decode (zframe_data (frame), zframe_size (frame), key) == 0;
    zmsg_destroy (&msg);
    s_fetch_close (self, fetch);
    if (good)
        s_decide (self, fetch->address, key);
    else {
        self->counters.bad_answers++;
        irh_warn ("key endpoint of %s answered something that is not a node id; ignored",
                  fetch->address);
        s_decide (self, fetch->address, NULL);
    }
    return 0;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_tofu_t *self = (gossip_tofu_t *) arg;
    self->gen++;
    s_fetch_t *dead = (s_fetch_t *) zlist_first (self->graveyard);
    while (dead && dead->reap_gen + 2 <= self->gen) {
        zlist_pop (self->graveyard);
        s_fetch_destroy (&dead);
        dead = (s_fetch_t *) zlist_first (self->graveyard);
    }
    //  Collect first: closing a fetch moves the list's cursor.
    int64_t now = zclock_mono ();
    zlist_t *expired = zlist_new ();
    for (s_fetch_t *fetch = (s_fetch_t *) zlistx_first (self->fetches); fetch;
         fetch = (s_fetch_t *) zlistx_next (self->fetches))
        if (now >= fetch->deadline_ms)
            zlist_append (expired, fetch);
    for (s_fetch_t *fetch = (s_fetch_t *) zlist_first (expired); fetch;
         fetch = (s_fetch_t *) zlist_next (expired)) {
        s_fetch_close (self, fetch);
        self->counters.fetch_failed++;
        bool pinned = irh_known_lookup (self->known, fetch->address) != NULL;
        irh_warn ("no node id from the key endpoint of %s within %d ms%s", fetch->address,
                  S_FETCH_MS, pinned ? ": joining with the pinned one" : ": not joined");
        s_decide (self, fetch->address, NULL);
    }
    zlist_destroy (&expired);
    return 0;
}

int
gossip_tofu_join (gossip_tofu_t *self, const char *address)
{
    if (!gossip_address_valid (address))
        return -1;
    for (s_fetch_t *fetch = (s_fetch_t *) zlistx_first (self->fetches); fetch;
         fetch = (s_fetch_t *) zlistx_next (self->fetches))
        if (streq (fetch->address, address))
            return 0;                   //  already asking
    if (zlistx_size (self->fetches) >= S_FETCHES_MAX) {
        self->counters.fetch_failed++;
        return -1;
    }
    const char *colon = strrchr (address, ':');
    int port = atoi (colon + 1);
    zsock_t *sock = port < 65535 ? zsock_new (ZMQ_DEALER) : NULL;
    if (!sock)
        return -1;
    zsock_set_linger (sock, 0);
    zsock_set_maxmsgsize (sock, S_ASK_MAX);
    zsock_set_sndhwm (sock, 1);
    if (zsock_connect (sock, "%.*s:%d", (int) (colon - address), address, port + 1) != 0) {
        zsock_destroy (&sock);
        return -1;
    }
    zframe_t *ask = irh_known_ask_encode ();
    if (zframe_send (&ask, sock, ZFRAME_DONTWAIT) != 0)
        zframe_destroy (&ask);          //  the timeout decides
    s_fetch_t *fetch = (s_fetch_t *) zmalloc (sizeof (s_fetch_t));
    assert (fetch);
    fetch->tofu = self;
    snprintf (fetch->address, sizeof fetch->address, "%s", address);
    fetch->sock = sock;
    fetch->deadline_ms = zclock_mono () + S_FETCH_MS;
    zlistx_add_end (self->fetches, fetch);
    zloop_reader (self->loop, sock, s_fetch_readable, fetch);
    self->counters.fetches++;
    return 0;
}

//  ---------------------------------------------------------------------

gossip_tofu_t *
gossip_tofu_new (irh_identity_t *identity, const char *peers_dir, zloop_t *loop,
                 gossip_tofu_join_fn *join, void *arg)
{
    assert (identity && loop && join);
    gossip_tofu_t *self = (gossip_tofu_t *) zmalloc (sizeof (gossip_tofu_t));
    assert (self);
    self->identity = identity;
    self->loop = loop;
    self->join = join;
    self->arg = arg;
    self->known = irh_known_new (peers_dir);
    char *err = NULL;
    if (!peers_dir)
        ;                               //  gossip_main.c said why
    else
    if (irh_known_load (self->known, &err) != 0)
        irh_error ("known nodes: %s; addresses without a node id cannot be joined until "
                   "it is fixed", err ? err : "?");
    else
    if (irh_known_bad_lines (self->known))
        irh_warn ("known nodes: %zu line(s) of %s/%s are not 'tcp://HOST:PORT NODEID': skipped",
                  irh_known_bad_lines (self->known), peers_dir, IRH_KNOWN_FILE);
    free (err);
    self->counters.bad_pin_lines = irh_known_bad_lines (self->known);
    self->answer = irh_known_answer_encode (irh_identity_curve_public (identity));
    self->fetches = zlistx_new ();
    self->graveyard = zlist_new ();
    self->timer = zloop_timer (loop, S_TIMER_MS, 0, s_on_timer, self);
    return self;
}

void
gossip_tofu_destroy (gossip_tofu_t **self_p)
{
    gossip_tofu_t *self = *self_p;
    if (self) {
        zloop_timer_end (self->loop, self->timer);
        s_fetch_t *fetch;
        while ((fetch = (s_fetch_t *) zlistx_first (self->fetches))) {
            zlistx_detach_cur (self->fetches);
            zloop_reader_end (self->loop, fetch->sock);
            s_fetch_destroy (&fetch);
        }
        zlistx_destroy (&self->fetches);
        while ((fetch = (s_fetch_t *) zlist_pop (self->graveyard)))
            s_fetch_destroy (&fetch);
        zlist_destroy (&self->graveyard);
        if (self->server)
            zloop_reader_end (self->loop, self->server);
        zsock_destroy (&self->server);
        zframe_destroy (&self->answer);
        irh_known_destroy (&self->known);
        free (self);
        *self_p = NULL;
    }
}

gossip_tofu_counters_t *
gossip_tofu_counters (gossip_tofu_t *self)
{
    return &self->counters;
}

size_t
gossip_tofu_pins (gossip_tofu_t *self)
{
    return irh_known_size (self->known);
}
