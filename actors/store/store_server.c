/*  store_server.c: the "store" service on top of store_db.

    One thread, one LMDB writer: requests are handled in arrival order,
    except "wait", which is kept (with its client and request id) and
    answered later, out of order, when the key is stored, its claim is
    released or expires, or its timeout passes. The broker matches the
    late reply by request id, so many local callers can wait at once
    without a thread each.

    Outside input is never trusted: a body that does not decode, a missing
    or extra frame, an unknown message id: "ERR bad-request" (or
    "unknown-command" for a real message this service does not take) and
    a counter, never an abort.
*/
#include "store_server.h"
#include "irh_hash.h"
#include "irh_log.h"
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifndef IROHDS_VERSION
#define IROHDS_VERSION "0"
#endif

#define S_FLUSH_MS        100     //  touches are written at most this late
#define S_FLUSH_PENDING   4096    //  ... or as soon as this many are waiting
#define S_EXPIRE_MS       1000    //  TTL sweep period
#define S_WAIT_CHECK_MS   100     //  how often kept waits look at their claim (and
                                  //  whether its holder is still alive)
#define S_MAX_WAIT_MS     (24 * 3600 * 1000)
#define S_TRIM_MS         5000    //  memory is given back this often

typedef struct {
    irh_request_t *request;
    uint8_t key [32];
    int64_t deadline;             //  zclock_mono ms
} s_waiter_t;

struct _store_server_t {
    store_db_t *db;
    irh_worker_t *worker;
    char *home;
    zlist_t *waiters;             //  s_waiter_t
    int64_t started;
    int64_t next_flush, next_expire, next_wait_check, next_trim;
};

store_server_t *
store_server_new (store_db_t *db, irh_worker_t *worker, const char *home)
{
    assert (db && worker);
    store_server_t *self = (store_server_t *) zmalloc (sizeof (store_server_t));
    assert (self);
    self->db = db;
    self->worker = worker;
    self->home = strdup (home ? home : "");
    self->waiters = zlist_new ();
    self->started = zclock_mono ();
    self->next_flush = self->next_expire = self->next_wait_check = self->started;
    return self;
}

static void
s_wait_answer (store_server_t *self, s_waiter_t *waiter, uint8_t status)
{
    irh_wait_reply_t reply = { .status = status };
    zmsg_t *body = zmsg_new ();
    zframe_t *frame = irh_wait_reply_encode (&reply);
    zmsg_append (body, &frame);
    irh_worker_reply (self->worker, waiter->request, &body);
    irh_request_destroy (&waiter->request);
    free (waiter);
}

void
store_server_destroy (store_server_t **self_p)
{
    assert (self_p);
    store_server_t *self = *self_p;
    if (!self)
        return;
    s_waiter_t *waiter;
    while ((waiter = zlist_pop (self->waiters)))
        s_wait_answer (self, waiter, 1);
    zlist_destroy (&self->waiters);
    free (self->home);
    free (self);
    *self_p = NULL;
}

//  State of key for its waiters: 0 stored, 1 still claimed, 2 neither (a
//  claim whose local holder died is released here).
static int
s_wait_state (store_server_t *self, const uint8_t *key)
{
    uint64_t expires;
    int state = store_db_state (self->db, key, &expires);
    if (state == 1 && store_db_reap (self->db, key) == 1)
        state = 2;              //  its holder died: go and compute it
    return state;
}

//  Answer kept waits: for key (or all when NULL) whose key is now stored
//  or no longer claimed, and every wait past its deadline. Each distinct
//  key is looked up once per call, so many waiters on one key cost one
//  lookup, not one each.
static void
s_wake (store_server_t *self, const uint8_t *key)
{
    int64_t now = zclock_mono ();
    zhashx_t *states = zhashx_new ();           //  hex key -> state + 1 (as a pointer)
    s_waiter_t *waiter = zlist_first (self->waiters);
    while (waiter) {
        s_waiter_t *next = zlist_next (self->waiters);
        int status = -1;
        if (!key || memcmp (key, waiter->key, 32) == 0) {
            char hex [IRH_HASH_HEX_SIZE];
            irh_hash_hex (waiter->key, hex);
            intptr_t known = (intptr_t) zhashx_lookup (states, hex);
            int state = known ? (int) known - 1 : s_wait_state (self, waiter->key);
            if (!known)
                zhashx_insert (states, hex, (void *) (intptr_t) (state + 1));
            if (state == 0 || state == 2)
                status = state;
        }
        if (status < 0 && now >= waiter->deadline)
            status = 1;
        if (status >= 0) {
            zlist_remove (self->waiters, waiter);
            s_wait_answer (self, waiter, (uint8_t) status);
        }
        waiter = next;
    }
    zhashx_destroy (&states);
}

//  --------------------------------------------------------------------------
//  Replies

static void
s_reply_frame (store_server_t *self, irh_request_t *request, zframe_t *frame)
{
    assert (frame);         //  our own messages always fit their limits
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    irh_worker_reply (self->worker, request, &body);
}

static void
s_reply_db_error (store_server_t *self, irh_request_t *request)
{
    irh_worker_error (self->worker, request, store_db_error_code (self->db), "%s",
                      store_db_error_text (self->db));
}

static void
s_bad_request (store_server_t *self, irh_request_t *request, const char *what, const char *why)
{
    store_db_count (self->db, STORE_BAD_REQUESTS, 1);
    irh_debug ("store: bad request: %s: %s", what, why);
    irh_worker_error (self->worker, request, "bad-request", "%s: %s", what, why);
}

static void
s_reply_table (store_server_t *self, irh_request_t *request, irh_table_t *table)
{
    zmsg_t *body = zmsg_new ();
    irh_table_append (table, body);
    irh_table_destroy (&table);
    irh_worker_reply (self->worker, request, &body);
}

//  --------------------------------------------------------------------------
//  Requests

static void
s_put (store_server_t *self, irh_request_t *request, zframe_t *frame)
{
    irh_put_t put;
    if (irh_put_decode (frame, &put)) {
        s_bad_request (self, request, "put", irh_msgs_error ());
        return;
    }
    size_t frames = zmsg_size (request->body);
    zframe_t *content = zmsg_next (request->body);
    if (put.src == 0 && frames != 2) {
        s_bad_request (self, request, "put", "src=0 needs exactly one content frame after the message");
        return;
    }
    if (put.src == 1 && frames != 1) {
        s_bad_request (self, request, "put", "src=1 takes no content frame");
        return;
    }
    irh_put_ok_t reply;
    const uint8_t *data = content ? zframe_data (content) : NULL;
    size_t size = content ? zframe_size (content) : 0;
    if (store_db_put (self->db, &put, data, size, &reply)) {
        s_reply_db_error (self, request);
        return;
    }
    s_reply_frame (self, request, irh_put_ok_encode (&reply));
    s_wake (self, put.key);
}

static void
s_get (store_server_t *self, irh_request_t *request, zframe_t *frame)
{
    irh_get_t get;
    if (irh_get_decode (frame, &get)) {
        s_bad_request (self, request, "get", irh_msgs_error ());
        return;
    }
    if (zmsg_size (request->body) != 1) {
        s_bad_request (self, request, "get", "unexpected frames after the message");
        return;
    }
    store_db_hit_t hit;
    int rc = store_db_get (self->db, get.key, get.want_path != 0, &hit);
    if (rc < 0) {
        s_reply_db_error (self, request);
        return;
    }
    zmsg_t *body = zmsg_new ();
    if (rc == 1) {
        irh_miss_t miss = { .reason = hit.reason };
        zframe_t *f = irh_miss_encode (&miss);
        zmsg_append (body, &f);
    }
    else {
        irh_hit_t msg;
        memset (&msg, 0, sizeof (msg));
        snprintf (msg.path, sizeof (msg.path), "%s", hit.path);
        zframe_t *f = irh_hit_encode (&msg);
        zmsg_append (body, &f);
        f = irh_manifest_encode (&hit.manifest);
        zmsg_append (body, &f);
        if (hit.content)
            zmsg_append (body, &hit.content);
    }
    irh_worker_reply (self->worker, request, &body);
}

static void
s_ping (store_server_t *self, irh_request_t *request)
{
    irh_pong_t pong;
    memset (&pong, 0, sizeof (pong));
    strcpy (pong.service, "store");
    snprintf (pong.version, sizeof (pong.version), "%s", IROHDS_VERSION);
    pong.pid = (uint32_t) getpid ();
    pong.uptime_ms = (uint64_t) (zclock_mono () - self->started);
    s_reply_frame (self, request, irh_pong_encode (&pong));
}

static void
s_wait (store_server_t *self, irh_request_t **request_p, zframe_t *frame)
{
    irh_wait_t wait;
    if (irh_wait_decode (frame, &wait)) {
        s_bad_request (self, *request_p, "wait", irh_msgs_error ());
        irh_request_destroy (request_p);
        return;
    }
    store_db_count (self->db, STORE_CLAIMS_WAITED, 1);
    s_waiter_t *waiter = (s_waiter_t *) zmalloc (sizeof (s_waiter_t));
    assert (waiter);
    waiter->request = *request_p;
    *request_p = NULL;
    memcpy (waiter->key, wait.key, 32);
    uint32_t timeout = wait.timeout_ms < S_MAX_WAIT_MS ? wait.timeout_ms : S_MAX_WAIT_MS;
    waiter->deadline = zclock_mono () + timeout;
    zlist_append (self->waiters, waiter);
    //  Already stored, or nobody computing it: answer now (with every
    //  other waiter of the key). Still claimed: it waits, like the others.
    if (s_wait_state (self, waiter->key) != 1)
        s_wake (self, waiter->key);
}

//  Run-once passes (store_each.c). each_pass: the message, then one name
//  frame per key.
static void
s_each_pass (store_server_t *self, irh_request_t *request, zframe_t *frame)
{
    irh_each_pass_t pass;
    if (irh_each_pass_decode (frame, &pass)) {
        s_bad_request (self, request, "each_pass", irh_msgs_error ());
        return;
    }
    size_t n = pass.keys_size / 32;
    if (pass.keys_size % 32 || n > 4000 || zmsg_size (request->body) != n + 1) {
        s_bad_request (self, request, "each_pass",
                       "keys must be whole 32-byte keys (at most 4000), each followed "
                       "by one name frame");
        return;
    }
    const char **names = (const char **) zmalloc ((n + 1) * sizeof (char *));
    size_t *sizes = (size_t *) zmalloc ((n + 1) * sizeof (size_t));
    assert (names && sizes);
    for (size_t i = 0; i < n; i++) {
        zframe_t *name = zmsg_next (request->body);
        names [i] = (const char *) zframe_data (name);
        sizes [i] = zframe_size (name);
    }
    int rc = store_db_each_pass (self->db, pass.ns, pass.keys, n, names, sizes);
    free (names);
    free (sizes);
    if (rc) {
        s_reply_db_error (self, request);
        return;
    }
    irh_ok_t ok = { 0 };
    s_reply_frame (self, request, irh_ok_encode (&ok));
}

static void
s_each_claim (store_server_t *self, irh_request_t *request, zframe_t *frame)
{
    irh_each_claim_t req;
    if (irh_each_claim_decode (frame, &req)) {
        s_bad_request (self, request, "each_claim", irh_msgs_error ());
        return;
    }
    if (zmsg_size (request->body) != 1) {
        s_bad_request (self, request, "each_claim", "unexpected frames after the message");
        return;
    }
    size_t n = req.keys_size / 32 + 1;
    irh_each_claim_reply_t reply;
    memset (&reply, 0, sizeof (reply));
    uint8_t *states = (uint8_t *) zmalloc (n);
    uint8_t *expires = (uint8_t *) zmalloc (8 * n);
    assert (states && expires);
    size_t count = 0;
    if (store_db_each_claim (self->db, &req, states, expires, &count))
        s_reply_db_error (self, request);
    else {
        reply.states = states;
        reply.states_size = (uint32_t) count;
        reply.expires = expires;
        reply.expires_size = (uint32_t) (8 * count);
        s_reply_frame (self, request, irh_each_claim_reply_encode (&reply));
    }
    //  Done marks ended claims: their waiters (a memo call on the same
    //  key) may go on.
    for (size_t i = 0; i + 32 <= req.done_size; i += 32)
        s_wake (self, req.done + i);
    free (states);
    free (expires);
}

static void
s_each_list (store_server_t *self, irh_request_t *request, zframe_t *frame)
{
    irh_each_list_t req;
    if (irh_each_list_decode (frame, &req)) {
        s_bad_request (self, request, "each_list", irh_msgs_error ());
        return;
    }
    if (zmsg_size (request->body) != 1) {
        s_bad_request (self, request, "each_list", "unexpected frames after the message");
        return;
    }
    irh_table_t *table = irh_table_new (req.counts ? STORE_DB_EACH_COUNT_COLUMNS
                                                   : STORE_DB_EACH_COLUMNS);
    if (store_db_each_list (self->db, &req, table)) {
        irh_table_destroy (&table);
        s_reply_db_error (self, request);
        return;
    }
    s_reply_table (self, request, table);
}

//  Requests with one message frame and a one-frame (or table) answer.
static void
s_simple (store_server_t *self, irh_request_t *request, zframe_t *frame, int id)
{
    const char *name = irh_msgs_name (id);
    union {
        irh_has_t has; irh_touch_t touch; irh_ls_t ls; irh_stats_t stats; irh_info_t info;
        irh_evict_t evict; irh_gc_t gc; irh_claim_t claim; irh_release_t release;
        irh_ping_t ping; irh_digest_list_t digest_list; irh_digest_get_t digest_get;
        irh_ingest_t ingest;
    } m;
    int rc;
    switch (id) {
        case IRH_MSG_HAS:     rc = irh_has_decode (frame, &m.has); break;
        case IRH_MSG_TOUCH:   rc = irh_touch_decode (frame, &m.touch); break;
        case IRH_MSG_LS:      rc = irh_ls_decode (frame, &m.ls); break;
        case IRH_MSG_STATS:   rc = irh_stats_decode (frame, &m.stats); break;
        case IRH_MSG_INFO:    rc = irh_info_decode (frame, &m.info); break;
        case IRH_MSG_EVICT:   rc = irh_evict_decode (frame, &m.evict); break;
        case IRH_MSG_GC:      rc = irh_gc_decode (frame, &m.gc); break;
        case IRH_MSG_CLAIM:   rc = irh_claim_decode (frame, &m.claim); break;
        case IRH_MSG_RELEASE: rc = irh_release_decode (frame, &m.release); break;
        case IRH_MSG_PING:    rc = irh_ping_decode (frame, &m.ping); break;
        case IRH_MSG_DIGEST_LIST: rc = irh_digest_list_decode (frame, &m.digest_list); break;
        case IRH_MSG_DIGEST_GET:  rc = irh_digest_get_decode (frame, &m.digest_get); break;
        case IRH_MSG_INGEST:  rc = irh_ingest_decode (frame, &m.ingest); break;
        default:
            if (id >= 0 && !streq (name, "?")) {
                store_db_count (self->db, STORE_BAD_REQUESTS, 1);
                irh_worker_error (self->worker, request, "unknown-command",
                                  "the store does not take \"%s\" requests", name);
            }
            else
                s_bad_request (self, request, "request", "not a store message");
            return;
    }
    if (rc) {
        s_bad_request (self, request, name, irh_msgs_error ());
        return;
    }
    if (zmsg_size (request->body) != 1) {
        s_bad_request (self, request, name, "unexpected frames after the message");
        return;
    }
    switch (id) {
        case IRH_MSG_PING:
            s_ping (self, request);
            return;
        case IRH_MSG_HAS: {
            int present = store_db_has (self->db, m.has.key);
            if (present < 0) {
                s_reply_db_error (self, request);
                return;
            }
            irh_has_reply_t reply = { .present = (uint8_t) present };
            s_reply_frame (self, request, irh_has_reply_encode (&reply));
            return;
        }
        case IRH_MSG_TOUCH: {
            if (store_db_touch (self->db, m.touch.key) < 0) {
                s_reply_db_error (self, request);
                return;
            }
            irh_ok_t ok = { 0 };
            s_reply_frame (self, request, irh_ok_encode (&ok));
            return;
        }
        case IRH_MSG_LS: {
            //  A listing shows every access already reported: write the
            //  pending touches first (one write transaction, only when some
            //  are pending), so `ls` right after a hit orders by it.
            if (store_db_pending (self->db) > 0)
                store_db_flush (self->db);
            irh_table_t *table = irh_table_new (STORE_DB_LS_COLUMNS);
            if (store_db_ls (self->db, m.ls.fn, m.ls.limit, table)) {
                irh_table_destroy (&table);
                s_reply_db_error (self, request);
                return;
            }
            s_reply_table (self, request, table);
            return;
        }
        case IRH_MSG_STATS: {
            irh_table_t *table = irh_table_new ("name:s\tvalue:u");
            store_db_stats (self->db, table);
            irh_table_row (table);
            irh_table_str (table, "waiting");
            irh_table_u64 (table, zlist_size (self->waiters));
            irh_table_row (table);
            irh_table_str (table, "malformed");
            irh_table_u64 (table, irh_worker_malformed (self->worker));
            s_reply_table (self, request, table);
            return;
        }
        case IRH_MSG_INFO: {
            irh_table_t *table = irh_table_new ("name:s\tvalue:s");
            irh_table_row (table);
            irh_table_str (table, "home");
            irh_table_str (table, self->home);
            irh_table_row (table);
            irh_table_str (table, "version");
            irh_table_str (table, IROHDS_VERSION);
            store_db_info (self->db, table);
            s_reply_table (self, request, table);
            return;
        }
        case IRH_MSG_EVICT: {
            irh_evicted_t reply;
            if (store_db_evict (self->db, m.evict.fn, m.evict.key, &reply.count, &reply.bytes)) {
                s_reply_db_error (self, request);
                return;
            }
            s_reply_frame (self, request, irh_evicted_encode (&reply));
            return;
        }
        case IRH_MSG_GC: {
            irh_gc_reply_t reply;
            if (store_db_gc (self->db, &reply)) {
                s_reply_db_error (self, request);
                return;
            }
            s_reply_frame (self, request, irh_gc_reply_encode (&reply));
            return;
        }
        case IRH_MSG_CLAIM: {
            irh_claim_reply_t reply;
            if (store_db_claim (self->db, m.claim.key, m.claim.holder, m.claim.lease_ms, &reply)) {
                s_reply_db_error (self, request);
                return;
            }
            s_reply_frame (self, request, irh_claim_reply_encode (&reply));
            return;
        }
        case IRH_MSG_DIGEST_LIST: {
            irh_table_t *table = irh_table_new (STORE_DB_DIGEST_COLUMNS);
            store_db_digest_list (self->db, table);
            s_reply_table (self, request, table);
            return;
        }
        case IRH_MSG_DIGEST_GET: {
            zframe_t *digest = store_db_digest_get (self->db, m.digest_get.ns, m.digest_get.seed,
                                                    m.digest_get.epoch);
            if (!digest) {
                s_reply_db_error (self, request);
                return;
            }
            s_reply_frame (self, request, digest);
            return;
        }
        case IRH_MSG_INGEST: {
            //  m.ingest.manifest points into frame, which lives until we return.
            irh_put_ok_t reply;
            if (store_db_ingest (self->db, &m.ingest, &reply)) {
                s_reply_db_error (self, request);
                return;
            }
            s_reply_frame (self, request, irh_put_ok_encode (&reply));
            s_wake (self, m.ingest.key);
            return;
        }
        case IRH_MSG_RELEASE: {
            //  Releasing a claim one does not hold is not an error: the
            //  caller's goal (not holding it) is met either way.
            if (store_db_release (self->db, m.release.key, m.release.holder) < 0) {
                s_reply_db_error (self, request);
                return;
            }
            irh_ok_t ok = { 0 };
            s_reply_frame (self, request, irh_ok_encode (&ok));
            s_wake (self, m.release.key);
            return;
        }
    }
}

void
store_server_handle (store_server_t *self, irh_request_t **request_p)
{
    assert (self && request_p && *request_p);
    irh_request_t *request = *request_p;
    zframe_t *frame = request->body ? zmsg_first (request->body) : NULL;
    int id = frame ? irh_msgs_id (frame) : -1;
    if (id == IRH_MSG_WAIT) {
        s_wait (self, request_p, frame);
        return;
    }
    if (id < 0)
        s_bad_request (self, request, "request", "empty body");
    else
    if (id == IRH_MSG_PUT)
        s_put (self, request, frame);
    else
    if (id == IRH_MSG_GET)
        s_get (self, request, frame);
    else
    if (id == IRH_MSG_EACH_PASS)
        s_each_pass (self, request, frame);
    else
    if (id == IRH_MSG_EACH_CLAIM)
        s_each_claim (self, request, frame);
    else
    if (id == IRH_MSG_EACH_LIST)
        s_each_list (self, request, frame);
    else
        s_simple (self, request, frame, id);
    irh_request_destroy (request_p);
    if (store_db_pending (self->db) >= S_FLUSH_PENDING)
        store_db_flush (self->db);
}

int
store_server_tick (store_server_t *self)
{
    int64_t now = zclock_mono ();
    if (now >= self->next_flush) {
        if (store_db_flush (self->db))
            irh_warn ("store: %s", store_db_error_text (self->db));
        //  Rate-limited inside to store.sync_interval.
        if (store_db_sync (self->db, false))
            irh_warn ("store: %s", store_db_error_text (self->db));
        self->next_flush = now + S_FLUSH_MS;
    }
    if (now >= self->next_expire) {
        uint64_t count;
        if (store_db_expire (self->db, &count) == 0 && count)
            irh_debug ("store: %llu results expired", (unsigned long long) count);
        self->next_expire = now + S_EXPIRE_MS;
    }
#ifdef __GLIBC__
    if (now >= self->next_trim) {
        //  Replies to a greedy client may have taken hundreds of MB of
        //  heap; give it back once they are gone.
        malloc_trim (0);
        self->next_trim = now + S_TRIM_MS;
    }
#endif
    if (now >= self->next_wait_check && zlist_size (self->waiters)) {
        s_wake (self, NULL);        //  leases that ran out, deadlines
        self->next_wait_check = now + S_WAIT_CHECK_MS;
    }
    int64_t next = self->next_flush;
    if (self->next_expire < next)
        next = self->next_expire;
    if (zlist_size (self->waiters)) {
        if (self->next_wait_check < next)
            next = self->next_wait_check;
        for (s_waiter_t *w = zlist_first (self->waiters); w; w = zlist_next (self->waiters))
            if (w->deadline < next)
                next = w->deadline;
    }
    next -= now;
    return next < 1 ? 1 : (int) next;
}
