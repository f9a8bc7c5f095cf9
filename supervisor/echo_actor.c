/*  echo_actor.c: irohds-echo-actor, a trivial actor for tests and
    benchmarks of the broker and supervisor.

    usage: irohds-echo-actor [--home DIR] (--broker EP | --bind EP)
                             [--service NAME] [-v]

    Answers `ping` with `pong`; any other body is echoed back, except text
    bodies that are test commands:
      delay:MS[:tag]  reply (echo) after MS milliseconds, so replies can
                      overtake each other (out-of-order tests)
      hang            never reply
      crash           exit(3) at once, holding every request in flight
      error           reply ERR unknown-command
*/
#include "irh_actor.h"
#include "irh_log.h"
#include "irh_msgs.h"
#include "irh_worker.h"
#include <string.h>
#include <unistd.h>

typedef struct {
    irh_request_t *request;
    int64_t due;
} delayed_t;

static bool
s_is_text (zframe_t *frame, const char *prefix)
{
    size_t len = strlen (prefix);
    return zframe_size (frame) >= len && memcmp (zframe_data (frame), prefix, len) == 0;
}

//  Reply with the request's own body.
static void
s_echo (irh_worker_t *worker, irh_request_t **request_p)
{
    zmsg_t *body = (*request_p)->body;
    (*request_p)->body = NULL;
    irh_worker_reply (worker, *request_p, &body);
    irh_request_destroy (request_p);
}

static void
s_handle (irh_worker_t *worker, irh_request_t *request, const char *service,
          int64_t started, zlistx_t *delayed, zlistx_t *held)
{
    zframe_t *first = zmsg_first (request->body);
    if (first && irh_msgs_id (first) == IRH_MSG_PING && zframe_size (first) == 1) {
        irh_pong_t pong = { .pid = (uint32_t) getpid (),
                            .uptime_ms = (uint64_t) (zclock_mono () - started) };
        snprintf (pong.service, sizeof pong.service, "%s", service);
        snprintf (pong.version, sizeof pong.version, "0.1.0");
        zmsg_t *body = zmsg_new ();
        zframe_t *frame = irh_pong_encode (&pong);
        zmsg_append (body, &frame);
        irh_worker_reply (worker, request, &body);
        irh_request_destroy (&request);
    }
    else
    if (first && s_is_text (first, "delay:")) {
        char text [32] = "";
        size_t size = zframe_size (first) < sizeof text - 1 ? zframe_size (first)
                                                             : sizeof text - 1;
        memcpy (text, zframe_data (first), size);
        delayed_t *item = (delayed_t *) zmalloc (sizeof (delayed_t));
        item->request = request;
        item->due = zclock_mono () + atoi (text + 6);
        zlistx_add_end (delayed, item);
    }
    else
    if (first && zframe_streq (first, "hang"))
        zlistx_add_end (held, request);
    else
    if (first && zframe_streq (first, "crash"))
        _exit (3);
    else
    if (first && zframe_streq (first, "error")) {
        irh_worker_error (worker, request, "unknown-command", "echo has no such command");
        irh_request_destroy (&request);
    }
    else
        s_echo (worker, &request);
}

int
main (int argc, char *argv [])
{
    irh_actor_t actor;
    int status = irh_actor_init (&actor, "echo-actor", "echo", true, argc, argv);
    if (status >= 0) {
        irh_actor_cleanup (&actor);
        return status;
    }
    const char *broker = actor.broker, *bind = actor.bind, *service = actor.service;
    irh_worker_t *worker = irh_worker_new (service, broker, bind);
    if (!worker) {
        irh_actor_cleanup (&actor);
        return 1;
    }
    int64_t started = zclock_mono ();
    zlistx_t *delayed = zlistx_new ();
    zlistx_t *held = zlistx_new ();
    zpoller_t *poller = zpoller_new (irh_worker_sock (worker), NULL);
    while (!zsys_interrupted) {
        int timeout = irh_worker_tick (worker);
        int64_t now = zclock_mono ();
        for (delayed_t *item = (delayed_t *) zlistx_first (delayed); item;
             item = (delayed_t *) zlistx_next (delayed))
            if (item->due - now < timeout)
                timeout = item->due <= now ? 0 : (int) (item->due - now);
        if (zpoller_wait (poller, timeout)) {
            irh_request_t *request;
            while ((request = irh_worker_recv (worker)))
                s_handle (worker, request, service, started, delayed, held);
        }
        else
        if (zpoller_terminated (poller))
            break;
        now = zclock_mono ();
        delayed_t *item = (delayed_t *) zlistx_first (delayed);
        while (item) {
            if (item->due <= now) {
                s_echo (worker, &item->request);
                free (item);
                zlistx_delete (delayed, zlistx_cursor (delayed));
                item = (delayed_t *) zlistx_first (delayed);
            }
            else
                item = (delayed_t *) zlistx_next (delayed);
        }
    }
    zpoller_destroy (&poller);
    for (delayed_t *item = (delayed_t *) zlistx_first (delayed); item;
         item = (delayed_t *) zlistx_next (delayed)) {
        irh_request_destroy (&item->request);
        free (item);
    }
    zlistx_destroy (&delayed);
    for (irh_request_t *request = (irh_request_t *) zlistx_first (held); request;
         request = (irh_request_t *) zlistx_next (held))
        irh_request_destroy (&request);
    zlistx_destroy (&held);
    irh_worker_destroy (&worker);
    irh_actor_cleanup (&actor);
    return 0;
}
