/*  broker.c: the broker inside irohds-daemon; see broker.h and
    proto/README.md §1 for the protocol.

    Data: workers by routing id (hex), services by name (each with a
    round-robin list of workers and a short queue for when its actor is
    restarting), and per worker the requests it holds (client id + rid), so
    that a worker that dies or goes silent gets its requests failed with
    actor-down at once instead of leaving clients to time out.

    Trust zones (trust.c) decide who may register a service and what a
    started actor may call; the broker asks them with the sender's pid,
    which libzmq reads from the kernel (SO_PEERCRED) for ipc:// peers.
*/
#include "broker.h"
#include "irh_envelope.h"
#include "irh_log.h"
#include "irh_table.h"
#include "trust.h"
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

//  Counters, in the order broker_stats shows them.
typedef enum {
    C_REQUESTS, C_REPLIES, C_INTERNAL, C_MALFORMED, C_VERSION, C_TOO_BIG,
    C_UNKNOWN_SERVICE, C_ACTOR_DOWN, C_OVERLOAD, C_QUEUED, C_WORKER_MALFORMED,
    C_WORKER_UNKNOWN, C_REPLY_UNKNOWN, C_WORKERS_READY, C_WORKERS_EXPIRED,
    C_WORKERS_DISCONNECTED, C_WORKERS_EXITED, C_DROPPED, C_INFLIGHT_MAX,
    C_REGISTER_REFUSED, C_FORBIDDEN, C_FIXED
} counter_t;
static const char *s_counter_names [] = {
    "requests", "replies", "internal_requests", "malformed", "version", "too_big",
    "unknown_service", "actor_down", "overload", "queued", "worker_malformed",
    "worker_unknown", "reply_unknown", "workers_ready", "workers_expired",
    "workers_disconnected", "workers_exited", "dropped", "overload_inflight",
    "register_refused", "forbidden"
};
#define COUNTERS_MAX 40

typedef struct {
    char *name;
    zlistx_t *workers;          //  worker_t * (not owned), round-robin order
    zlistx_t *queue;            //  queued_t * (owned)
    broker_handler_fn *handler; //  internal service
    void *handler_arg;
} service_t;

typedef struct {
    char *key;                  //  hex of the routing id
    zframe_t *identity;
    service_t *service;
    uint32_t pid;
    int64_t last_seen;
    int64_t last_sent;
    zhashx_t *outstanding;      //  "clienthex/ridhex" -> pending_t *
} worker_t;

typedef struct {
    zframe_t *client;
    zframe_t *rid;
    zmsg_t *body;               //  queued only
    int64_t deadline;           //  queued only
    broker_t *owner;            //  whose in-flight count this request holds
} pending_t;

struct _broker_t {
    zsock_t *router;
    uint64_t max_bytes;
    zhashx_t *workers;          //  key -> worker_t (owned)
    zhashx_t *services;         //  name -> service_t (owned)
    zhashx_t *pids;             //  "pid" -> int64_t * last seen (owned)
    broker_expect_fn *expect;
    void *expect_arg;
    irh_frame_view_t *views;
    zhashx_t *inflight;         //  client hex -> uint32_t requests held (malloc'd)
    trust_t *trust;             //  who may register, what actors may call
    zhashx_t *callers;          //  client hex -> trust_caller + 1 (cast), per connection
    uint32_t root_pid;          //  ours: processes below it are actors' (subreaper)
    int64_t next_trim;          //  zclock_mono of the next malloc_trim
    bool full_logged;           //  a full client queue was logged (once)
    uint64_t counters [COUNTERS_MAX];
    char *counter_names [COUNTERS_MAX];
    size_t ncounters;
};

static void s_inflight_add (broker_t *self, zframe_t *client, int delta);

static void
s_pending_destroy (pending_t **self_p)
{
    pending_t *self = *self_p;
    if (self) {
        if (self->owner)
            s_inflight_add (self->owner, self->client, -1);
        zframe_destroy (&self->client);
        zframe_destroy (&self->rid);
        zmsg_destroy (&self->body);
        free (self);
        *self_p = NULL;
    }
}

static void
s_pending_free (void **item)
{
    s_pending_destroy ((pending_t **) item);
}

static void
s_service_free (void **item)
{
    service_t *self = (service_t *) *item;
    if (self) {
        zlistx_destroy (&self->workers);
        zlistx_destroy (&self->queue);
        free (self->name);
        free (self);
        *item = NULL;
    }
}

static void
s_worker_free (void **item)
{
    worker_t *self = (worker_t *) *item;
    if (self) {
        zhashx_destroy (&self->outstanding);
        zframe_destroy (&self->identity);
        free (self->key);
        free (self);
        *item = NULL;
    }
}

broker_t *
broker_new (const char *endpoint, uint64_t max_bytes)
{
    assert (endpoint);
    broker_t *self = (broker_t *) zmalloc (sizeof (broker_t));
    assert (self);
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    //  Bounded queues: a client that sends without reading fills its own
    //  pipe, and then its replies are dropped (counted), instead of the
    //  daemon's memory growing without end. Mandatory routing with
    //  non-blocking sends (s_send) tells us when a pipe is full.
    zsock_set_sndhwm (self->router, BROKER_HWM);
    zsock_set_rcvhwm (self->router, BROKER_HWM);
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_linger (self->router, 1000);
    if (zsock_bind (self->router, "%s", endpoint) == -1) {
        irh_error ("broker: cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->router);
        free (self);
        return NULL;
    }
    self->max_bytes = max_bytes ? max_bytes : IRH_MESSAGE_MAX;
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, s_service_free);
    self->pids = zhashx_new ();
    zhashx_set_destructor (self->pids, (zhashx_destructor_fn *) zstr_free);
    self->inflight = zhashx_new ();
    zhashx_set_destructor (self->inflight, (zhashx_destructor_fn *) zstr_free);
    self->views = (irh_frame_view_t *) calloc (IRH_FRAMES_MAX, sizeof (irh_frame_view_t));
    assert (self->views);
    self->trust = trust_new ();
    self->callers = zhashx_new ();
    self->root_pid = (uint32_t) getpid ();
    for (size_t i = 0; i < C_FIXED; i++)
        self->counter_names [i] = strdup (s_counter_names [i]);
    self->ncounters = C_FIXED;
    return self;
}

void
broker_destroy (broker_t **self_p)
{
    assert (self_p);
    broker_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->workers);
        zhashx_destroy (&self->services);
        zhashx_destroy (&self->pids);
        zhashx_destroy (&self->inflight);   //  after every pending_t is gone
        zsock_destroy (&self->router);
        trust_destroy (&self->trust);
        zhashx_destroy (&self->callers);
        for (size_t i = 0; i < self->ncounters; i++)
            free (self->counter_names [i]);
        free (self->views);
        free (self);
        *self_p = NULL;
    }
}

zsock_t *
broker_sock (broker_t *self)
{
    assert (self);
    return self->router;
}

void
broker_set_expect (broker_t *self, broker_expect_fn *fn, void *arg)
{
    assert (self);
    self->expect = fn;
    self->expect_arg = arg;
}

static service_t *
s_service_require (broker_t *self, const char *name)
{
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    if (!service) {
        service = (service_t *) zmalloc (sizeof (service_t));
        assert (service);
        service->name = strdup (name);
        service->workers = zlistx_new ();
        service->queue = zlistx_new ();
        zlistx_set_destructor (service->queue, s_pending_free);
        zhashx_insert (self->services, name, service);
    }
    return service;
}

trust_t *
broker_trust (broker_t *self)
{
    assert (self);
    return self->trust;
}

void
broker_set_internal (broker_t *self, const char *service, broker_handler_fn *fn, void *arg)
{
    assert (self);
    service_t *entry = s_service_require (self, service);
    entry->handler = fn;
    entry->handler_arg = arg;
}

void
broker_count (broker_t *self, const char *name, uint64_t delta)
{
    assert (self);
    for (size_t i = 0; i < self->ncounters; i++)
        if (streq (self->counter_names [i], name)) {
            self->counters [i] += delta;
            return;
        }
    assert (self->ncounters < COUNTERS_MAX);
    self->counter_names [self->ncounters] = strdup (name);
    self->counters [self->ncounters++] = delta;
}

uint64_t
broker_counter (broker_t *self, const char *name)
{
    assert (self);
    for (size_t i = 0; i < self->ncounters; i++)
        if (streq (self->counter_names [i], name))
            return self->counters [i];
    return 0;
}

void
broker_stats_append (broker_t *self, zmsg_t *msg)
{
    assert (self);
    irh_table_t *table = irh_table_new ("name:s\tvalue:u");
    for (size_t i = 0; i < self->ncounters; i++) {
        irh_table_row (table);
        irh_table_str (table, self->counter_names [i]);
        irh_table_u64 (table, self->counters [i]);
    }
    irh_table_row (table);
    irh_table_str (table, "workers");
    irh_table_u64 (table, zhashx_size (self->workers));
    irh_table_append (table, msg);
    irh_table_destroy (&table);
}

//  --------------------------------------------------------------------------
//  Sending

//  Send msg (destroyed) without ever blocking: a peer whose pipe is full
//  (it does not read) or that is gone loses this message. Returns 0, or -1
//  with errno EAGAIN (pipe full) or EHOSTUNREACH (peer gone).
static int
s_send (broker_t *self, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    size_t left = zmsg_size (msg);
    int rc = 0;
    zframe_t *frame;
    while ((frame = zmsg_pop (msg))) {
        left--;
        int flags = ZFRAME_DONTWAIT | (left ? ZFRAME_MORE : 0);
        if (rc == 0 && zframe_send (&frame, self->router, flags) != 0) {
            rc = -1;
            int saved = errno;
            zframe_destroy (&frame);
            errno = saved;
            //  Mandatory routing fails on the first frame only, so no
            //  partial message is ever queued.
            break;
        }
    }
    int saved = errno;
    zmsg_destroy (msg_p);
    errno = saved;
    return rc;
}

//  A message to a client: dropped (and counted) if the client cannot take it.
static void
s_send_client (broker_t *self, zmsg_t **msg_p)
{
    if (s_send (self, msg_p) == 0)
        return;
    self->counters [C_DROPPED]++;
    if (errno == EAGAIN && !self->full_logged) {
        self->full_logged = true;
        irh_warn ("broker: a client does not read its replies; replies beyond %d queued "
                  "are dropped (counted in \"dropped\", logged once)", BROKER_HWM);
    }
}

//  Requests a client has in flight (dispatched or queued, not answered).
static void
s_inflight_add (broker_t *self, zframe_t *client, int delta)
{
    char key [2 * IRH_ROUTING_ID_MAX + 1];
    size_t size = zframe_size (client) <= IRH_ROUTING_ID_MAX ? zframe_size (client)
                                                             : IRH_ROUTING_ID_MAX;
    static const char digits [] = "0123456789ABCDEF";
    const uint8_t *data = zframe_data (client);
    for (size_t i = 0; i < size; i++) {
        key [2 * i] = digits [data [i] >> 4];
        key [2 * i + 1] = digits [data [i] & 15];
    }
    key [2 * size] = 0;
    uint32_t *count = (uint32_t *) zhashx_lookup (self->inflight, key);
    if (!count) {
        if (delta <= 0)
            return;
        count = (uint32_t *) zmalloc (sizeof (uint32_t));
        assert (count);
        zhashx_insert (self->inflight, key, count);
    }
    if (delta < 0 && *count <= (uint32_t) -delta)
        zhashx_delete (self->inflight, key);     //  nothing held: no memory kept for it
    else
        *count += delta;
}

static uint32_t
s_inflight (broker_t *self, zframe_t *client)
{
    char *key = zframe_strhex (client);
    uint32_t *count = (uint32_t *) zhashx_lookup (self->inflight, key);
    zstr_free (&key);
    return count ? *count : 0;
}

//  Reply ERR to a client. service/rid may be empty views (unreadable).
static void
s_send_error (broker_t *self, zframe_t *client, const irh_frame_view_t *service,
              const irh_frame_view_t *rid, const char *code, const char *text)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (client) });
    irh_envelope_add_error (msg, service, rid, code, text);
    s_send_client (self, &msg);
}

//  Count and refuse a request we hold as frames.
static void
s_reject (broker_t *self, zframe_t *client, const char *service, zframe_t *rid,
          counter_t counter, const char *code, const char *text)
{
    self->counters [counter]++;
    irh_frame_view_t service_view = { (const uint8_t *) service, strlen (service) };
    irh_frame_view_t rid_view = { zframe_data (rid), zframe_size (rid) };
    s_send_error (self, client, &service_view, &rid_view, code, text);
}

static void
s_send_command (broker_t *self, worker_t *worker, int command)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (worker->identity) });
    zmsg_addstr (msg, IRH_PROTO_WORKER);
    uint8_t cmd = (uint8_t) command;
    zmsg_addmem (msg, &cmd, 1);
    s_send (self, &msg);        //  a worker too busy for a heartbeat is alive
    worker->last_sent = zclock_mono ();
}

//  Outstanding requests are keyed "clienthex/ridhex": rids are only unique
//  per client. Built in a caller's buffer: this runs for every request and
//  every reply.
#define PENDING_KEY_MAX (2 * IRH_ROUTING_ID_MAX + 1 + 2 * IRH_RID_MAX + 1)

static char *
s_hex (char *out, const uint8_t *data, size_t size)
{
    static const char digits [] = "0123456789ABCDEF";
    for (size_t i = 0; i < size; i++) {
        *out++ = digits [data [i] >> 4];
        *out++ = digits [data [i] & 15];
    }
    return out;
}

static void
s_pending_key (char key [PENDING_KEY_MAX], const uint8_t *client, size_t client_size,
               const uint8_t *rid, size_t rid_size)
{
    //  Both come from the envelope decoder or from ZeroMQ, which keep
    //  routing ids and rids within these limits.
    assert (client_size <= IRH_ROUTING_ID_MAX && rid_size <= IRH_RID_MAX);
    char *end = s_hex (key, client, client_size);
    *end++ = '/';
    end = s_hex (end, rid, rid_size);
    *end = 0;
}

//  Send a request (client, rid, body frames taken) to the next worker.
//  The request holds one in-flight count of its client (taken by the
//  caller) until it is answered. When the worker's pipe is full the client
//  gets "overload" at once and the count is given back.
static void
s_dispatch (broker_t *self, service_t *service, zframe_t *client, zframe_t *rid, zmsg_t *body)
{
    worker_t *worker = (worker_t *) zlistx_first (service->workers);
    assert (worker);
    zlistx_move_end (service->workers, zlistx_cursor (service->workers));

    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (worker->identity) });
    zmsg_addstr (msg, IRH_PROTO_WORKER);
    uint8_t cmd = IRH_CMD_REQUEST;
    zmsg_addmem (msg, &cmd, 1);
    zmsg_append (msg, &(zframe_t *) { zframe_dup (client) });
    zmsg_append (msg, &(zframe_t *) { zframe_dup (rid) });
    zframe_t *frame;
    while ((frame = zmsg_pop (body)))
        zmsg_append (msg, &frame);
    if (s_send (self, &msg)) {
        //  Full pipe: the worker cannot keep up. No pipe: it has just died
        //  (its exit is reaped a moment later), as if it held the request.
        if (errno == EAGAIN)
            s_reject (self, client, service->name, rid, C_OVERLOAD, "overload",
                      "the actor's queue is full; try again later");
        else
            s_reject (self, client, service->name, rid, C_ACTOR_DOWN, "actor-down",
                      "the worker of this service is gone");
        s_inflight_add (self, client, -1);
        zframe_destroy (&client);
        zframe_destroy (&rid);
        return;
    }
    worker->last_sent = zclock_mono ();

    pending_t *pending = (pending_t *) zmalloc (sizeof (pending_t));
    assert (pending);
    pending->client = client;
    pending->rid = rid;
    pending->owner = self;
    char key [PENDING_KEY_MAX];
    s_pending_key (key, zframe_data (client), zframe_size (client),
                   zframe_data (rid), zframe_size (rid));
    zhashx_update (worker->outstanding, key, pending);
}

//  Remove a worker; every request it held gets actor-down.
static void
s_worker_delete (broker_t *self, worker_t *worker, const char *why)
{
    irh_info ("broker: worker %s (%s, pid %u) gone: %s", worker->key,
              worker->service->name, worker->pid, why);
    char text [160];
    snprintf (text, sizeof text, "worker of %s (pid %u) %s", worker->service->name,
              worker->pid, why);
    for (pending_t *pending = (pending_t *) zhashx_first (worker->outstanding); pending;
         pending = (pending_t *) zhashx_next (worker->outstanding))
        s_reject (self, pending->client, worker->service->name, pending->rid, C_ACTOR_DOWN,
                  "actor-down", text);
    void *handle = zlistx_find (worker->service->workers, worker);
    if (handle)
        zlistx_delete (worker->service->workers, handle);
    zhashx_delete (self->workers, worker->key);
}

//  Delete the workers collected in *dead_p (collected first, because a
//  zhashx cannot lose items while it is iterated), counting each.
static void
s_workers_delete (broker_t *self, zlistx_t **dead_p, counter_t counter, const char *why)
{
    for (worker_t *worker = (worker_t *) zlistx_first (*dead_p); worker;
         worker = (worker_t *) zlistx_next (*dead_p)) {
        self->counters [counter]++;
        s_worker_delete (self, worker, why);
    }
    zlistx_destroy (dead_p);
}

static void
s_pid_seen (broker_t *self, uint32_t pid, int64_t now)
{
    if (!pid)
        return;
    char key [16];
    snprintf (key, sizeof key, "%u", pid);
    char *value = (char *) zhashx_lookup (self->pids, key);
    if (value)
        memcpy (value, &now, sizeof now);
    else {
        value = (char *) malloc (sizeof now);
        assert (value);
        memcpy (value, &now, sizeof now);
        zhashx_insert (self->pids, key, value);
    }
}

int64_t
broker_last_seen (broker_t *self, uint32_t pid)
{
    assert (self);
    char key [16];
    snprintf (key, sizeof key, "%u", pid);
    char *value = (char *) zhashx_lookup (self->pids, key);
    if (!value)
        return -1;
    int64_t last;
    memcpy (&last, value, sizeof last);
    return last;
}

void
broker_forget_pid (broker_t *self, uint32_t pid)
{
    assert (self);
    char key [16];
    snprintf (key, sizeof key, "%u", pid);
    zhashx_delete (self->pids, key);
    trust_forget_pid (self->trust, pid);
    //  The process is gone: its workers too, now, not after heartbeats run
    //  out, so no request goes to a dead worker and held ones fail at once.
    zlistx_t *dead = zlistx_new ();
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers))
        if (worker->pid == pid)
            zlistx_add_end (dead, worker);
    s_workers_delete (self, &dead, C_WORKERS_EXITED, "exited");
}

//  --------------------------------------------------------------------------
//  Receiving

//  Who a connection is for the trust zones (trust_caller). Looking up the
//  ancestry reads /proc, so the answer is kept per connection: routing ids
//  are never reused and a connection's process never changes. An actor's
//  own pid needs no cache; it is checked first. Bounded: past
//  BROKER_CALLERS_MAX connections the cache starts again.
#define BROKER_CALLERS_MAX 4096
static uint32_t
s_caller (broker_t *self, zframe_t *client, uint32_t peer_pid)
{
    if (!peer_pid)
        return 0;
    char *key = zframe_strhex (client);
    uintptr_t cached = (uintptr_t) zhashx_lookup (self->callers, key);
    uint32_t caller;
    if (cached)
        caller = (uint32_t) (cached - 1);
    else {
        caller = trust_caller (self->trust, peer_pid, self->root_pid);
        if (zhashx_size (self->callers) >= BROKER_CALLERS_MAX)
            zhashx_purge (self->callers);
        zhashx_insert (self->callers, key, (void *) ((uintptr_t) caller + 1));
    }
    zstr_free (&key);
    return caller;
}

static void
s_client_request (broker_t *self, zframe_t *client, zmsg_t *msg, irh_envelope_t *env,
                  uint32_t peer_pid)
{
    self->counters [C_REQUESTS]++;
    char name [IRH_SERVICE_MAX + 1];
    memcpy (name, env->service.data, env->service.size);
    name [env->service.size] = 0;
    //  Keep rid as a frame; the body is what follows it. The envelope's
    //  views point into frames freed below: use the copy in name from here.
    zframe_t *frame = zmsg_pop (msg);           //  IRC1
    zframe_destroy (&frame);
    frame = zmsg_pop (msg);                     //  service
    zframe_destroy (&frame);
    zframe_t *rid = zmsg_pop (msg);

    //  A started actor calls only what its row lists; the command is the
    //  message id, the first byte of the first body frame.
    zframe_t *first = zmsg_first (msg);
    int command = first && zframe_size (first) ? zframe_data (first) [0] : -1;
    uint32_t caller = s_caller (self, client, peer_pid);
    char why [160];
    if (trust_call_check (self->trust, caller, name, command, why, sizeof why)) {
        //  An actor gone rogue could flood the log: the first few only.
        irh_log (self->counters [C_FORBIDDEN] < 10 ? IRH_LOG_WARN : IRH_LOG_DEBUG,
                 "broker: refused a call from pid %u: %s", peer_pid, why);
        s_reject (self, client, name, rid, C_FORBIDDEN, "forbidden", why);
        zframe_destroy (&client);
        zframe_destroy (&rid);
        zmsg_destroy (&msg);
        return;
    }

    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    if (service && service->handler) {
        self->counters [C_INTERNAL]++;
        zmsg_t *reply = zmsg_new ();
        zmsg_append (reply, &client);
        zmsg_addstr (reply, IRH_PROTO_CLIENT);
        zmsg_addstr (reply, name);
        zmsg_append (reply, &rid);
        service->handler (service->handler_arg, msg, reply);
        s_send_client (self, &reply);
        zmsg_destroy (&msg);
        return;
    }
    if (s_inflight (self, client) >= BROKER_INFLIGHT_MAX) {
        //  One client cannot hold the actors' queues (and our memory).
        if (self->counters [C_INFLIGHT_MAX]++ == 0)
            irh_warn ("broker: a client has %d requests in flight; more get \"overload\" "
                      "(counted in \"overload_inflight\", logged once)", BROKER_INFLIGHT_MAX);
        s_reject (self, client, name, rid, C_OVERLOAD, "overload",
                  "too many requests in flight from this client; read the replies first");
        zframe_destroy (&client);
        zframe_destroy (&rid);
        zmsg_destroy (&msg);
        return;
    }
    s_inflight_add (self, client, 1);
    if (service && zlistx_size (service->workers) > 0) {
        s_dispatch (self, service, client, rid, msg);
        zmsg_destroy (&msg);
        return;
    }
    broker_service_t known = self->expect ? self->expect (self->expect_arg, name)
                                          : BROKER_SERVICE_UNKNOWN;
    if (known == BROKER_SERVICE_PENDING) {
        if (!service)
            service = s_service_require (self, name);
        if (zlistx_size (service->queue) >= IRH_QUEUE_MAX)
            s_reject (self, client, name, rid, C_OVERLOAD, "overload",
                      "too many requests queued for a restarting actor");
        else {
            pending_t *pending = (pending_t *) zmalloc (sizeof (pending_t));
            assert (pending);
            pending->client = client;
            pending->rid = rid;
            pending->body = msg;
            pending->deadline = zclock_mono () + IRH_QUEUE_WAIT_MS;
            pending->owner = self;
            zlistx_add_end (service->queue, pending);
            self->counters [C_QUEUED]++;
            return;
        }
    }
    else
    if (known == BROKER_SERVICE_DOWN)
        s_reject (self, client, name, rid, C_ACTOR_DOWN, "actor-down",
                  "the actor of this service is not running");
    else {
        char text [80];
        snprintf (text, sizeof text, "no service named '%s'", name);
        s_reject (self, client, name, rid, C_UNKNOWN_SERVICE, "unknown-service", text);
    }
    s_inflight_add (self, client, -1);
    zframe_destroy (&client);
    zframe_destroy (&rid);
    zmsg_destroy (&msg);
}

//  Tell a worker its READY was refused, and why (IRW1 REFUSED text).
static void
s_refuse_worker (broker_t *self, zframe_t *identity, uint32_t peer_pid, const char *why)
{
    irh_log (self->counters [C_REGISTER_REFUSED] < 10 ? IRH_LOG_WARN : IRH_LOG_DEBUG,
             "broker: refused a worker registration (pid %u): %s", peer_pid, why);
    self->counters [C_REGISTER_REFUSED]++;
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (msg, IRH_PROTO_WORKER);
    uint8_t cmd = IRH_CMD_REFUSED;
    zmsg_addmem (msg, &cmd, 1);
    zmsg_addstr (msg, why);
    s_send (self, &msg);
}

static void
s_worker_ready (broker_t *self, zframe_t *identity, char *key, irh_envelope_t *env,
                uint32_t peer_pid)
{
    char name [IRH_SERVICE_MAX + 1];
    memcpy (name, env->service.data, env->service.size);
    name [env->service.size] = 0;
    service_t *internal = (service_t *) zhashx_lookup (self->services, name);
    if (internal && internal->handler) {
        self->counters [C_WORKER_MALFORMED]++;
        irh_warn ("broker: refused a worker for internal service %s", name);
        return;
    }
    char why [200];
    if (trust_register_check (self->trust, name, env->pid, peer_pid, &env->token,
                              why, sizeof why)) {
        s_refuse_worker (self, identity, peer_pid, why);
        return;
    }
    worker_t *old = (worker_t *) zhashx_lookup (self->workers, key);
    if (old)
        s_worker_delete (self, old, "registered again");
    service_t *service = s_service_require (self, name);
    worker_t *worker = (worker_t *) zmalloc (sizeof (worker_t));
    assert (worker);
    worker->key = strdup (key);
    worker->identity = zframe_dup (identity);
    worker->service = service;
    worker->pid = env->pid;
    worker->last_seen = worker->last_sent = zclock_mono ();
    worker->outstanding = zhashx_new ();
    zhashx_set_destructor (worker->outstanding, s_pending_free);
    zhashx_insert (self->workers, key, worker);
    zlistx_add_end (service->workers, worker);
    self->counters [C_WORKERS_READY]++;
    s_pid_seen (self, env->pid, worker->last_seen);
    irh_info ("broker: worker %s registered for %s (pid %u)", key, name, env->pid);
    //  Requests that waited for this service go out now, in order.
    pending_t *pending;
    while ((pending = (pending_t *) zlistx_detach (service->queue, NULL))) {
        //  Its in-flight count passes to the dispatched request.
        s_dispatch (self, service, pending->client, pending->rid, pending->body);
        zmsg_destroy (&pending->body);
        free (pending);
    }
}

static void
s_worker_message (broker_t *self, zframe_t *identity, zmsg_t *msg, irh_envelope_t *env,
                  uint32_t peer_pid)
{
    char *key = zframe_strhex (identity);
    worker_t *worker = (worker_t *) zhashx_lookup (self->workers, key);
    if (env->command == IRH_CMD_READY) {
        s_worker_ready (self, identity, key, env, peer_pid);
        goto done;
    }
    if (!worker) {
        //  Probably registered with a broker before us: make it register.
        self->counters [C_WORKER_UNKNOWN]++;
        if (env->command != IRH_CMD_DISCONNECT) {
            worker_t stranger = { .identity = identity };
            s_send_command (self, &stranger, IRH_CMD_DISCONNECT);
        }
        goto done;
    }
    worker->last_seen = zclock_mono ();
    s_pid_seen (self, worker->pid, worker->last_seen);
    if (env->command == IRH_CMD_REPLY) {
        char pkey [PENDING_KEY_MAX];
        s_pending_key (pkey, env->client.data, env->client.size, env->rid.data, env->rid.size);
        if (zhashx_lookup (worker->outstanding, pkey)) {
            zhashx_delete (worker->outstanding, pkey);
            self->counters [C_REPLIES]++;
            //  IRW1 REPLY client rid status... -> client IRC1 service rid status...
            zframe_t *frame = zmsg_pop (msg);
            zframe_destroy (&frame);
            frame = zmsg_pop (msg);
            zframe_destroy (&frame);
            zframe_t *client = zmsg_pop (msg);
            zmsg_pushstr (msg, worker->service->name);
            zmsg_pushstr (msg, IRH_PROTO_CLIENT);
            zmsg_prepend (msg, &client);
            s_send_client (self, &msg);
        }
        else
            self->counters [C_REPLY_UNKNOWN]++;
    }
    else
    if (env->command == IRH_CMD_DISCONNECT) {
        self->counters [C_WORKERS_DISCONNECTED]++;
        s_worker_delete (self, worker, "disconnected");
    }
    else
    if (env->command != IRH_CMD_HEARTBEAT)
        self->counters [C_WORKER_MALFORMED]++;
done:
    zstr_free (&key);
    zmsg_destroy (&msg);
}

static void
s_handle_one (broker_t *self, zmsg_t *msg)
{
    zframe_t *identity = zmsg_pop (msg);
    if (!identity) {
        zmsg_destroy (&msg);
        return;
    }
    irh_envelope_t env;
    size_t count = irh_envelope_views (msg, self->views, IRH_FRAMES_MAX);
    int rc = irh_envelope_decode (self->views, count, self->max_bytes, &env);
    if (zmsg_size (msg) > IRH_FRAMES_MAX) {
        //  Decoded the first frames only, to tell a version error (and to
        //  find a rid for the reply); anything else is too many frames.
        if (rc == 0 || !streq (env.error_code, "version")) {
            rc = -1;
            env.error_code = "malformed";
            snprintf (env.error_text, sizeof env.error_text, "more than %d frames",
                      IRH_FRAMES_MAX);
        }
    }

    if (rc == -1) {
        counter_t counter = streq (env.error_code, "version") ? C_VERSION
                          : streq (env.error_code, "too-big") ? C_TOO_BIG : C_MALFORMED;
        if (env.kind == IRH_ENV_WORKER) {
            //  Nothing useful can go back to a broken worker message.
            self->counters [C_WORKER_MALFORMED]++;
            irh_debug ("broker: dropped worker message: %s", env.error_text);
        }
        else {
            self->counters [counter]++;
            irh_debug ("broker: rejected request (%s): %s", env.error_code, env.error_text);
            s_send_error (self, identity, &env.service, &env.rid, env.error_code,
                          env.error_text);
        }
        zframe_destroy (&identity);
        zmsg_destroy (&msg);
        return;
    }
    //  Who sent it, as the kernel says (0 when not over ipc://).
    const char *address = zframe_meta (identity, "Peer-Address");
    if (!address && zmsg_first (msg))
        address = zframe_meta (zmsg_first (msg), "Peer-Address");
    uint32_t peer_pid = irh_envelope_peer_pid (address);
    if (env.kind == IRH_ENV_CLIENT_REQUEST)
        s_client_request (self, identity, msg, &env, peer_pid);
    else {
        s_worker_message (self, identity, msg, &env, peer_pid);
        zframe_destroy (&identity);
    }
}

void
broker_handle (broker_t *self, int limit)
{
    assert (self);
    while (limit-- > 0 && (zsock_events (self->router) & ZMQ_POLLIN)) {
        zmsg_t *msg = zmsg_recv (self->router);
        if (!msg)
            break;
        s_handle_one (self, msg);
    }
}

void
broker_tick (broker_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
#ifdef __GLIBC__
    //  Give memory back: after a greedy client leaves, the megabytes its
    //  queues held would otherwise stay in glibc's arenas (ZeroMQ's I/O
    //  thread has its own). Cheap on a heap with little free.
    if (now >= self->next_trim) {
        malloc_trim (0);
        self->next_trim = now + BROKER_TRIM_MS;
    }
#endif
    //  Collect first: deleting while iterating a zhashx is not allowed.
    zlistx_t *dead = zlistx_new ();
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers)) {
        if (now - worker->last_seen > IRH_HEARTBEAT_MS * IRH_HEARTBEAT_LIVENESS)
            zlistx_add_end (dead, worker);
        else
        if (now - worker->last_sent >= IRH_HEARTBEAT_MS)
            s_send_command (self, worker, IRH_CMD_HEARTBEAT);
    }
    s_workers_delete (self, &dead, C_WORKERS_EXPIRED, "missed heartbeats");

    //  Queued requests: fail those past their deadline, or all of them
    //  once the supervisor says the actor is down for good.
    for (service_t *service = (service_t *) zhashx_first (self->services); service;
         service = (service_t *) zhashx_next (self->services)) {
        if (zlistx_size (service->queue) == 0)
            continue;
        bool down = self->expect
                 && self->expect (self->expect_arg, service->name) != BROKER_SERVICE_PENDING;
        pending_t *pending = (pending_t *) zlistx_first (service->queue);
        while (pending && (down || pending->deadline <= now)) {
            s_reject (self, pending->client, service->name, pending->rid, C_ACTOR_DOWN,
                      "actor-down", "no live worker for this service (actor restarting or failed)");
            zlistx_delete (service->queue, zlistx_cursor (service->queue));
            pending = (pending_t *) zlistx_first (service->queue);
        }
    }
}

void
broker_pardon (broker_t *self, int64_t now)
{
    assert (self);
    for (worker_t *worker = (worker_t *) zhashx_first (self->workers); worker;
         worker = (worker_t *) zhashx_next (self->workers))
        worker->last_seen = now;
    for (char *value = (char *) zhashx_first (self->pids); value;
         value = (char *) zhashx_next (self->pids))
        memcpy (value, &now, sizeof now);
    broker_count (self, "stalls_pardoned", 1);
}
