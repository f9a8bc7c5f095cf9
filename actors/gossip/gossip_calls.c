/*  gossip_calls.c: asynchronous broker requests from the gossip actor
    (store, cap), many in flight, each answered by a callback
    (gossip_data.h).

    One irh_client (a DEALER to the broker) carries them all: the client
    buffers replies by rid, so the zloop reader drains the socket once and
    then collects the reply of every pending call that has one. That scan
    is O(pending) per wake-up; pending calls are capped (S_PENDING_MAX),
    so a stuck store costs a bounded scan, and a timer fails calls past
    their deadline with "timeout" so no callback is ever lost.
*/
#include "gossip_data.h"
#include "irh_client.h"
#include "irh_log.h"
#include <assert.h>
#include <string.h>

#define S_PENDING_MAX   4096        //  calls in flight at once
#define S_CHECK_MS      100         //  deadline resolution

typedef struct {
    char rid [IRH_RID_MAX + 1];
    gossip_call_fn *fn;
    void *arg;
    int64_t deadline;
} s_call_t;

struct _gossip_calls_t {
    irh_client_t *client;
    zloop_t *loop;
    zlistx_t *pending;          //  s_call_t *, oldest first
    int timer;
    bool dispatching;           //  inside s_collect: cancel marks, never frees
    s_call_t *snapshot [S_PENDING_MAX];     //  s_collect's scan (no allocation)
    uint64_t sent, answered, failed, timeouts, refused;
};

static void
s_call_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  Remove finished and cancelled calls (no callback runs here).
static void
s_prune (gossip_calls_t *self)
{
    s_call_t *call = (s_call_t *) zlistx_first (self->pending);
    while (call) {
        void *handle = zlistx_cursor (self->pending);
        s_call_t *next = (s_call_t *) zlistx_next (self->pending);
        if (!call->fn)
            zlistx_delete (self->pending, handle);
        call = next;
    }
}

static void
s_finish (gossip_calls_t *self, s_call_t *call, int rc, zmsg_t *body, const char *code)
{
    gossip_call_fn *fn = call->fn;
    void *arg = call->arg;
    call->fn = NULL;                //  marks it done: removed after the scan
    if (rc == 0)
        self->answered++;
    else
        self->failed++;
    if (fn)
        fn (arg, rc, body, code);
}

//  Deliver every reply that arrived (and, if expire, fail calls past their
//  deadline). Callbacks may send or cancel calls: the scan walks a
//  snapshot, cancelled calls are only marked, and the list is pruned after.
static void
s_collect (gossip_calls_t *self, bool expire)
{
    int64_t now = zclock_mono ();
    size_t count = 0;
    for (s_call_t *call = (s_call_t *) zlistx_first (self->pending);
         call && count < S_PENDING_MAX; call = (s_call_t *) zlistx_next (self->pending))
        self->snapshot [count++] = call;
    self->dispatching = true;
    for (size_t i = 0; i < count; i++) {
        s_call_t *call = self->snapshot [i];
        if (!call->fn)
            continue;               //  cancelled by an earlier callback
        zmsg_t *reply = NULL;
        int rc = irh_client_try_recv (self->client, call->rid, &reply);
        if (rc == 0)
            s_finish (self, call, 0, reply, NULL);
        else
        if (rc == -1) {
            char code [40];
            snprintf (code, sizeof code, "%s", irh_client_error_code (self->client));
            s_finish (self, call, -1, NULL, code);
        }
        else
        if (expire && now >= call->deadline) {
            irh_client_recv (self->client, call->rid, 0, NULL);     //  abandon it
            self->timeouts++;
            s_finish (self, call, -1, NULL, "timeout");
        }
        zmsg_destroy (&reply);
    }
    self->dispatching = false;
    s_prune (self);
}

static int
s_on_readable (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop; (void) reader;
    gossip_calls_t *self = (gossip_calls_t *) arg;
    if (zlistx_size (self->pending) == 0) {
        //  Nothing waited for (late answers to abandoned calls): drain.
        while (zsock_events (irh_client_sock (self->client)) & ZMQ_POLLIN) {
            zmsg_t *stale = zmsg_recv (irh_client_sock (self->client));
            zmsg_destroy (&stale);
        }
        return 0;
    }
    s_collect (self, false);
    return 0;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_calls_t *self = (gossip_calls_t *) arg;
    if (zlistx_size (self->pending))
        s_collect (self, true);
    return 0;
}

gossip_calls_t *
gossip_calls_new (const char *broker, zloop_t *loop)
{
    assert (broker && loop);
    gossip_calls_t *self = (gossip_calls_t *) zmalloc (sizeof (gossip_calls_t));
    assert (self);
    self->client = irh_client_new (broker);
    if (!self->client) {
        free (self);
        return NULL;
    }
    self->loop = loop;
    self->pending = zlistx_new ();
    zlistx_set_destructor (self->pending, s_call_free);
    zloop_reader (loop, irh_client_sock (self->client), s_on_readable, self);
    self->timer = zloop_timer (loop, S_CHECK_MS, 0, s_on_timer, self);
    return self;
}

void
gossip_calls_destroy (gossip_calls_t **self_p)
{
    assert (self_p);
    gossip_calls_t *self = *self_p;
    if (self) {
        zloop_reader_end (self->loop, irh_client_sock (self->client));
        zloop_timer_end (self->loop, self->timer);
        zlistx_destroy (&self->pending);        //  callbacks are not called
        irh_client_destroy (&self->client);
        free (self);
        *self_p = NULL;
    }
}

int
gossip_calls_send (gossip_calls_t *self, const char *service, zmsg_t **body_p, int timeout_ms,
                   gossip_call_fn *fn, void *arg)
{
    assert (self && service && body_p && *body_p && fn);
    if (zlistx_size (self->pending) >= S_PENDING_MAX) {
        self->refused++;
        zmsg_destroy (body_p);
        return -1;
    }
    const char *rid;
    if (irh_client_send (self->client, service, body_p, &rid) != 0) {
        self->refused++;
        zmsg_destroy (body_p);
        return -1;
    }
    s_call_t *call = (s_call_t *) zmalloc (sizeof (s_call_t));
    assert (call);
    snprintf (call->rid, sizeof call->rid, "%s", rid);
    call->fn = fn;
    call->arg = arg;
    call->deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 1);
    zlistx_add_end (self->pending, call);
    self->sent++;
    return 0;
}

void
gossip_calls_cancel (gossip_calls_t *self, void *arg)
{
    assert (self);
    for (s_call_t *call = (s_call_t *) zlistx_first (self->pending); call;
         call = (s_call_t *) zlistx_next (self->pending)) {
        if (call->fn && call->arg == arg) {
            irh_client_recv (self->client, call->rid, 0, NULL);     //  late reply dropped
            call->fn = NULL;
        }
    }
    if (!self->dispatching)
        s_prune (self);
}

size_t
gossip_calls_pending (gossip_calls_t *self)
{
    assert (self);
    size_t count = 0;
    for (s_call_t *call = (s_call_t *) zlistx_first (self->pending); call;
         call = (s_call_t *) zlistx_next (self->pending))
        count += call->fn != NULL;
    return count;
}

void
gossip_calls_stats (gossip_calls_t *self, irh_table_t *table)
{
    assert (self && table);
    struct { const char *name; uint64_t value; } rows [] = {
        { "calls_sent", self->sent }, { "calls_answered", self->answered },
        { "calls_failed", self->failed }, { "calls_timeouts", self->timeouts },
        { "calls_refused", self->refused }, { "calls_pending", gossip_calls_pending (self) },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, rows [i].name);
        irh_table_u64 (table, rows [i].value);
    }
}
