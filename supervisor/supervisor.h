/*  supervisor.h: the actor table of irohds-daemon: spawn each actor,
    restart one that dies or stops heartbeating (with backoff and a restart
    budget), stop them in order, and report their state. */
#ifndef SUPERVISOR_H_INCLUDED
#define SUPERVISOR_H_INCLUDED
#include "broker.h"
#include "irh_config.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct _supervisor_t supervisor_t;

//  Restart policy defaults (docs/supervisor.md); config keys supervisor.*
//  override them (supervisor_configure).
#define SUP_BACKOFF_MIN_MS      100
#define SUP_BACKOFF_MAX_MS      5000
#define SUP_RESTART_LIMIT       5           //  restarts ...
#define SUP_RESTART_WINDOW_MS   60000       //  ... within this window, then failed
#define SUP_STABLE_MS           10000       //  run this long and backoff resets
#define SUP_REGISTER_MS         10000       //  a new actor must register by then
#define SUP_STOP_BUDGET_MS      4000        //  all actors stopped within this

//  Builds the actor table: the built-in one, or $IROHDS_ACTORS
//  ("name:binary:service,...", test use). Binaries without a '/' are looked
//  up next to irohds-daemon. Returns NULL (logged) on a bad IROHDS_ACTORS.
supervisor_t *supervisor_new (const char *home, const char *broker_endpoint, bool verbose);
void supervisor_destroy (supervisor_t **self_p);
//  Read the restart policy (supervisor.restart_max, restart_window,
//  backoff_min, backoff_max, stable_after) from config. A value out of its
//  range is a config problem (in the config's error list) and its default
//  is used instead. Returns the number of problems found that are not in
//  that list (backoff_min above backoff_max).
//  Call before supervisor_start.
size_t supervisor_configure (supervisor_t *self, irh_config_t *config);
//  Spawn every present actor. Called before any ZeroMQ context exists.
void supervisor_start (supervisor_t *self);
//  The broker to consult for liveness (set once it exists).
void supervisor_set_broker (supervisor_t *self, broker_t *broker);
//  Reap exited children (after SIGCHLD) and schedule restarts.
void supervisor_reap (supervisor_t *self);
//  Restarts due, liveness checks. Call at least every 50 ms.
void supervisor_tick (supervisor_t *self);
//  broker_expect_fn: what to do with a request for a service with no worker.
broker_service_t supervisor_expect (void *self, const char *service);
//  Append the status table (supervisor row + one per actor) to msg.
void supervisor_status_append (supervisor_t *self, zmsg_t *msg);
//  SIGTERM the actors in stop order (network actors first, store last),
//  SIGKILL after a grace; returns when all are gone.
void supervisor_stop (supervisor_t *self);

#endif
