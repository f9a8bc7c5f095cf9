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
#include "irh_loop.h"
#include <string.h>
#include <unistd.h>

//  What the handlers share.
typedef struct {
    irh_worker_t *worker;
    const char *service;
    int64_t started;
    zlistx_t *delayed;          //  s_delayed_t waiting for their delay:MS
    zlistx_t *held;             //  irh_request_t held by "hang", never answered
} s_echo_t;

typedef struct {
    s_echo_t *echo;
    irh_request_t *request;
    void *handle;               //  in echo->delayed
} s_delayed_t;

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

//  A delay:MS request's time has come.
static int
s_on_delayed (irh_loop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_delayed_t *delayed = (s_delayed_t *) arg;
    zlistx_detach (delayed->echo->delayed, delayed->handle);
    s_echo (delayed->echo->worker, &delayed->request);
    free (delayed);
    return 0;
}

static int
s_handle (irh_loop_t *loop, irh_request_t *request, void *arg)
{
    s_echo_t *self = (s_echo_t *) arg;
    irh_worker_t *worker = self->worker;
    zframe_t *first = zmsg_first (request->body);
    if (first && irh_msgs_id (first) == IRH_MSG_PING && zframe_size (first) == 1) {
        irh_pong_t pong = { .pid = (uint32_t) getpid (),
                            .uptime_ms = (uint64_t) (zclock_mono () - self->started) };
        snprintf (pong.service, sizeof pong.service, "%s", self->service);
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
        int delay = atoi (text + 6);
        s_delayed_t *delayed = (s_delayed_t *) zmalloc (sizeof (s_delayed_t));
        delayed->echo = self;
        delayed->request = request;
        delayed->handle = zlistx_add_end (self->delayed, delayed);
        irh_loop_timer (loop, delay > 0 ? (size_t) delay : 0, 1, s_on_delayed, delayed);
    }
    else
    if (first && zframe_streq (first, "hang"))
        zlistx_add_end (self->held, request);
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
    return 0;
}

//  Requests never answered (the loop stopped first) are dropped: the
//  broker fails them when we disconnect.
static void
s_unanswered_destroy (s_echo_t *self)
{
    s_delayed_t *delayed;
    while ((delayed = (s_delayed_t *) zlistx_detach (self->delayed, NULL))) {
        irh_request_destroy (&delayed->request);
        free (delayed);
    }
    zlistx_destroy (&self->delayed);
    irh_request_t *request;
    while ((request = (irh_request_t *) zlistx_detach (self->held, NULL)))
        irh_request_destroy (&request);
    zlistx_destroy (&self->held);
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
    s_echo_t self = { .service = actor.service, .started = zclock_mono () };
    self.worker = irh_worker_new (actor.service, actor.broker, actor.bind);
    irh_loop_t *loop = self.worker ? irh_loop_new (self.worker, s_handle, &self) : NULL;
    if (!loop) {
        irh_worker_destroy (&self.worker);
        irh_actor_cleanup (&actor);
        return 1;
    }
    self.delayed = zlistx_new ();
    self.held = zlistx_new ();
    irh_loop_run (loop);
    irh_loop_destroy (&loop);
    s_unanswered_destroy (&self);
    irh_worker_destroy (&self.worker);
    irh_actor_cleanup (&actor);
    return 0;
}
