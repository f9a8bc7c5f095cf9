/*  irh_client.c: the client side of the broker envelope (IRC1).

    A DEALER connected to a broker or a standalone actor. Requests carry a
    generated rid; replies may come back in any order, so a reply for a rid
    other than the one being waited for is kept until asked for. Only rids
    that are still outstanding are kept: a late reply to a request that
    already timed out is dropped, so the buffer cannot grow without bound.
*/
#include "irh_client.h"
#include "irh_envelope.h"
#include "irh_log.h"
#include <assert.h>
#include <string.h>
#include <unistd.h>

struct _irh_client_t {
    zsock_t *sock;
    zhashx_t *outstanding;      //  rid -> zmsg_t * (reply frames after rid) or sentinel
    uint64_t sequence;
    char prefix [12];           //  makes rids of different clients differ in logs
    char rid [IRH_RID_MAX + 1];
    char error_code [40];
    char error_text [IRH_ERROR_TEXT_MAX];
    uint64_t malformed;
};

//  Value stored for a rid that has no reply yet.
static char s_pending;
#define PENDING ((void *) &s_pending)


irh_client_t *
irh_client_new (const char *endpoint)
{
    assert (endpoint);
    irh_client_t *self = (irh_client_t *) zmalloc (sizeof (irh_client_t));
    assert (self);
    self->sock = zsock_new (ZMQ_DEALER);
    assert (self->sock);
    zsock_set_linger (self->sock, 0);
    zsock_set_sndhwm (self->sock, 0);
    zsock_set_rcvhwm (self->sock, 0);
    if (zsock_connect (self->sock, "%s", endpoint) == -1) {
        irh_error ("client: cannot connect to %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->sock);
        free (self);
        return NULL;
    }
    //  No destructor: values are either PENDING or a reply we own.
    self->outstanding = zhashx_new ();
    snprintf (self->prefix, sizeof self->prefix, "%x.", (unsigned) (getpid () ^ randof (0x7fffffff)));
    return self;
}

void
irh_client_destroy (irh_client_t **self_p)
{
    assert (self_p);
    irh_client_t *self = *self_p;
    if (self) {
        for (void *item = zhashx_first (self->outstanding); item;
             item = zhashx_next (self->outstanding))
            if (item != PENDING) {
                zmsg_t *msg = (zmsg_t *) item;
                zmsg_destroy (&msg);
            }
        zhashx_destroy (&self->outstanding);
        zsock_destroy (&self->sock);
        free (self);
        *self_p = NULL;
    }
}

static int
s_fail (irh_client_t *self, const char *code, const char *format, ...)
{
    snprintf (self->error_code, sizeof self->error_code, "%s", code);
    va_list args;
    va_start (args, format);
    vsnprintf (self->error_text, sizeof self->error_text, format, args);
    va_end (args);
    return -1;
}

int
irh_client_send (irh_client_t *self, const char *service, zmsg_t **body_p,
                 const char **rid_out)
{
    assert (self);
    assert (service);
    assert (body_p && *body_p);
    snprintf (self->rid, sizeof self->rid, "%s%llx", self->prefix,
              (unsigned long long) ++self->sequence);
    zmsg_t *msg = *body_p;
    *body_p = NULL;
    zmsg_pushstr (msg, self->rid);
    zmsg_pushstr (msg, service);
    zmsg_pushstr (msg, IRH_PROTO_CLIENT);
    if (zmsg_send (&msg, self->sock) == -1) {
        zmsg_destroy (&msg);
        return s_fail (self, "internal", "send failed: %s", zmq_strerror (zmq_errno ()));
    }
    zhashx_insert (self->outstanding, self->rid, PENDING);
    if (rid_out)
        *rid_out = self->rid;
    return 0;
}

//  Turn a stored reply (status frame first) into the result of recv.
static int
s_complete (irh_client_t *self, zmsg_t *reply, zmsg_t **reply_p)
{
    char *status = zmsg_popstr (reply);
    int rc;
    if (streq (status, IRH_STATUS_OK)) {
        if (reply_p)
            *reply_p = reply;
        else
            zmsg_destroy (&reply);
        reply = NULL;
        rc = 0;
    }
    else {
        char *code = zmsg_popstr (reply);
        char *text = zmsg_popstr (reply);
        rc = s_fail (self, code ? code : "internal", "%s", text ? text : "");
        zstr_free (&code);
        zstr_free (&text);
    }
    zstr_free (&status);
    zmsg_destroy (&reply);
    return rc;
}

//  Read one message from the socket and file it under its rid. Malformed
//  replies and replies for rids we do not wait for are dropped.
static void
s_receive_one (irh_client_t *self)
{
    zmsg_t *msg = zmsg_recv (self->sock);
    if (!msg)
        return;
    irh_frame_view_t views [8];
    size_t count = irh_envelope_views (msg, views, 8);
    irh_envelope_t env;
    if (irh_envelope_decode_reply (views, count, &env) == -1) {
        self->malformed++;
        irh_debug ("client: dropped malformed reply: %s", env.error_text);
        zmsg_destroy (&msg);
        return;
    }
    char rid [IRH_RID_MAX + 1];
    memcpy (rid, env.rid.data, env.rid.size);
    rid [env.rid.size] = 0;
    if (strlen (rid) != env.rid.size || zhashx_lookup (self->outstanding, rid) != PENDING) {
        irh_debug ("client: dropped reply for a rid not waited for");
        zmsg_destroy (&msg);
        return;
    }
    for (int i = 0; i < 3; i++) {
        zframe_t *frame = zmsg_pop (msg);
        zframe_destroy (&frame);
    }
    zhashx_update (self->outstanding, rid, msg);
}

int
irh_client_recv (irh_client_t *self, const char *rid, int timeout_ms, zmsg_t **reply_p)
{
    assert (self);
    assert (rid);
    if (reply_p)
        *reply_p = NULL;
    void *item = zhashx_lookup (self->outstanding, rid);
    if (!item)
        return s_fail (self, "internal", "no request with rid %s is outstanding", rid);
    int64_t deadline = zclock_mono () + timeout_ms;
    while (item == PENDING) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            zhashx_delete (self->outstanding, rid);
            return s_fail (self, "timeout", "no reply within %d ms", timeout_ms);
        }
        zmq_pollitem_t items [] = { { zsock_resolve (self->sock), 0, ZMQ_POLLIN, 0 } };
        int rc = zmq_poll (items, 1, (long) left);
        if (rc == -1 && zmq_errno () != EINTR) {
            zhashx_delete (self->outstanding, rid);
            return s_fail (self, "internal", "poll failed: %s", zmq_strerror (zmq_errno ()));
        }
        while (zsock_events (self->sock) & ZMQ_POLLIN)
            s_receive_one (self);
        item = zhashx_lookup (self->outstanding, rid);
        assert (item);
    }
    zmsg_t *reply = (zmsg_t *) item;
    zhashx_delete (self->outstanding, rid);
    return s_complete (self, reply, reply_p);
}

int
irh_client_try_recv (irh_client_t *self, const char *rid, zmsg_t **reply_p)
{
    assert (self);
    assert (rid);
    if (reply_p)
        *reply_p = NULL;
    if (!zhashx_lookup (self->outstanding, rid))
        return s_fail (self, "internal", "no request with rid %s is outstanding", rid);
    while (zsock_events (self->sock) & ZMQ_POLLIN)
        s_receive_one (self);
    void *item = zhashx_lookup (self->outstanding, rid);
    assert (item);
    if (item == PENDING)
        return 1;
    zhashx_delete (self->outstanding, rid);
    return s_complete (self, (zmsg_t *) item, reply_p);
}

int
irh_client_call (irh_client_t *self, const char *service, zmsg_t **body_p,
                 int timeout_ms, zmsg_t **reply_p)
{
    const char *rid;
    if (irh_client_send (self, service, body_p, &rid))
        return -1;
    char copy [IRH_RID_MAX + 1];
    snprintf (copy, sizeof copy, "%s", rid);
    return irh_client_recv (self, copy, timeout_ms, reply_p);
}

const char *
irh_client_error_code (irh_client_t *self)
{
    assert (self);
    return self->error_code;
}

const char *
irh_client_error_text (irh_client_t *self)
{
    assert (self);
    return self->error_text;
}

zsock_t *
irh_client_sock (irh_client_t *self)
{
    assert (self);
    return self->sock;
}

//  --------------------------------------------------------------------------
//  Self test: client against a standalone irh_worker over inproc; replies
//  out of order, an ERR, garbage from the server side, a timeout.

#include "irh_worker.h"

static irh_request_t *
s_next_request (irh_worker_t *worker)
{
    int64_t deadline = zclock_mono () + 2000;
    while (zclock_mono () < deadline) {
        zpoller_t *poller = zpoller_new (irh_worker_sock (worker), NULL);
        void *which = zpoller_wait (poller, 50);
        zpoller_destroy (&poller);
        irh_request_t *request = which ? irh_worker_recv (worker) : NULL;
        if (request)
            return request;
    }
    return NULL;
}

void
irh_client_test (bool verbose)
{
    if (verbose)
        printf (" * irh_client: ");
    irh_worker_t *worker = irh_worker_new ("echo", NULL, "inproc://irh-client-test");
    assert (worker);
    irh_client_t *client = irh_client_new ("inproc://irh-client-test");
    assert (client);

    //  Ten requests in flight, answered in reverse order, collected in order
    char rids [10][IRH_RID_MAX + 1];
    for (int i = 0; i < 10; i++) {
        zmsg_t *body = zmsg_new ();
        zmsg_addstrf (body, "body-%d", i);
        const char *rid;
        assert (irh_client_send (client, "echo", &body, &rid) == 0);
        assert (body == NULL);
        snprintf (rids [i], sizeof rids [i], "%s", rid);
    }
    irh_request_t *requests [10];
    for (int i = 0; i < 10; i++) {
        requests [i] = s_next_request (worker);
        assert (requests [i]);
    }
    for (int i = 9; i >= 0; i--) {
        if (i == 5)
            assert (irh_worker_error (worker, requests [i], "not-found", "no %d", i) == 0);
        else {
            zmsg_t *body = zmsg_dup (requests [i]->body);
            assert (irh_worker_reply (worker, requests [i], &body) == 0);
        }
        irh_request_destroy (&requests [i]);
    }
    for (int i = 0; i < 10; i++) {
        zmsg_t *reply = NULL;
        int rc = irh_client_recv (client, rids [i], 2000, &reply);
        if (i == 5) {
            assert (rc == -1 && reply == NULL);
            assert (streq (irh_client_error_code (client), "not-found"));
            assert (streq (irh_client_error_text (client), "no 5"));
            continue;
        }
        assert (rc == 0 && reply && zmsg_size (reply) == 1);
        char *text = zmsg_popstr (reply);
        char expect [16];
        snprintf (expect, sizeof expect, "body-%d", i);
        assert (streq (text, expect));
        zstr_free (&text);
        zmsg_destroy (&reply);
    }
    //  Unknown rid
    assert (irh_client_recv (client, "nope", 10, NULL) == -1);

    //  Timeout, then the late reply is dropped
    zmsg_t *body = zmsg_new ();
    zmsg_addstr (body, "late");
    const char *rid;
    assert (irh_client_send (client, "echo", &body, &rid) == 0);
    char late [IRH_RID_MAX + 1];
    snprintf (late, sizeof late, "%s", rid);
    irh_request_t *request = s_next_request (worker);
    assert (request);
    assert (irh_client_recv (client, late, 50, NULL) == -1);
    assert (streq (irh_client_error_code (client), "timeout"));
    assert (irh_worker_reply (worker, request, NULL) == 0);
    irh_request_destroy (&request);

    //  Garbage and a reply without status from the server side are
    //  ignored; the next good reply still arrives.
    body = zmsg_new ();
    zmsg_addstr (body, "after");
    assert (irh_client_send (client, "echo", &body, &rid) == 0);
    snprintf (late, sizeof late, "%s", rid);
    request = s_next_request (worker);
    assert (request);
    zmsg_t *junk = zmsg_new ();
    zmsg_append (junk, &(zframe_t *) { zframe_dup (request->client) });
    zmsg_addstr (junk, "garbage");
    zmsg_send (&junk, irh_worker_sock (worker));
    junk = zmsg_new ();
    zmsg_append (junk, &(zframe_t *) { zframe_dup (request->client) });
    zmsg_addstr (junk, "IRC1");
    zmsg_addstr (junk, "echo");
    zmsg_addstr (junk, late);
    zmsg_addstr (junk, "MAYBE");
    zmsg_send (&junk, irh_worker_sock (worker));
    body = zmsg_new ();
    zmsg_addstr (body, "fine");
    assert (irh_worker_reply (worker, request, &body) == 0);
    irh_request_destroy (&request);
    zmsg_t *reply = NULL;
    assert (irh_client_recv (client, late, 2000, &reply) == 0);
    assert (zframe_streq (zmsg_first (reply), "fine"));
    zmsg_destroy (&reply);
    assert (client->malformed == 2);

    //  try_recv, as an event loop uses it: pending until the reply is
    //  there, then the reply once; an unknown rid is an error.
    body = zmsg_new ();
    zmsg_addstr (body, "later");
    assert (irh_client_send (client, "echo", &body, &rid) == 0);
    snprintf (late, sizeof late, "%s", rid);
    assert (irh_client_try_recv (client, late, &reply) == 1 && reply == NULL);
    request = s_next_request (worker);
    assert (request);
    body = zmsg_new ();
    zmsg_addstr (body, "now");
    assert (irh_worker_reply (worker, request, &body) == 0);
    irh_request_destroy (&request);
    int tries = 0;
    while (irh_client_try_recv (client, late, &reply) == 1 && tries++ < 200)
        zclock_sleep (10);
    assert (reply && zframe_streq (zmsg_first (reply), "now"));
    zmsg_destroy (&reply);
    assert (irh_client_try_recv (client, late, &reply) == -1);

    //  call() end to end through a tiny server loop is covered by the
    //  supervisor tests; here a call that nobody answers times out.
    body = zmsg_new ();
    zmsg_addstr (body, "x");
    assert (irh_client_call (client, "echo", &body, 50, &reply) == -1);
    assert (streq (irh_client_error_code (client), "timeout"));

    irh_client_destroy (&client);
    irh_worker_destroy (&worker);
    if (verbose)
        printf ("OK\n");
}
