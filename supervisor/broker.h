/*  broker.h: the broker inside irohds-daemon (proto/README.md §1).

    A ROUTER that routes IRC1 client requests to IRW1 workers round-robin
    per service, routes out-of-order replies back by client routing id +
    rid, tracks outstanding requests per worker so a dead worker's requests
    fail at once with actor-down, and hosts internal services (sup) through
    a handler. Single-threaded: the daemon's main loop polls broker_sock.
*/
#ifndef BROKER_H_INCLUDED
#define BROKER_H_INCLUDED
#include "trust.h"
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _broker_t broker_t;

//  What the supervisor knows about a service nobody serves right now.
typedef enum {
    BROKER_SERVICE_UNKNOWN = 0,     //  never heard of it: unknown-service
    BROKER_SERVICE_PENDING,         //  its actor is (re)starting: queue briefly
    BROKER_SERVICE_DOWN             //  failed or absent: actor-down at once
} broker_service_t;
typedef broker_service_t (broker_expect_fn) (void *arg, const char *service);

//  Internal service handler: body holds the request body frames (owned by
//  the caller); append "OK" + body frames, or "ERR" + code + text, to reply.
typedef void (broker_handler_fn) (void *arg, zmsg_t *body, zmsg_t *reply);

//  Bind at endpoint; max_bytes is the message size limit (0 = default).
//  NULL (logged) if the bind fails.
//  Smallest broker.max_message that can work: the system's own control
//  messages (sup and store tables, put metadata) need this much.
#define BROKER_MESSAGE_MIN  (1ULL << 20)
//  Requests one client may have in flight (dispatched or queued, not yet
//  answered); more get "overload" at once (counted "overload_inflight").
#define BROKER_INFLIGHT_MAX 1000
//  Messages queued per peer in each direction (ZeroMQ high-water mark);
//  past it, replies to a client that does not read are dropped (counted
//  "dropped") and requests for a worker that cannot keep up get "overload".
//  Three times the in-flight cap, because ZeroMQ learns that queued
//  messages were taken only every (HWM - 1024) messages: at HWM 1000 a
//  client reading every reply lost one when all its 1000 waits were
//  answered in one burst (CI, test_in_flight_cap_per_client). At 3000 a
//  full burst after 1975 unacknowledged messages still fits; the cost is
//  a non-reading client can pin 3000 replies until it disconnects.
#define BROKER_HWM          (3 * BROKER_INFLIGHT_MAX)
//  How often unused heap memory is given back to the system.
#define BROKER_TRIM_MS      5000
broker_t *broker_new (const char *endpoint, uint64_t max_bytes);
void broker_destroy (broker_t **self_p);
zsock_t *broker_sock (broker_t *self);
void broker_set_expect (broker_t *self, broker_expect_fn *fn, void *arg);
//  The trust zones the broker enforces (owned by the broker); the
//  supervisor fills them as it starts actors (trust_set).
trust_t *broker_trust (broker_t *self);
void broker_set_internal (broker_t *self, const char *service, broker_handler_fn *fn,
                          void *arg);
//  Handle every message waiting on the socket (at most limit).
void broker_handle (broker_t *self, int limit);
//  Heartbeats, worker expiry, queue deadlines. Call at least every 100 ms.
void broker_tick (broker_t *self);
//  Last sign of life (zclock_mono ms) from a worker that registered with
//  this pid, -1 if none ever did; forget it when the process is reaped
//  (which also voids its registration token, trust_forget_pid).
int64_t broker_last_seen (broker_t *self, uint32_t pid);
void broker_forget_pid (broker_t *self, uint32_t pid);
//  The daemon's own loop stalled (SIGSTOP, suspend, starvation): every
//  worker's and pid's silence during it was ours, so count them all as
//  seen now instead of expiring them on the next tick.
void broker_pardon (broker_t *self, int64_t now);
//  Add one counter to the named extra counters shown in broker_stats.
void broker_count (broker_t *self, const char *name, uint64_t delta);
//  Append the broker_stats table (name:s value:u) to msg.
void broker_stats_append (broker_t *self, zmsg_t *msg);
//  Value of a counter (tests), 0 if unknown.
uint64_t broker_counter (broker_t *self, const char *name);

#endif
