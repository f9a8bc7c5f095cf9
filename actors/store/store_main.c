/*  store_main.c: irohds-store, the store actor (docs/store.md).

    usage: irohds-store [--home DIR] (--broker ENDPOINT | --bind ENDPOINT) [-v]

    Under the supervisor it connects to the broker as the worker of service
    "store"; with --bind it serves clients directly (no broker). SIGTERM or
    SIGINT: finish the request in hand, flush batched touches and
    counters, close LMDB, exit 0.
*/
#include "store_server.h"
#include "store_check.h"
#include "irh_actor.h"
#include "irh_config.h"
#include "irh_log.h"
#include "irh_loop.h"
#include "irh_paths.h"
#include <signal.h>

//  A fault while serving is almost always LMDB reading a damaged page (or
//  a data.mdb cut short under us): note it for the next start, which sets
//  the environment aside (store_check.c), then die as we would have.
static void
s_on_fault (int signum)
{
    store_check_suspect (signum == SIGBUS ? "SIGBUS while serving (data.mdb cut short?)"
                                          : "SIGSEGV while serving (damaged LMDB page?)");
    signal (signum, SIG_DFL);
    raise (signum);
}

//  store.* settings from config.toml (sizes in bytes, durations in ms as
//  the config parser gives them). A value that cannot work (a map too
//  small for LMDB's own pages, an inline limit above what one message may
//  carry) falls back to its default with a message in the config's error
//  list, which main logs.
#define S_MAP_MIN   (1ULL << 20)        //  LMDB needs a few pages; less holds nothing
#define S_MAP_MAX   (1ULL << 46)        //  64 TiB: beyond any address space we map
static void
s_config (irh_config_t *config, store_db_config_t *out)
{
    memset (out, 0, sizeof (*out));
    out->map_size = irh_config_u64_range (config, "store.map_size", STORE_DB_MAP_SIZE,
                                          S_MAP_MIN, S_MAP_MAX);
    //  0 (absent) means "start at map_size"; any other value must work.
    if (irh_config_u64 (config, "store.map_initial", 0))
        out->map_initial = irh_config_u64_range (config, "store.map_initial", 0,
                                                 S_MAP_MIN, S_MAP_MAX);
    out->inline_max = irh_config_u64_range (config, "store.inline_max", STORE_DB_INLINE_MAX,
                                            0, 64ULL << 20);
    out->max_bytes = irh_config_u64 (config, "store.max_bytes", 0);
    out->sync_interval_ms = irh_config_u64_range (config, "store.sync_interval",
                                                  STORE_DB_SYNC_INTERVAL, 0, 3600 * 1000);
    out->default_ttl_ms = irh_config_u64 (config, "store.default_ttl", 0);
}

static int
s_on_request (irh_loop_t *loop, irh_request_t *request, void *arg)
{
    (void) loop;
    store_server_handle ((store_server_t *) arg, &request);
    return 0;
}

static int
s_on_tick (irh_loop_t *loop, void *arg)
{
    (void) loop;
    return store_server_tick ((store_server_t *) arg);
}

int
main (int argc, char *argv [])
{
    irh_actor_t actor;
    int status = irh_actor_init (&actor, "store", "store", false, argc, argv);
    if (status >= 0) {
        irh_actor_cleanup (&actor);
        return status;
    }
    irh_paths_t *paths = actor.paths;
    const char *broker = actor.broker, *bind = actor.bind;
    char *err = NULL;
    store_db_config_t db_config;
    size_t logged = irh_config_errors (actor.config);     //  irh_actor_init logged these
    s_config (actor.config, &db_config);
    for (size_t i = logged; i < irh_config_errors (actor.config); i++)
        irh_warn ("store: %s", irh_config_error (actor.config, i));
    store_db_t *db = store_db_new (paths->store, paths->blobs, paths->staging, &db_config, &err);
    if (db && store_db_set_fetch_dir (db, paths->fetch)) {
        err = strdup (store_db_error_text (db));
        store_db_destroy (&db);
    }
    if (!db) {
        irh_error ("store: %s", err);
        free (err);
        irh_actor_cleanup (&actor);
        return 1;
    }
    //  SIGTERM and SIGINT are the loop's (irh_loop.h): the request in hand
    //  is finished, then we stop. A fault is ours.
    struct sigaction action;
    memset (&action, 0, sizeof (action));
    action.sa_handler = s_on_fault;
    action.sa_flags = SA_RESETHAND;
    sigaction (SIGBUS, &action, NULL);
    sigaction (SIGSEGV, &action, NULL);

    irh_worker_t *worker = irh_worker_new ("store", broker, bind);
    if (!worker) {
        irh_error ("store: cannot %s %s", broker ? "connect to" : "bind", broker ? broker : bind);
        store_db_destroy (&db);
        irh_actor_cleanup (&actor);
        return 1;
    }
    store_server_t *server = store_server_new (db, worker, paths->home);
    irh_info ("store: serving %s (%s %s)", paths->store, broker ? "broker" : "bind",
              broker ? broker : bind);
    irh_loop_t *loop = irh_loop_new (worker, s_on_request, server);
    status = 1;                     //  unless the loop ran and stopped as asked
    if (loop) {
        //  Touch flushes, TTL expiry, kept waits: their next time depends
        //  on the requests, so a ticker, also called after each batch.
        irh_loop_ticker (loop, s_on_tick, server);
        if (irh_loop_run (loop) == 0)
            status = 0;
        irh_loop_destroy (&loop);
    }
    irh_info ("store: stopping");
    store_server_destroy (&server);
    irh_worker_destroy (&worker);
    store_db_destroy (&db);         //  flushes touches and counters
    irh_actor_cleanup (&actor);
    irh_log_close ();
    return status;
}
