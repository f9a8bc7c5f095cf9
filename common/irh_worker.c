/*  irh_worker.c: the actor side of the broker protocol (IRW1), or, in
    standalone mode, a ROUTER speaking the client envelope (IRC1) itself.

    Requests come out of irh_worker_recv as irh_request_t and may be kept
    and answered later in any order: the broker matches replies by client
    routing id + rid, not by order. Heartbeats are sent by irh_worker_tick;
    a broker silent for IRH_HEARTBEAT_LIVENESS intervals (or one that sends
    DISCONNECT, e.g. a restarted broker that does not know us) makes the
    worker reconnect on the same socket and register again, so callers can
    keep polling the socket they were given.

    READY carries the registration token the supervisor gave this process
    (irh_worker_set_token, called by irh_actor_init); a broker that refuses
    it answers REFUSED, and the worker tries again only after a liveness
    period, so a refused actor neither spins nor floods the broker.
*/
#include "irh_worker.h"
#include "irh_log.h"
#include <assert.h>
#include <string.h>
#include <unistd.h>

struct _irh_worker_t {
    char *service;
    char *endpoint;
    bool standalone;            //  bind mode: ROUTER, speaks IRC1
    zsock_t *sock;
    int64_t last_heard;         //  broker mode: last message from the broker
    int64_t last_sent;          //  broker mode: last message to the broker
    int64_t last_tick;          //  broker mode: previous irh_worker_tick
    uint64_t malformed;
    uint64_t replies;
    uint64_t reconnects;
    bool refused;               //  broker refused our READY: wait, then retry
};

//  One token per process: every actor runs one worker, and the token
//  belongs to the process the supervisor started, not to a socket.
static char s_token [IRH_TOKEN_SIZE + 1];

void
irh_worker_set_token (const char *token)
{
    snprintf (s_token, sizeof s_token, "%s", token ? token : "");
}

static void
s_send_command (irh_worker_t *self, int command)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, IRH_PROTO_WORKER);
    uint8_t cmd = (uint8_t) command;
    zmsg_addmem (msg, &cmd, 1);
    if (command == IRH_CMD_READY) {
        zmsg_addstr (msg, self->service);
        zmsg_addstrf (msg, "%d", (int) getpid ());
        if (*s_token)
            zmsg_addstr (msg, s_token);
    }
    zmsg_send (&msg, self->sock);
    zmsg_destroy (&msg);
    self->last_sent = zclock_mono ();
}

static void
s_register (irh_worker_t *self)
{
    s_send_command (self, IRH_CMD_READY);
    self->last_heard = zclock_mono ();
    self->refused = false;
}

irh_worker_t *
irh_worker_new (const char *service, const char *broker, const char *bind)
{
    assert (service);
    assert ((broker == NULL) != (bind == NULL));
    assert (irh_envelope_service_valid ((const uint8_t *) service, strlen (service)));

    irh_worker_t *self = (irh_worker_t *) zmalloc (sizeof (irh_worker_t));
    assert (self);
    self->service = strdup (service);
    self->standalone = bind != NULL;
    self->endpoint = strdup (bind ? bind : broker);
    self->sock = zsock_new (self->standalone ? ZMQ_ROUTER : ZMQ_DEALER);
    assert (self->sock);
    zsock_set_linger (self->sock, 1000);
    zsock_set_sndhwm (self->sock, 0);
    zsock_set_rcvhwm (self->sock, 0);
    int rc = self->standalone ? zsock_bind (self->sock, "%s", self->endpoint)
                              : zsock_connect (self->sock, "%s", self->endpoint);
    if (rc == -1) {
        irh_error ("worker %s: cannot %s %s: %s", service, bind ? "bind" : "connect",
                   self->endpoint, zmq_strerror (zmq_errno ()));
        irh_worker_destroy (&self);
        return NULL;
    }
    if (!self->standalone)
        s_register (self);
    return self;
}

void
irh_worker_destroy (irh_worker_t **self_p)
{
    assert (self_p);
    irh_worker_t *self = *self_p;
    if (self) {
        if (self->sock && !self->standalone && self->last_sent) {
            //  Tell the broker at once, so it fails our requests without
            //  waiting for heartbeats to run out.
            zsock_set_linger (self->sock, 200);
            s_send_command (self, IRH_CMD_DISCONNECT);
        }
        zsock_destroy (&self->sock);
        free (self->service);
        free (self->endpoint);
        free (self);
        *self_p = NULL;
    }
}

zsock_t *
irh_worker_sock (irh_worker_t *self)
{
    assert (self);
    return self->sock;
}

static void
s_reconnect (irh_worker_t *self, const char *why)
{
    irh_info ("worker %s: reconnecting to %s (%s)", self->service, self->endpoint, why);
    zsock_disconnect (self->sock, "%s", self->endpoint);
    zsock_connect (self->sock, "%s", self->endpoint);
    self->reconnects++;
    s_register (self);
}

static irh_request_t *
s_request_new (zframe_t *client, const irh_frame_view_t *rid, zmsg_t *msg, size_t skip)
{
    irh_request_t *request = (irh_request_t *) zmalloc (sizeof (irh_request_t));
    assert (request);
    request->client = client;
    request->rid = zframe_new (rid->data, rid->size);
    //  Drop the envelope frames, keep the body.
    for (size_t i = 0; i < skip; i++) {
        zframe_t *frame = zmsg_pop (msg);
        zframe_destroy (&frame);
    }
    request->body = msg;
    return request;
}

//  Standalone: answer an envelope problem directly to the client.
static void
s_standalone_error (irh_worker_t *self, zframe_t *client, const irh_envelope_t *env,
                    const char *code, const char *text)
{
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, &client);
    irh_frame_view_t own = { (const uint8_t *) self->service, strlen (self->service) };
    irh_envelope_add_error (reply, env->service.size ? &env->service : &own, &env->rid,
                            code, text);
    zmsg_send (&reply, self->sock);
    zmsg_destroy (&reply);
}

static irh_request_t *
s_recv_standalone (irh_worker_t *self, zmsg_t *msg)
{
    zframe_t *client = zmsg_pop (msg);
    //  Only the envelope part matters here: more than 8 frames is fine.
    irh_frame_view_t views [8];
    size_t count = irh_envelope_views (msg, views, 8);
    irh_envelope_t env;
    int rc = irh_envelope_decode (views, count, UINT64_MAX, &env);
    if (rc == 0 && env.kind != IRH_ENV_CLIENT_REQUEST)
        rc = -1, env.error_code = "malformed",
        snprintf (env.error_text, sizeof env.error_text, "not a client request");
    if (rc == -1) {
        self->malformed++;
        irh_debug ("worker %s: rejected request: %s", self->service, env.error_text);
        s_standalone_error (self, client, &env, env.error_code, env.error_text);
        zmsg_destroy (&msg);
        return NULL;
    }
    if (env.service.size != strlen (self->service)
    ||  memcmp (env.service.data, self->service, env.service.size) != 0) {
        s_standalone_error (self, client, &env, "unknown-service",
                            "this actor only serves its own service");
        zmsg_destroy (&msg);
        return NULL;
    }
    return s_request_new (client, &env.rid, msg, 3);
}

static irh_request_t *
s_recv_broker (irh_worker_t *self, zmsg_t *msg)
{
    self->last_heard = zclock_mono ();
    irh_frame_view_t views [8];
    size_t count = irh_envelope_views (msg, views, 8);
    irh_envelope_t env;
    if (irh_envelope_decode (views, count, UINT64_MAX, &env) == -1
    ||  env.kind != IRH_ENV_WORKER) {
        self->malformed++;
        irh_warn ("worker %s: malformed message from broker: %s", self->service,
                  env.error_code ? env.error_text : "not a worker message");
        zmsg_destroy (&msg);
        return NULL;
    }
    switch (env.command) {
        case IRH_CMD_REQUEST: {
            zframe_t *client = zframe_new (env.client.data, env.client.size);
            return s_request_new (client, &env.rid, msg, 4);
        }
        case IRH_CMD_HEARTBEAT:
            break;
        case IRH_CMD_DISCONNECT:
            zmsg_destroy (&msg);
            if (!self->refused)
                s_reconnect (self, "broker asked");
            return NULL;
        case IRH_CMD_REFUSED:
            //  Not ours to fix by retrying at once: the token is wrong or
            //  missing. Stay quiet; irh_worker_tick retries after a
            //  liveness period (the broker may have been restarted).
            irh_error ("worker %s: the broker refused to register us: %.*s", self->service,
                       (int) env.text.size, (const char *) env.text.data);
            self->refused = true;
            break;
        default:
            self->malformed++;
            irh_warn ("worker %s: unexpected command 0x%02x from broker",
                      self->service, env.command);
            break;
    }
    zmsg_destroy (&msg);
    return NULL;
}

irh_request_t *
irh_worker_recv (irh_worker_t *self)
{
    assert (self);
    if (!(zsock_events (self->sock) & ZMQ_POLLIN))
        return NULL;
    zmsg_t *msg = zmsg_recv (self->sock);
    if (!msg)
        return NULL;
    return self->standalone ? s_recv_standalone (self, msg) : s_recv_broker (self, msg);
}

int
irh_worker_tick (irh_worker_t *self)
{
    assert (self);
    if (self->standalone)
        return IRH_HEARTBEAT_MS;
    int64_t now = zclock_mono ();
    //  Ticks come at least every quarter heartbeat. A much longer gap
    //  means this process did not run (SIGSTOP of the daemon, suspend,
    //  a long request): the broker's heartbeats are waiting unread in
    //  the socket, so its silence is ours. Reconnecting then would drop
    //  the requests the broker has in flight to us.
    if (self->last_tick && now - self->last_tick > IRH_HEARTBEAT_MS * IRH_HEARTBEAT_LIVENESS / 2)
        self->last_heard = now;
    self->last_tick = now;
    if (now - self->last_heard > IRH_HEARTBEAT_MS * IRH_HEARTBEAT_LIVENESS) {
        s_reconnect (self, "broker silent");
        now = zclock_mono ();
    }
    if (now - self->last_sent >= IRH_HEARTBEAT_MS && !self->refused)
        s_send_command (self, IRH_CMD_HEARTBEAT);
    int64_t next = self->refused ? IRH_HEARTBEAT_MS / 4
                                 : self->last_sent + IRH_HEARTBEAT_MS - now;
    if (next > IRH_HEARTBEAT_MS / 4)
        next = IRH_HEARTBEAT_MS / 4;
    return next < 1 ? 1 : (int) next;
}

//  Envelope of a reply: status frame already in body position 0.
static int
s_send_reply (irh_worker_t *self, irh_request_t *request, zmsg_t *payload)
{
    zmsg_t *msg = zmsg_new ();
    if (self->standalone) {
        zmsg_append (msg, &request->client);
        zmsg_addstr (msg, IRH_PROTO_CLIENT);
        zmsg_addstr (msg, self->service);
    }
    else {
        zmsg_addstr (msg, IRH_PROTO_WORKER);
        uint8_t cmd = IRH_CMD_REPLY;
        zmsg_addmem (msg, &cmd, 1);
        zmsg_append (msg, &request->client);
    }
    zmsg_append (msg, &request->rid);
    zframe_t *frame;
    while ((frame = zmsg_pop (payload)))
        zmsg_append (msg, &frame);
    zmsg_destroy (&payload);
    int rc = zmsg_send (&msg, self->sock);
    zmsg_destroy (&msg);
    if (rc == 0) {
        self->replies++;
        self->last_sent = zclock_mono ();
    }
    return rc;
}

int
irh_worker_reply (irh_worker_t *self, irh_request_t *request, zmsg_t **body_p)
{
    assert (self);
    assert (request && request->client && request->rid);
    zmsg_t *payload = zmsg_new ();
    zmsg_addstr (payload, IRH_STATUS_OK);
    if (body_p && *body_p) {
        zframe_t *frame;
        while ((frame = zmsg_pop (*body_p)))
            zmsg_append (payload, &frame);
        zmsg_destroy (body_p);
    }
    return s_send_reply (self, request, payload);
}

int
irh_worker_error (irh_worker_t *self, irh_request_t *request, const char *code,
                  const char *format, ...)
{
    assert (self);
    assert (request && request->client && request->rid);
    assert (code);
    char text [IRH_ERROR_TEXT_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    zmsg_t *payload = zmsg_new ();
    zmsg_addstr (payload, IRH_STATUS_ERR);
    zmsg_addstr (payload, code);
    zmsg_addstr (payload, text);
    return s_send_reply (self, request, payload);
}

uint64_t
irh_worker_malformed (irh_worker_t *self)
{
    assert (self);
    return self->malformed;
}

bool
irh_worker_refused (irh_worker_t *self)
{
    assert (self);
    return self->refused;
}

void
irh_request_destroy (irh_request_t **self_p)
{
    assert (self_p);
    irh_request_t *self = *self_p;
    if (self) {
        zframe_destroy (&self->client);
        zframe_destroy (&self->rid);
        zmsg_destroy (&self->body);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Self test: a standalone worker and a raw DEALER client, then a worker
//  in broker mode against a hand-driven ROUTER playing the broker.

static zmsg_t *
s_recv_timeout (zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    return which ? zmsg_recv (sock) : NULL;
}

static irh_request_t *
s_wait_request (irh_worker_t *worker, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        zpoller_t *poller = zpoller_new (irh_worker_sock (worker), NULL);
        void *which = zpoller_wait (poller, 50);
        zpoller_destroy (&poller);
        if (which) {
            irh_request_t *request = irh_worker_recv (worker);
            if (request)
                return request;
        }
    }
    return NULL;
}

void
irh_worker_test (bool verbose)
{
    if (verbose)
        printf (" * irh_worker: ");

    //  Standalone: out-of-order replies
    irh_worker_t *worker = irh_worker_new ("echo", NULL, "inproc://irh-worker-test");
    assert (worker);
    zsock_t *client = zsock_new_dealer (">inproc://irh-worker-test");
    assert (client);
    const char *rids [] = { "a", "b", "c" };
    for (int i = 0; i < 3; i++)
        zsock_send (client, "ssss", "IRC1", "echo", rids [i], rids [i]);
    irh_request_t *requests [3];
    for (int i = 0; i < 3; i++) {
        requests [i] = s_wait_request (worker, 2000);
        assert (requests [i]);
        assert (zframe_streq (requests [i]->rid, rids [i]));
        assert (zmsg_size (requests [i]->body) == 1);
    }
    for (int i = 2; i >= 0; i--) {
        zmsg_t *body = zmsg_dup (requests [i]->body);
        assert (irh_worker_reply (worker, requests [i], &body) == 0);
        assert (body == NULL);
        irh_request_destroy (&requests [i]);
    }
    for (int i = 2; i >= 0; i--) {
        zmsg_t *reply = s_recv_timeout (client, 2000);
        assert (reply && zmsg_size (reply) == 5);
        char *proto = zmsg_popstr (reply);
        char *service = zmsg_popstr (reply);
        char *rid = zmsg_popstr (reply);
        char *status = zmsg_popstr (reply);
        char *body = zmsg_popstr (reply);
        assert (streq (proto, "IRC1") && streq (service, "echo"));
        assert (streq (rid, rids [i]) && streq (status, "OK") && streq (body, rids [i]));
        zstr_free (&proto); zstr_free (&service); zstr_free (&rid);
        zstr_free (&status); zstr_free (&body);
        zmsg_destroy (&reply);
    }
    //  Malformed input: wrong version, short request, wrong service
    zsock_send (client, "sss", "XXXX", "echo", "r9");
    zsock_send (client, "ss", "IRC1", "echo");
    zsock_send (client, "ssss", "IRC1", "other", "r8", "x");
    const char *codes [] = { "version", "malformed", "unknown-service" };
    const char *reply_rids [] = { "r9", "?", "r8" };
    for (int i = 0; i < 3; i++) {
        assert (s_wait_request (worker, 200) == NULL);
        zmsg_t *reply = s_recv_timeout (client, 2000);
        assert (reply && zmsg_size (reply) == 6);
        zframe_t *frame = zmsg_first (reply);
        frame = zmsg_next (reply);
        frame = zmsg_next (reply);
        assert (zframe_streq (frame, reply_rids [i]));
        frame = zmsg_next (reply);
        assert (zframe_streq (frame, "ERR"));
        frame = zmsg_next (reply);
        assert (zframe_streq (frame, codes [i]));
        zmsg_destroy (&reply);
    }
    assert (irh_worker_malformed (worker) == 2);
    //  An error reply from the worker
    zsock_send (client, "ssss", "IRC1", "echo", "e1", "?");
    irh_request_t *request = s_wait_request (worker, 2000);
    assert (request);
    assert (irh_worker_error (worker, request, "bad-request", "no %s", "way") == 0);
    irh_request_destroy (&request);
    zmsg_t *reply = s_recv_timeout (client, 2000);
    assert (reply && zmsg_size (reply) == 6);
    zmsg_destroy (&reply);
    zsock_destroy (&client);
    irh_worker_destroy (&worker);

    //  Broker mode: READY, REQUEST/REPLY, garbage, DISCONNECT -> READY again
    zsock_t *broker = zsock_new_router ("@inproc://irh-worker-broker");
    assert (broker);
    worker = irh_worker_new ("echo", "inproc://irh-worker-broker", NULL);
    assert (worker);
    zmsg_t *msg = s_recv_timeout (broker, 2000);
    assert (msg && zmsg_size (msg) == 5);
    zframe_t *identity = zmsg_pop (msg);
    char *proto = zmsg_popstr (msg);
    assert (streq (proto, "IRW1"));
    zstr_free (&proto);
    zframe_t *cmd = zmsg_pop (msg);
    assert (zframe_size (cmd) == 1 && zframe_data (cmd) [0] == IRH_CMD_READY);
    zframe_destroy (&cmd);
    zmsg_destroy (&msg);

    uint8_t request_cmd = IRH_CMD_REQUEST;
    msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (msg, "IRW1");
    zmsg_addmem (msg, &request_cmd, 1);
    zmsg_addstr (msg, "CLIENT");
    zmsg_addstr (msg, "rid1");
    zmsg_addstr (msg, "hello");
    zmsg_send (&msg, broker);
    request = s_wait_request (worker, 2000);
    assert (request && zframe_streq (request->client, "CLIENT"));
    assert (zframe_streq (request->rid, "rid1"));
    zmsg_t *body = zmsg_new ();
    zmsg_addstr (body, "world");
    assert (irh_worker_reply (worker, request, &body) == 0);
    irh_request_destroy (&request);
    msg = s_recv_timeout (broker, 2000);
    assert (msg && zmsg_size (msg) == 7);
    zframe_t *frame = zmsg_first (msg);
    for (int i = 0; i < 3; i++)
        frame = zmsg_next (msg);
    assert (zframe_streq (frame, "CLIENT"));
    frame = zmsg_last (msg);
    assert (zframe_streq (frame, "world"));
    zmsg_destroy (&msg);

    //  Garbage from the "broker" is counted, not fatal
    msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (msg, "junk");
    zmsg_send (&msg, broker);
    assert (s_wait_request (worker, 200) == NULL);
    assert (irh_worker_malformed (worker) == 1);

    //  DISCONNECT makes the worker register again
    uint8_t disconnect = IRH_CMD_DISCONNECT;
    msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (msg, "IRW1");
    zmsg_addmem (msg, &disconnect, 1);
    zmsg_send (&msg, broker);
    assert (s_wait_request (worker, 200) == NULL);
    msg = s_recv_timeout (broker, 2000);
    assert (msg && zmsg_size (msg) == 5);
    frame = zmsg_first (msg);
    frame = zmsg_next (msg);
    frame = zmsg_next (msg);
    assert (zframe_size (frame) == 1 && zframe_data (frame) [0] == IRH_CMD_READY);
    zframe_destroy (&identity);
    identity = zmsg_pop (msg);              //  a new connection, a new routing id
    zmsg_destroy (&msg);
    assert (irh_worker_tick (worker) > 0);

    //  REFUSED: logged, no heartbeats and no reconnect loop until a
    //  liveness period has passed
    uint8_t refused = IRH_CMD_REFUSED;
    msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (msg, "IRW1");
    zmsg_addmem (msg, &refused, 1);
    zmsg_addstr (msg, "test refusal");
    zmsg_send (&msg, broker);
    assert (s_wait_request (worker, 200) == NULL);
    assert (irh_worker_refused (worker));
    zclock_sleep (IRH_HEARTBEAT_MS + 100);
    irh_worker_tick (worker);
    assert (s_recv_timeout (broker, 100) == NULL);
    zframe_destroy (&identity);
    irh_worker_destroy (&worker);

    //  A token set for the process goes out with READY
    irh_worker_set_token ("00ff");
    worker = irh_worker_new ("echo", "inproc://irh-worker-broker", NULL);
    assert (worker);
    msg = s_recv_timeout (broker, 2000);
    while (msg && zmsg_size (msg) != 6) {
        zmsg_destroy (&msg);                //  the old worker's DISCONNECT
        msg = s_recv_timeout (broker, 2000);
    }
    assert (msg);
    assert (zframe_streq (zmsg_last (msg), "00ff"));
    identity = zmsg_pop (msg);
    zmsg_destroy (&msg);
    irh_worker_set_token (NULL);

    zframe_destroy (&identity);
    irh_worker_destroy (&worker);
    zsock_destroy (&broker);
    if (verbose)
        printf ("OK\n");
}
