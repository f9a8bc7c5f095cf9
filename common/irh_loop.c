/*  irh_loop.c: the actors' event loop (irh_loop.h): the broker worker,
    extra readers, timers and tickers, and an orderly stop on SIGTERM or
    SIGINT, on one zloop.

    Readers are zloop readers and pollers. Timers are not zloop timers but
    our own list behind one timerfd polled by zloop, for three reasons
    found in CZMQ 4.2.1's zloop: a timer ended by a handler may still fire
    later in the same pass (it is only put on a zombie list); once
    zloop_start has returned, zloop_timer_end frees timers in place, so
    restarting the reactor after a stray EINTR would let a timer handler
    free the timer zloop is walking; and a period cannot change without
    ending and making timers. With our own list an ended timer never fires
    again, a ticker's next time is simply set, and run can restart zloop
    when poll was interrupted by a signal that is not a stop.
*/
#include "irh_loop.h"
#include "irh_log.h"
#include <errno.h>
#include <sys/timerfd.h>
#include <unistd.h>

//  Requests taken from the worker per wake-up: enough to drain a burst
//  cheaply, few enough that timers (heartbeats) still run under load.
#define S_BATCH 256

typedef struct {
    irh_loop_t *loop;
    void *sock;                     //  zsock_t or zactor_t, or NULL for fd
    int fd;
    irh_loop_reader_fn *on_sock;
    irh_loop_fd_fn *on_fd;
    void *arg;
    void *handle;                   //  in self->readers
} s_reader_t;

typedef struct {
    int id;
    size_t delay;
    size_t times;                   //  left; 0 = until ended
    int64_t due;                    //  zclock_mono ms
    bool dead;                      //  ended or spent: never called again
    irh_loop_timer_fn *on_timer;    //  a timer ...
    irh_loop_tick_fn *on_tick;      //  ... or a ticker
    void *arg;
    void *handle;                   //  in self->timers
} s_timer_t;

struct _irh_loop_t {
    zloop_t *zloop;
    irh_worker_t *worker;
    irh_loop_request_fn *handler;
    void *arg;
    int timerfd;
    int64_t armed;                  //  due the timerfd is set for, 0 = none
    zlistx_t *readers;              //  s_reader_t
    zlistx_t *timers;               //  s_timer_t, timers and tickers
    int last_id;
    s_timer_t **due;                //  the timers of the current pass
    size_t due_max;
    bool in_pass;                   //  dead timers are removed after the pass
    bool stopping;                  //  a handler asked to stop
};

//  A handler's answer, remembered so run tells a stop from a failure.
static int
s_result (irh_loop_t *self, int rc)
{
    if (rc == -1)
        self->stopping = true;
    return rc == -1 ? -1 : 0;
}

//  --------------------------------------------------------------------------
//  Timers

//  Set the timerfd for the earliest live timer, if that changed.
static void
s_arm (irh_loop_t *self)
{
    int64_t due = 0;
    for (s_timer_t *timer = (s_timer_t *) zlistx_first (self->timers); timer;
         timer = (s_timer_t *) zlistx_next (self->timers))
        if (!timer->dead && (due == 0 || timer->due < due))
            due = timer->due;
    if (due != 0 && due < 1)
        due = 1;                    //  0 would disarm the timerfd
    if (due == self->armed)
        return;
    struct itimerspec spec;
    memset (&spec, 0, sizeof spec);
    spec.it_value.tv_sec = (time_t) (due / 1000);
    spec.it_value.tv_nsec = (long) (due % 1000) * 1000000L;
    //  zclock_mono is CLOCK_MONOTONIC in ms, as the timerfd's clock.
    if (timerfd_settime (self->timerfd, TFD_TIMER_ABSTIME, &spec, NULL) == 0)
        self->armed = due;
    else
        irh_error ("loop: timerfd_settime: %s", strerror (errno));
}

static void
s_purge (irh_loop_t *self)
{
    s_timer_t *timer = (s_timer_t *) zlistx_first (self->timers);
    while (timer) {
        s_timer_t *next = (s_timer_t *) zlistx_next (self->timers);
        if (timer->dead) {
            zlistx_delete (self->timers, timer->handle);
            free (timer);
        }
        timer = next;
    }
}

static s_timer_t *
s_timer_add (irh_loop_t *self, size_t delay, size_t times)
{
    s_timer_t *timer = (s_timer_t *) zmalloc (sizeof (s_timer_t));
    assert (timer);
    timer->id = ++self->last_id;
    timer->delay = delay;
    timer->times = times;
    timer->due = zclock_mono () + (int64_t) delay;
    timer->handle = zlistx_add_end (self->timers, timer);
    assert (timer->handle);
    return timer;
}

//  Call due timers (tickers_only: every ticker, due or not, after input
//  that may have brought their work nearer). The due ones are listed
//  first: handlers may add timers (they wait for the next pass) and end
//  any (marked dead, skipped, removed after the pass).
static int
s_timers_run (irh_loop_t *self, bool tickers_only)
{
    assert (!self->in_pass);
    int64_t now = zclock_mono ();
    size_t count = 0;
    if (self->due_max < zlistx_size (self->timers)) {
        self->due_max = zlistx_size (self->timers) * 2;
        self->due = (s_timer_t **) realloc (self->due, self->due_max * sizeof (s_timer_t *));
        assert (self->due);
    }
    for (s_timer_t *timer = (s_timer_t *) zlistx_first (self->timers); timer;
         timer = (s_timer_t *) zlistx_next (self->timers))
        if (!timer->dead && (tickers_only ? timer->on_tick != NULL : timer->due <= now))
            self->due [count++] = timer;
    self->in_pass = true;
    int rc = 0;
    for (size_t index = 0; index < count && rc == 0; index++) {
        s_timer_t *timer = self->due [index];
        if (timer->dead)
            continue;
        if (timer->on_tick) {
            int ms = timer->on_tick (self, timer->arg);
            if (ms < 0)
                rc = -1;
            else
                timer->due = zclock_mono () + ms;
            continue;
        }
        rc = timer->on_timer (self, timer->id, timer->arg);
        if (timer->dead)
            continue;               //  the handler ended it
        if (timer->times && --timer->times == 0)
            timer->dead = true;
        else {
            //  Late (a slow handler before us): skip ahead rather than
            //  fire a burst to catch up.
            timer->due += (int64_t) timer->delay;
            if (timer->due <= now)
                timer->due = now + (int64_t) timer->delay;
        }
    }
    self->in_pass = false;
    s_purge (self);
    s_arm (self);
    return s_result (self, rc);
}

static int
s_on_timerfd (zloop_t *zloop, zmq_pollitem_t *item, void *arg)
{
    (void) zloop;
    irh_loop_t *self = (irh_loop_t *) arg;
    uint64_t expirations;
    //  Non-blocking: nothing to read after a re-arm raced the poll.
    if (read (item->fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
        irh_warn ("loop: timerfd read: %s", strerror (errno));
    self->armed = 0;                //  a one-shot setting: spent now
    return s_timers_run (self, false);
}

int
irh_loop_timer (irh_loop_t *self, size_t delay, size_t times,
                irh_loop_timer_fn *handler, void *arg)
{
    assert (self);
    assert (handler);
    s_timer_t *timer = s_timer_add (self, delay, times);
    timer->on_timer = handler;
    timer->arg = arg;
    if (!self->in_pass)
        s_arm (self);
    return timer->id;
}

int
irh_loop_timer_end (irh_loop_t *self, int timer_id)
{
    assert (self);
    for (s_timer_t *timer = (s_timer_t *) zlistx_first (self->timers); timer;
         timer = (s_timer_t *) zlistx_next (self->timers))
        if (timer->id == timer_id && !timer->dead && timer->on_timer) {
            timer->dead = true;
            if (!self->in_pass) {
                s_purge (self);
                s_arm (self);
            }
            return 0;
        }
    return -1;
}

int
irh_loop_ticker (irh_loop_t *self, irh_loop_tick_fn *handler, void *arg)
{
    assert (self);
    assert (handler);
    s_timer_t *timer = s_timer_add (self, 0, 0);
    timer->on_tick = handler;
    timer->arg = arg;
    if (!self->in_pass)
        s_arm (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Readers

//  After input: tickers may have nearer work now (and the worker, which
//  just replied, a later heartbeat).
static int
s_after_input (irh_loop_t *self, int rc)
{
    if (rc == 0 && !self->in_pass)
        rc = s_timers_run (self, true);
    return s_result (self, rc);
}

static int
s_on_worker (zloop_t *zloop, zsock_t *sock, void *arg)
{
    (void) zloop;
    irh_loop_t *self = (irh_loop_t *) arg;
    int rc = 0;
    //  A stop signal between two requests: the one in hand is finished,
    //  the rest stay queued (the broker fails them when we disconnect).
    for (int count = 0; count < S_BATCH && rc == 0 && !zsys_interrupted; count++) {
        if (!(zsock_events (sock) & ZMQ_POLLIN))
            break;
        irh_request_t *request = irh_worker_recv (self->worker);
        if (request)
            rc = self->handler (self, request, self->arg);
    }
    return s_after_input (self, rc);
}

static int
s_on_sock (zloop_t *zloop, zsock_t *sock, void *arg)
{
    (void) zloop;
    s_reader_t *reader = (s_reader_t *) arg;
    //  The handler may end (and free) its own reader: take what we need.
    irh_loop_t *self = reader->loop;
    int rc = reader->on_sock (self, sock, reader->arg);
    return s_after_input (self, rc);
}

static int
s_on_fd (zloop_t *zloop, zmq_pollitem_t *item, void *arg)
{
    (void) zloop;
    s_reader_t *reader = (s_reader_t *) arg;
    irh_loop_t *self = reader->loop;
    int rc = reader->on_fd (self, item->fd, reader->arg);
    return s_after_input (self, rc);
}

static s_reader_t *
s_reader_add (irh_loop_t *self, void *sock, int fd, void *arg)
{
    s_reader_t *reader = (s_reader_t *) zmalloc (sizeof (s_reader_t));
    assert (reader);
    reader->loop = self;
    reader->sock = sock;
    reader->fd = fd;
    reader->arg = arg;
    reader->handle = zlistx_add_end (self->readers, reader);
    assert (reader->handle);
    return reader;
}

//  Forget our records of sock (or of fd when sock is NULL). zloop never
//  calls an ended reader again: ending one makes it rebuild its poll set
//  before it calls any other.
static void
s_readers_forget (irh_loop_t *self, void *sock, int fd)
{
    s_reader_t *reader = (s_reader_t *) zlistx_first (self->readers);
    while (reader) {
        s_reader_t *next = (s_reader_t *) zlistx_next (self->readers);
        if (sock ? reader->sock == sock : (reader->sock == NULL && reader->fd == fd)) {
            zlistx_delete (self->readers, reader->handle);
            free (reader);
        }
        reader = next;
    }
}

int
irh_loop_reader (irh_loop_t *self, void *sock, irh_loop_reader_fn *handler, void *arg)
{
    assert (self);
    assert (sock);
    assert (handler);
    s_reader_t *reader = s_reader_add (self, sock, -1, arg);
    reader->on_sock = handler;
    if (zloop_reader (self->zloop, (zsock_t *) sock, s_on_sock, reader)) {
        s_readers_forget (self, sock, -1);
        return -1;
    }
    //  Never dropped silently by zloop: the handler sees every wake-up.
    zloop_reader_set_tolerant (self->zloop, (zsock_t *) sock);
    return 0;
}

void
irh_loop_reader_end (irh_loop_t *self, void *sock)
{
    assert (self);
    assert (sock);
    zloop_reader_end (self->zloop, (zsock_t *) sock);
    s_readers_forget (self, sock, -1);
}

int
irh_loop_fd (irh_loop_t *self, int fd, irh_loop_fd_fn *handler, void *arg)
{
    assert (self);
    assert (fd >= 0 && fd != self->timerfd);
    assert (handler);
    s_reader_t *reader = s_reader_add (self, NULL, fd, arg);
    reader->on_fd = handler;
    zmq_pollitem_t item = { NULL, fd, ZMQ_POLLIN, 0 };
    if (zloop_poller (self->zloop, &item, s_on_fd, reader)) {
        s_readers_forget (self, NULL, fd);
        return -1;
    }
    zloop_poller_set_tolerant (self->zloop, &item);
    return 0;
}

void
irh_loop_fd_end (irh_loop_t *self, int fd)
{
    assert (self);
    assert (fd >= 0 && fd != self->timerfd);
    zmq_pollitem_t item = { NULL, fd, ZMQ_POLLIN, 0 };
    zloop_poller_end (self->zloop, &item);
    s_readers_forget (self, NULL, fd);
}

//  --------------------------------------------------------------------------
//  The loop

//  The worker's heartbeats and reconnects: a ticker like any other.
static int
s_worker_tick (irh_loop_t *self, void *arg)
{
    (void) arg;
    return irh_worker_tick (self->worker);
}

irh_loop_t *
irh_loop_new (irh_worker_t *worker, irh_loop_request_fn *handler, void *arg)
{
    assert (worker);
    assert (handler);
    //  CZMQ's SIGTERM/SIGINT handler (zsys_interrupted) is our stop.
    zsys_init ();
    irh_loop_t *self = (irh_loop_t *) zmalloc (sizeof (irh_loop_t));
    assert (self);
    self->worker = worker;
    self->handler = handler;
    self->arg = arg;
    self->readers = zlistx_new ();
    self->timers = zlistx_new ();
    self->zloop = zloop_new ();
    assert (self->readers && self->timers && self->zloop);
    self->timerfd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (self->timerfd < 0) {
        irh_error ("loop: timerfd_create: %s", strerror (errno));
        irh_loop_destroy (&self);
        return NULL;
    }
    zmq_pollitem_t item = { NULL, self->timerfd, ZMQ_POLLIN, 0 };
    if (zloop_poller (self->zloop, &item, s_on_timerfd, self)
    ||  zloop_reader (self->zloop, irh_worker_sock (worker), s_on_worker, self)) {
        irh_error ("loop: cannot poll the timer or the worker");
        irh_loop_destroy (&self);
        return NULL;
    }
    zloop_poller_set_tolerant (self->zloop, &item);
    zloop_reader_set_tolerant (self->zloop, irh_worker_sock (worker));
    irh_loop_ticker (self, s_worker_tick, NULL);
    return self;
}

void
irh_loop_destroy (irh_loop_t **self_p)
{
    assert (self_p);
    irh_loop_t *self = *self_p;
    if (self) {
        zloop_destroy (&self->zloop);
        s_reader_t *reader;
        while ((reader = (s_reader_t *) zlistx_detach (self->readers, NULL)))
            free (reader);
        zlistx_destroy (&self->readers);
        s_timer_t *timer;
        while ((timer = (s_timer_t *) zlistx_detach (self->timers, NULL)))
            free (timer);
        zlistx_destroy (&self->timers);
        free (self->due);
        if (self->timerfd >= 0)
            close (self->timerfd);
        free (self);
        *self_p = NULL;
    }
}

int
irh_loop_run (irh_loop_t *self)
{
    assert (self);
    assert (!self->in_pass);
    self->stopping = false;
    while (true) {
        //  -1: a handler (ours, or one registered on the zloop directly)
        //  asked to stop.
        int rc = zloop_start (self->zloop);
        if (rc == -1 || self->stopping || zsys_interrupted)
            return 0;
        //  zloop gives up on any failed poll. A signal that is not a stop
        //  (its handler did not set zsys_interrupted) is no reason to.
        int error = zmq_errno ();
        if (error == EINTR) {
            irh_debug ("loop: poll interrupted by a signal: going on");
            continue;
        }
        irh_error ("loop: poll failed: %s", zmq_strerror (error));
        return -1;
    }
}

zloop_t *
irh_loop_zloop (irh_loop_t *self)
{
    assert (self);
    return self->zloop;
}

irh_worker_t *
irh_loop_worker (irh_loop_t *self)
{
    assert (self);
    return self->worker;
}
