//  Tests of the gossip actor's asynchronous layers on real sockets, in one
//  process and one zloop (actors/gossip/gossip_calls.c, gossip_xfer.c):
//
//  - gossip_calls against a real worker: answers, errors, a timeout and a
//    cancelled call each reach their callback exactly as promised (once,
//    or never for the cancelled one);
//  - gossip_xfer between two nodes over TCP + CURVE on 127.0.0.1: a request
//    and its answer (the asker is known by its CURVE key), a timeout and
//    the late answer after it (dropped, counted), a cancelled request, a
//    forgotten peer failing its requests at once, a digest pushed and
//    pushed back, and garbage or a stray answer on the ROUTER dropped and
//    counted. The process answers ZAP itself, as gossip_link.c does.
#include "gossip_data.h"
#include "gossip_wire.h"
#include "irh_digest.h"
#include "irh_worker.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  Driving the loop

typedef bool (s_done_fn) (void *arg);
typedef struct {
    s_done_fn *done;
    void *arg;
    int64_t deadline;
} s_until_t;

static int
s_until_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_until_t *until = (s_until_t *) arg;
    return until->done (until->arg) || zclock_mono () > until->deadline ? -1 : 0;
}

//  Run the loop until done (true) or timeout_ms (false).
static bool
s_run_until (zloop_t *loop, s_done_fn *done, void *arg, int timeout_ms)
{
    s_until_t until = { done, arg, zclock_mono () + timeout_ms };
    int timer = zloop_timer (loop, 5, 0, s_until_tick, &until);
    zloop_start (loop);
    zloop_timer_end (loop, timer);
    return done (arg);
}

static bool s_never (void *arg) { (void) arg; return false; }

static uint64_t
s_stat (gossip_xfer_t *xfer, gossip_calls_t *calls, const char *name)
{
    irh_table_t *table = irh_table_new ("name:s\tvalue:u");
    if (xfer)
        gossip_xfer_stats (xfer, table);
    if (calls)
        gossip_calls_stats (calls, table);
    uint64_t value = UINT64_MAX;
    for (size_t row = 0; row < irh_table_rows (table); row++)
        if (strcmp (irh_table_get (table, row, "name"), name) == 0)
            value = strtoull (irh_table_get (table, row, "value"), NULL, 10);
    irh_table_destroy (&table);
    assert (value != UINT64_MAX);
    return value;
}

//  ---------------------------------------------------------------------
//  gossip_calls

typedef struct {
    int called, rc;
    char code [40];
    char body [32];
} s_call_result_t;

static void
s_on_call (void *arg, int rc, zmsg_t *body, const char *code)
{
    s_call_result_t *result = (s_call_result_t *) arg;
    result->called++;
    result->rc = rc;
    snprintf (result->code, sizeof result->code, "%s", code ? code : "");
    char *text = body ? zmsg_popstr (body) : NULL;
    snprintf (result->body, sizeof result->body, "%s", text ? text : "");
    zstr_free (&text);
}

//  The worker: "answer" is echoed, "error" fails, "never" is never answered.
static int
s_on_worker (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    irh_worker_t *worker = (irh_worker_t *) arg;
    irh_request_t *request = irh_worker_recv (worker);
    if (!request)
        return 0;
    if (zframe_streq (zmsg_first (request->body), "answer")) {
        zmsg_t *body = zmsg_dup (request->body);
        irh_worker_reply (worker, request, &body);
    }
    else
    if (zframe_streq (zmsg_first (request->body), "error"))
        irh_worker_error (worker, request, "not-found", "no such thing");
    irh_request_destroy (&request);
    return 0;
}

static bool
s_calls_done (void *arg)
{
    s_call_result_t *r = (s_call_result_t *) arg;
    return r [0].called && r [1].called && r [2].called;
}

static void
s_test_calls (void)
{
    zloop_t *loop = zloop_new ();
    irh_worker_t *worker = irh_worker_new ("echo", NULL, "inproc://test-gossip-calls");
    assert (worker);
    zloop_reader (loop, irh_worker_sock (worker), s_on_worker, worker);
    gossip_calls_t *calls = gossip_calls_new ("inproc://test-gossip-calls", loop);
    assert (calls);
    s_call_result_t results [4];
    memset (results, 0, sizeof results);
    const char *bodies [] = { "answer", "error", "never", "answer" };
    for (int i = 0; i < 4; i++) {
        zmsg_t *body = zmsg_new ();
        zmsg_addstr (body, bodies [i]);
        assert (gossip_calls_send (calls, "echo", &body, i == 2 ? 200 : 5000, s_on_call,
                                   &results [i]) == 0);
        assert (body == NULL);
    }
    assert (gossip_calls_pending (calls) == 4);
    gossip_calls_cancel (calls, &results [3]);
    assert (gossip_calls_pending (calls) == 3);
    assert (s_run_until (loop, s_calls_done, results, 5000));
    s_run_until (loop, s_never, NULL, 100);       //  anything more would show now
    assert (results [0].called == 1 && results [0].rc == 0);
    assert (strcmp (results [0].body, "answer") == 0);
    assert (results [1].called == 1 && results [1].rc == -1);
    assert (strcmp (results [1].code, "not-found") == 0);
    assert (results [2].called == 1 && results [2].rc == -1);
    assert (strcmp (results [2].code, "timeout") == 0);
    assert (results [3].called == 0);               //  cancelled: never called
    assert (gossip_calls_pending (calls) == 0);
    assert (s_stat (NULL, calls, "calls_timeouts") == 1);
    assert (s_stat (NULL, calls, "calls_answered") == 1);
    gossip_calls_destroy (&calls);
    assert (calls == NULL);
    irh_worker_destroy (&worker);
    zloop_destroy (&loop);
}

//  ---------------------------------------------------------------------
//  gossip_xfer

//  ZAP (RFC 27): any CURVE key, which becomes the user id (Z85).
static int
s_on_zap (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) arg;
    zmsg_t *request = zmsg_recv (reader);
    if (!request)
        return 0;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    for (int i = 0; i < 3; i++)
        free (zmsg_popstr (request));   //  domain, address, identity
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);
    char user [41] = "";
    bool ok = mechanism && streq (mechanism, "CURVE") && key && zframe_size (key) == 32
           && zmq_z85_encode (user, zframe_data (key), 32);
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, ok ? "200" : "400");
    zmsg_addstr (reply, ok ? "OK" : "CURVE only");
    zmsg_addstr (reply, ok ? user : "");
    zmsg_addmem (reply, "", 0);
    zmsg_send (&reply, reader);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&mechanism);
    zframe_destroy (&key);
    zmsg_destroy (&request);
    return 0;
}

enum { S_ANSWER, S_HOLD };

typedef struct {
    gossip_xfer_t *xfer;
    irh_identity_t *identity;
    char home [64];
    char address [64];          //  its gossip address (data port = + 2)
    int mode;                   //  S_ANSWER or S_HOLD (keep the route to answer later)
    int messages;               //  on_message calls
    int last_id;
    bool last_routed;
    uint8_t last_from [32];
    zframe_t *held_route;
    uint32_t held_req;
} s_node_t;

static void
s_on_message (void *arg, const uint8_t *from, zframe_t *route, int id, zframe_t *frame)
{
    s_node_t *node = (s_node_t *) arg;
    node->messages++;
    node->last_id = id;
    node->last_routed = route != NULL;
    memcpy (node->last_from, from, 32);
    if (id == IRH_MSG_PEER_MANIFEST_WANT) {
        irh_peer_manifest_want_t want;
        assert (irh_peer_manifest_want_decode (frame, &want) == 0);
        if (node->mode == S_HOLD) {
            zframe_destroy (&node->held_route);
            node->held_route = zframe_dup (route);
            node->held_req = want.req;
            return;
        }
        irh_peer_manifest_t answer = { .req = want.req, .status = 1 };
        memcpy (answer.key, want.key, 32);
        zframe_t *reply = irh_peer_manifest_encode (&answer);
        assert (gossip_xfer_reply (node->xfer, route, &reply) == 0);
    }
    else
    if (id == IRH_MSG_PEER_DIGEST_FULL && route) {
        zframe_t *back = zframe_dup (frame);         //  push it back on its route
        assert (gossip_xfer_reply (node->xfer, route, &back) == 0);
    }
}

//  Answer the held request now (late, or after a cancel).
static void
s_answer_held (s_node_t *node)
{
    assert (node->held_route);
    irh_peer_manifest_t answer = { .req = node->held_req, .status = 1 };
    zframe_t *reply = irh_peer_manifest_encode (&answer);
    assert (gossip_xfer_reply (node->xfer, node->held_route, &reply) == 0);
    zframe_destroy (&node->held_route);
}

static void
s_node_new (s_node_t *node, zloop_t *loop)
{
    memset (node, 0, sizeof *node);
    snprintf (node->home, sizeof node->home, "/tmp/test-gossip-xfer-XXXXXX");
    assert (mkdtemp (node->home));
    char *err = NULL;
    node->identity = irh_identity_load_or_create (node->home, &err);
    assert (node->identity);
    //  A free port pair: the data socket binds gossip port + 2 exactly.
    for (int attempt = 0; attempt < 50 && !node->xfer; attempt++) {
        int port = 20000 + (int) randof (40000);
        node->xfer = gossip_xfer_new (node->identity, "tcp://127.0.0.1:0", port, loop,
                                      s_on_message, node);
        snprintf (node->address, sizeof node->address, "tcp://127.0.0.1:%d", port);
    }
    assert (node->xfer);
    assert (gossip_xfer_port (node->xfer) == atoi (strrchr (node->address, ':') + 1) + 2);
}

static void
s_node_destroy (s_node_t *node)
{
    gossip_xfer_destroy (&node->xfer);
    assert (node->xfer == NULL);
    zframe_destroy (&node->held_route);
    irh_identity_destroy (&node->identity);
    zdir_t *dir = zdir_new (node->home, NULL);
    if (dir)
        zdir_remove (dir, true);
    zdir_destroy (&dir);
}

typedef struct {
    int called, nulls;
    uint32_t req;
    uint8_t status;
    uint8_t peer [32];
} s_answer_t;

static void
s_on_answer (void *arg, const uint8_t *peer, zframe_t *answer)
{
    s_answer_t *a = (s_answer_t *) arg;
    a->called++;
    memcpy (a->peer, peer, 32);
    if (!answer) {
        a->nulls++;
        return;
    }
    irh_peer_manifest_t m;
    assert (irh_peer_manifest_decode (answer, &m) == 0);
    a->req = m.req;
    a->status = m.status;
}

static bool s_answered (void *arg) { return ((s_answer_t *) arg)->called > 0; }
static bool s_got_message (void *arg) { return ((s_node_t *) arg)->messages > 0; }
static bool s_held (void *arg) { return ((s_node_t *) arg)->held_route != NULL; }

static uint32_t
s_ask (s_node_t *from, s_node_t *to, int timeout_ms, s_answer_t *answer)
{
    uint32_t req = gossip_xfer_next_req (from->xfer);
    irh_peer_manifest_want_t want = { .req = req };
    memset (want.key, 0x11, 32);
    snprintf (want.ns, sizeof want.ns, "test");
    zframe_t *frame = irh_peer_manifest_want_encode (&want);
    const uint8_t *to_key = irh_identity_curve_public (to->identity);
    assert (gossip_xfer_request (from->xfer, to_key, to->address, req, &frame, timeout_ms,
                                 s_on_answer, answer) == 0);
    assert (frame == NULL);
    return req;
}

typedef struct { s_node_t *node; uint64_t want; } s_counter_t;
static bool
s_bad_frames (void *arg)
{
    s_counter_t *c = (s_counter_t *) arg;
    return s_stat (c->node->xfer, NULL, "xfer_bad_frames") >= c->want;
}

static void
s_test_xfer (void)
{
    zloop_t *loop = zloop_new ();
    zsock_t *zap = zsock_new_rep ("inproc://zeromq.zap.01");
    assert (zap);
    zloop_reader (loop, zap, s_on_zap, NULL);
    s_node_t a, b;
    s_node_new (&a, loop);
    s_node_new (&b, loop);
    const uint8_t *a_key = irh_identity_curve_public (a.identity);
    const uint8_t *b_key = irh_identity_curve_public (b.identity);

    //  A request and its answer; the asker is its CURVE key.
    s_answer_t answer = { 0 };
    uint32_t req = s_ask (&b, &a, 5000, &answer);
    assert (s_run_until (loop, s_answered, &answer, 5000));
    assert (answer.called == 1 && answer.nulls == 0 && answer.req == req);
    assert (answer.status == 1 && memcmp (answer.peer, a_key, 32) == 0);
    assert (a.last_id == IRH_MSG_PEER_MANIFEST_WANT && a.last_routed);
    assert (memcmp (a.last_from, b_key, 32) == 0);
    assert (s_stat (b.xfer, NULL, "xfer_answers") == 1);
    assert (s_stat (a.xfer, NULL, "xfer_requests_in") == 1);

    //  A timeout, then the late answer: dropped and counted.
    a.mode = S_HOLD;
    memset (&answer, 0, sizeof answer);
    s_ask (&b, &a, 150, &answer);
    assert (s_run_until (loop, s_answered, &answer, 5000));
    assert (answer.called == 1 && answer.nulls == 1);
    assert (s_run_until (loop, s_held, &a, 5000));
    s_answer_held (&a);
    s_run_until (loop, s_never, NULL, 200);
    assert (answer.called == 1);
    assert (s_stat (b.xfer, NULL, "xfer_timeouts") == 1);
    assert (s_stat (b.xfer, NULL, "xfer_late") == 1);

    //  Cancelled: the answer comes, the callback never runs.
    memset (&answer, 0, sizeof answer);
    s_ask (&b, &a, 5000, &answer);
    gossip_xfer_cancel (b.xfer, &answer);
    assert (s_run_until (loop, s_held, &a, 5000));
    s_answer_held (&a);
    s_run_until (loop, s_never, NULL, 200);
    assert (answer.called == 0);
    assert (s_stat (b.xfer, NULL, "xfer_pending") == 0);

    //  Forgotten peer: its pending requests fail at once, its link closes.
    memset (&answer, 0, sizeof answer);
    s_ask (&b, &a, 60000, &answer);
    assert (s_run_until (loop, s_held, &a, 5000));
    zframe_destroy (&a.held_route);
    uint64_t closed = s_stat (b.xfer, NULL, "xfer_links_closed");
    gossip_xfer_forget (b.xfer, a_key);
    assert (answer.called == 1 && answer.nulls == 1);
    assert (s_stat (b.xfer, NULL, "xfer_links_closed") == closed + 1);
    assert (s_stat (b.xfer, NULL, "xfer_links_open") == 0);

    //  A digest pushed to A, and pushed back on its route: B gets it as a
    //  message from A without a route (it cannot be answered there).
    a.mode = S_ANSWER;
    a.messages = b.messages = 0;
    irh_digest_t *digest = irh_digest_new (1024);
    uint8_t key [32] = { 7 };
    irh_digest_add (digest, key);
    zframe_t *full = irh_digest_encode_full (digest, "test");
    irh_digest_destroy (&digest);
    assert (gossip_xfer_push (b.xfer, a_key, a.address, &full) == 0 && full == NULL);
    assert (s_run_until (loop, s_got_message, &b, 5000));
    assert (a.messages == 1 && a.last_id == IRH_MSG_PEER_DIGEST_FULL && a.last_routed);
    assert (b.last_id == IRH_MSG_PEER_DIGEST_FULL && !b.last_routed);
    assert (memcmp (b.last_from, a_key, 32) == 0);
    assert (s_stat (b.xfer, NULL, "xfer_pushes_in") == 1);

    //  A bad address: nothing sent, no callback.
    zframe_t *frame = irh_peer_digests_want_encode (&(irh_peer_digests_want_t) { 0 });
    assert (gossip_xfer_request (b.xfer, a_key, "tcp://127.0.0.1:65535", 1, &frame, 100,
                                 s_on_answer, &answer) == -1 && frame == NULL);

    //  Garbage and a stray answer from a CURVE client of A's data socket:
    //  dropped and counted, never delivered.
    a.messages = 0;
    zcert_t *cert = zcert_new ();
    zsock_t *raw = zsock_new (ZMQ_DEALER);
    zcert_apply (cert, raw);
    zsock_set_curve_serverkey_bin (raw, a_key);
    assert (zsock_connect (raw, "tcp://127.0.0.1:%d", gossip_xfer_port (a.xfer)) == 0);
    zstr_send (raw, "garbage");
    irh_peer_manifest_t stray = { .req = 1 };
    zframe_t *stray_frame = irh_peer_manifest_encode (&stray);
    zframe_send (&stray_frame, raw, 0);
    uint8_t truncated [] = { IRH_MSG_PEER_READ_WANT, 0, 0 };
    zframe_t *cut = zframe_new (truncated, sizeof truncated);
    zframe_send (&cut, raw, 0);
    s_counter_t counter = { &a, s_stat (a.xfer, NULL, "xfer_bad_frames") + 3 };
    assert (s_run_until (loop, s_bad_frames, &counter, 5000));
    assert (a.messages == 0);
    zsock_destroy (&raw);
    zcert_destroy (&cert);

    s_node_destroy (&a);
    s_node_destroy (&b);
    zsock_destroy (&zap);
    zloop_destroy (&loop);
}

int
main (void)
{
    zsys_init ();
    s_test_calls ();
    s_test_xfer ();
    printf ("test_gossip_xfer: OK\n");
    return 0;
}
