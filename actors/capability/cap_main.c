/*  cap_main.c: irohds-capability, the actor behind service "cap".

    usage: irohds-capability [--home DIR] (--broker EP | --bind EP) [-v]

    The actor registers with the broker at once, before anything slow, so
    the supervisor sees it ready however loaded the machine is. At start it
    takes its profile from, in order: the fixed profile (cap.profile =
    "fixed" or IROHDS_CAP_PROFILE=fixed: nothing measured, for test nodes);
    <home>/machcap.cache when the file is valid and was made on this
    hardware (same fingerprint); otherwise a measurement in the background
    thread, the same one `remeasure` uses, which then writes the cache.
    Until that first measurement is done, machcap and verdict requests are
    held and answered when it completes; one held longer than S_HOLD_MS is
    answered with the previous profile (a cache file from other hardware)
    or, when there is none, the error "measuring". ping, remeasure and the
    heartbeats never wait for it. Live figures (RAM available, load, CPU
    idle, GPU memory free) are refreshed every 2 s.

    Test knob, read by this actor only: IROHDS_CAP_MEASURE_DELAY_MS=N makes
    every measurement start N ms late (at most 60 s), so tests can look at
    the actor while it measures.

    Requests (proto/cap.def): ping, machcap, verdict, remeasure.
*/
#include "cap.h"
#include "irh_actor.h"
#include "irh_log.h"
#include "irh_paths.h"
#include "irh_loop.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef IROHDS_VERSION
#define IROHDS_VERSION "0.0.0"
#endif
#define S_LIVE_MS 2000
//  How long a machcap or verdict request waits for the first measurement:
//  below the 10 s that tests and `irohds-ctl cap` wait, so they get an
//  answer (figures or "measuring") rather than a timeout. Clients that
//  wait less (the Python client's 2 s) fall back on their own.
#define S_HOLD_MS 8000
#define S_DELAY_MAX_MS 60000

//  A request waiting for the first measurement.
typedef struct {
    irh_request_t *request;
    int64_t expires;                //  zclock_mono
} s_held_t;

typedef struct {
    char *home;
    char *cache_path;
    irh_worker_t *worker;
    irh_loop_t *loop;
    irh_machcap_info_t info;        //  what we answer with
    bool have_info;                 //  info holds a profile (maybe only the previous one)
    bool settled;                   //  info is this machine's: measured, cached or fixed
    bool fixed;                     //  the fixed profile: never measure
    uint32_t delay_ms;              //  test knob IROHDS_CAP_MEASURE_DELAY_MS
    cap_cpu_sample_t cpu;
    int64_t started_ms;
    zactor_t *measuring;            //  background measurement, or NULL
    irh_machcap_info_t fresh;       //  filled by the measuring thread
    zlist_t *waiting;               //  remeasure requests to answer when done
    zlist_t *held;                  //  s_held_t: machcap/verdict before the first profile
    uint32_t cache_corrupt;         //  corrupt cache files seen
    uint32_t bad_requests;          //  requests that did not decode
} s_cap_t;

//  Test knob: wait delay_ms before measuring. Returns 1 when told to stop
//  ($TERM: leave at once), -1 when interrupted (skip the measurement, wait
//  for $TERM as usual), 0 when the delay is over.
static int
s_delay (zsock_t *pipe, uint32_t delay_ms)
{
    int64_t until = zclock_mono () + delay_ms;
    zpoller_t *poller = zpoller_new (pipe, NULL);
    int rc = 0;
    int64_t left;
    while (rc == 0 && (left = until - zclock_mono ()) > 0) {
        if (zpoller_wait (poller, (int) left)) {
            char *command = zstr_recv (pipe);
            if (command && streq (command, "$TERM"))
                rc = 1;
            zstr_free (&command);
        }
        else
        if (zpoller_terminated (poller))
            rc = -1;
    }
    zpoller_destroy (&poller);
    return rc;
}

//  Background measurement; the result goes into self->fresh, which the
//  main thread reads only after "DONE".
static void
s_measure_actor (zsock_t *pipe, void *arg)
{
    s_cap_t *self = (s_cap_t *) arg;
    zsock_signal (pipe, 0);
    int delayed = self->delay_ms ? s_delay (pipe, self->delay_ms) : 0;
    if (delayed > 0)
        return;
    if (delayed == 0) {
        cap_measure_all (self->home, &self->fresh);
        //  Cut short by a stop signal: the figures are partial, never
        //  report (or cache) them.
        if (!zsys_interrupted)
            zstr_send (pipe, "DONE");
    }
    while (true) {
        char *command = zstr_recv (pipe);
        bool term = !command || streq (command, "$TERM");
        zstr_free (&command);
        if (term)
            break;
    }
}

static int s_on_measured (irh_loop_t *loop, zsock_t *sock, void *arg);

static void
s_measure_start (s_cap_t *self)
{
    if (!self->measuring) {
        self->measuring = zactor_new (s_measure_actor, self);
        irh_loop_reader (self->loop, self->measuring, s_on_measured, self);
    }
}

static void
s_adopt (s_cap_t *self, const irh_machcap_info_t *info, bool from_cache)
{
    self->info = *info;
    if (from_cache)
        self->info.flags |= CAP_FLAG_CACHED;
    else
        self->info.flags &= ~CAP_FLAG_CACHED;
    cap_measure_live (&self->info, &self->cpu);
    self->have_info = true;
}

//  The profile to start with: fixed, or the cache file; otherwise a
//  background measurement (started later, once registered).
static void
s_load (s_cap_t *self)
{
    irh_machcap_info_t info;
    if (self->fixed) {
        cap_measure_fixed (self->home, &info);
        s_adopt (self, &info, false);
        self->settled = true;
        irh_info ("fixed profile: nothing measured (docs/coren.md)");
        return;
    }
    uint64_t fingerprint = cap_fingerprint (self->home);
    bool corrupt = false;
    int rc = cap_cache_load (self->cache_path, fingerprint, &info, &corrupt);
    if (rc == 0) {
        irh_debug ("using %s (fingerprint %016llx)", self->cache_path,
                   (unsigned long long) fingerprint);
        s_adopt (self, &info, true);
        self->settled = true;
        return;
    }
    if (rc == 1) {
        //  Figures of other hardware: better than nothing for a client
        //  that cannot wait for the new measurement.
        irh_info ("hardware fingerprint changed: measuring again");
        s_adopt (self, &info, true);
    }
    else
    if (corrupt) {
        self->cache_corrupt++;
        irh_warn ("%s is corrupt: ignored, measuring and rewriting it", self->cache_path);
    }
}

//  cap.profile (IROHDS_CAP_PROFILE wins): true for "fixed". A value that
//  is neither "fixed" nor "measured" is logged and measuring goes on.
static bool
s_want_fixed (irh_config_t *config)
{
    const char *where = "IROHDS_CAP_PROFILE";
    const char *profile = getenv (where);
    if (!profile || !*profile) {
        where = "cap.profile";
        size_t before = irh_config_errors (config);
        profile = irh_config_str (config, "cap.profile", "measured");
        for (size_t i = before; i < irh_config_errors (config); i++)
            irh_warn ("%s", irh_config_error (config, i));
    }
    if (streq (profile, "fixed"))
        return true;
    if (!streq (profile, "measured"))
        irh_warn ("%s = \"%.64s\" is neither \"measured\" nor \"fixed\": measuring",
                  where, profile);
    return false;
}

//  IROHDS_CAP_MEASURE_DELAY_MS (tests only): 0 when unset or invalid.
static uint32_t
s_delay_knob (void)
{
    const char *text = getenv ("IROHDS_CAP_MEASURE_DELAY_MS");
    if (!text || !*text)
        return 0;
    char *end;
    errno = 0;
    unsigned long value = strtoul (text, &end, 10);
    if (errno || *end || *text == '-' || value > S_DELAY_MAX_MS) {
        irh_warn ("IROHDS_CAP_MEASURE_DELAY_MS=%.32s is not 0..%d: ignored", text,
                  S_DELAY_MAX_MS);
        return 0;
    }
    irh_warn ("IROHDS_CAP_MEASURE_DELAY_MS=%lu: measurements start late (test knob)", value);
    return (uint32_t) value;
}

static zmsg_t *
s_info_reply (s_cap_t *self)
{
    self->info.cache_corrupt = self->cache_corrupt;
    self->info.bad_requests = self->bad_requests;
    zframe_t *frame = irh_machcap_info_encode (&self->info);
    zmsg_t *reply = zmsg_new ();
    if (frame)
        zmsg_append (reply, &frame);
    return reply;
}

//  A request that did not decode: counted (reported in machcap_info) and
//  answered, never fatal.
static void
s_bad_request (s_cap_t *self, irh_request_t *request, const char *what)
{
    self->bad_requests++;
    irh_worker_error (self->worker, request, "bad-request", "%s: %s", what, irh_msgs_error ());
}

static uint64_t
s_bits (double value)
{
    uint64_t bits;
    memcpy (&bits, &value, sizeof (bits));
    return bits;
}

static void
s_handle_verdict (s_cap_t *self, irh_request_t *request, zframe_t *frame)
{
    irh_verdict_t request_msg;
    if (irh_verdict_decode (frame, &request_msg) != 0) {
        s_bad_request (self, request, "verdict");
        return;
    }
    irh_fncost_cap_t cap;
    irh_fncost_cap_from_info (&self->info, &cap);
    irh_fncost_t cost = irh_fncost_new (request_msg.flops, request_msg.mem_bytes,
                                        request_msg.peak_mem, request_msg.result_bytes);
    irh_fncost_verdict_t v = irh_fncost_verdict (&cap, cost, (double) request_msg.peer_bw,
                                   (double) request_msg.peer_latency_ns / 1e9,
                                   request_msg.no_holder == 0);
    irh_verdict_info_t out;
    memset (&out, 0, sizeof (out));
    out.t_compute = s_bits (v.t_compute);
    out.t_fetch = s_bits (v.t_fetch);
    out.t_store = s_bits (v.t_store);
    out.score = s_bits (v.score);
    snprintf (out.bottleneck, sizeof (out.bottleneck), "%s", irh_fncost_neck_name (v.bottleneck));
    irh_fncost_verdict_format (&v, out.text, sizeof (out.text));
    zmsg_t *reply = zmsg_new ();
    zframe_t *encoded = irh_verdict_info_encode (&out);
    assert (encoded);
    zmsg_append (reply, &encoded);
    irh_worker_reply (self->worker, request, &reply);
}

//  machcap or verdict, answered from self->info.
static void
s_serve (s_cap_t *self, irh_request_t *request)
{
    zframe_t *frame = zmsg_first (request->body);
    if (irh_msgs_id (frame) == IRH_MSG_VERDICT)
        s_handle_verdict (self, request, frame);
    else {
        irh_machcap_t msg;
        if (irh_machcap_decode (frame, &msg) != 0)
            s_bad_request (self, request, "machcap");
        else {
            zmsg_t *reply = s_info_reply (self);
            irh_worker_reply (self->worker, request, &reply);
        }
    }
    irh_request_destroy (&request);
}

//  A request that cannot wait any longer for the first measurement: the
//  previous profile if there is one, else a clear error.
static void
s_give_up (s_cap_t *self, irh_request_t *request)
{
    if (self->have_info)
        s_serve (self, request);
    else {
        irh_worker_error (self->worker, request, "measuring",
                          "the first measurement of this machine is still running; "
                          "ask again in a few seconds");
        irh_request_destroy (&request);
    }
}

static void
s_hold (s_cap_t *self, irh_request_t *request)
{
    if (zlist_size (self->held) >= IRH_QUEUE_MAX) {
        s_give_up (self, request);
        return;
    }
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    held->request = request;
    held->expires = zclock_mono () + S_HOLD_MS;
    zlist_append (self->held, held);
}

//  Answer the held requests whose time is up (all of them, oldest first,
//  when all is true). Returns ms until the next one expires, or -1.
static int64_t
s_release (s_cap_t *self, int64_t now, bool all)
{
    s_held_t *held;
    while ((held = (s_held_t *) zlist_first (self->held)) && (all || held->expires <= now)) {
        zlist_pop (self->held);
        if (all && self->settled)
            s_serve (self, held->request);
        else
            s_give_up (self, held->request);
        free (held);
    }
    return held ? held->expires - now : -1;
}

static void
s_handle (s_cap_t *self, irh_request_t *request)
{
    zframe_t *frame = zmsg_first (request->body);
    int id = irh_msgs_id (frame);
    if (id == IRH_MSG_PING) {
        irh_pong_t pong;
        memset (&pong, 0, sizeof (pong));
        snprintf (pong.service, sizeof (pong.service), "cap");
        snprintf (pong.version, sizeof (pong.version), "%s", IROHDS_VERSION);
        pong.pid = (uint32_t) getpid ();
        pong.uptime_ms = (uint64_t) (zclock_mono () - self->started_ms);
        zmsg_t *reply = zmsg_new ();
        zframe_t *encoded = irh_pong_encode (&pong);
        assert (encoded);
        zmsg_append (reply, &encoded);
        irh_worker_reply (self->worker, request, &reply);
    }
    else
    if (id == IRH_MSG_MACHCAP || id == IRH_MSG_VERDICT) {
        if (self->settled)
            s_serve (self, request);
        else
            s_hold (self, request);
        return;
    }
    else
    if (id == IRH_MSG_REMEASURE) {
        irh_remeasure_t msg;
        if (irh_remeasure_decode (frame, &msg) != 0)
            s_bad_request (self, request, "remeasure");
        else
        if (self->fixed) {
            //  Nothing to measure: the same figures, dated now.
            irh_machcap_info_t info;
            cap_measure_fixed (self->home, &info);
            s_adopt (self, &info, false);
            zmsg_t *reply = s_info_reply (self);
            irh_worker_reply (self->worker, request, &reply);
        }
        else {
            if (!self->measuring)
                irh_info ("remeasure requested");
            s_measure_start (self);
            //  Answered when the measurement is done (several may wait).
            zlist_append (self->waiting, request);
            return;
        }
    }
    else {
        self->bad_requests++;
        irh_worker_error (self->worker, request, id < 0 ? "bad-request" : "unknown-command",
                          "cap does not know message %d (%s)", id, irh_msgs_name (id));
    }
    irh_request_destroy (&request);
}

static void
s_measure_done (s_cap_t *self)
{
    char *done = zstr_recv (self->measuring);
    bool measured = done && streq (done, "DONE");
    zstr_free (&done);
    zactor_destroy (&self->measuring);
    if (!measured)
        return;                     //  the thread was told to stop first
    if (cap_cache_save (self->cache_path, &self->fresh) != 0)
        irh_warn ("cannot write %s: measuring again at next start", self->cache_path);
    s_adopt (self, &self->fresh, false);
    self->settled = true;
    irh_info ("measured in %.0f ms: %.1f GFLOP/s core, %.1f GFLOP/s all, %.1f GB/s memory, "
              "disk %.0f/%.0f MB/s r/w", self->info.measure_wall_us / 1e3,
              self->info.flops_core / 1e9, self->info.flops_all / 1e9, self->info.mem_bw / 1e9,
              self->info.disk_read / 1e6, self->info.disk_write / 1e6);
    irh_request_t *request;
    while ((request = (irh_request_t *) zlist_pop (self->waiting))) {
        zmsg_t *reply = s_info_reply (self);
        irh_worker_reply (self->worker, request, &reply);
        irh_request_destroy (&request);
    }
    s_release (self, zclock_mono (), true);
}

//  The measuring thread said DONE (or stopped).
static int
s_on_measured (irh_loop_t *loop, zsock_t *sock, void *arg)
{
    (void) sock;
    s_cap_t *self = (s_cap_t *) arg;
    irh_loop_reader_end (loop, self->measuring);
    s_measure_done (self);
    return 0;
}

static int
s_on_request (irh_loop_t *loop, irh_request_t *request, void *arg)
{
    (void) loop;
    s_handle ((s_cap_t *) arg, request);
    return 0;
}

//  Live figures (RAM available, load, CPU idle, GPU memory free).
static int
s_on_live (irh_loop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_cap_t *self = (s_cap_t *) arg;
    cap_measure_live (&self->info, &self->cpu);
    return 0;
}

//  Held requests whose time is up; called again when the next one is.
static int
s_on_held (irh_loop_t *loop, void *arg)
{
    (void) loop;
    int64_t until = s_release ((s_cap_t *) arg, zclock_mono (), false);
    //  None held: a request held later runs us again (tickers run after
    //  every request).
    return until < 0 ? S_HOLD_MS : (int) until;
}

int
main (int argc, char *argv [])
{
    irh_actor_t actor;
    int status = irh_actor_init (&actor, "capability", "cap", false, argc, argv);
    if (status >= 0) {
        irh_actor_cleanup (&actor);
        return status;
    }
    const char *broker = actor.broker, *bind = actor.bind;
    irh_paths_t *paths = actor.paths;
    s_cap_t self;
    memset (&self, 0, sizeof (self));
    self.home = strdup (paths->home);
    self.cache_path = zsys_sprintf ("%s/machcap.cache", paths->home);
    self.fixed = s_want_fixed (actor.config);
    if (!self.fixed)
        self.delay_ms = s_delay_knob ();
    irh_actor_cleanup (&actor);
    self.started_ms = zclock_mono ();
    self.waiting = zlist_new ();
    self.held = zlist_new ();
    cap_sys_cpu_idle (&self.cpu, &self.info.cpu_idle_ppm);     //  prime

    s_load (&self);                 //  fast: no measurement here

    self.worker = irh_worker_new ("cap", broker, bind);
    if (self.worker)
        self.loop = irh_loop_new (self.worker, s_on_request, &self);
    if (!self.loop) {
        irh_error ("cannot start the cap worker");
        return 1;
    }
    irh_info ("serving cap %s %s", broker ? "via" : "at", broker ? broker : bind);
    if (!self.settled) {
        irh_info ("measuring this machine in the background");
        s_measure_start (&self);
    }
    irh_loop_timer (self.loop, S_LIVE_MS, 0, s_on_live, &self);
    irh_loop_ticker (self.loop, s_on_held, &self);
    status = irh_loop_run (self.loop) == 0 ? 0 : 1;
    irh_info ("stopping");
    irh_loop_destroy (&self.loop);
    zactor_destroy (&self.measuring);
    irh_request_t *request;
    while ((request = (irh_request_t *) zlist_pop (self.waiting)))
        irh_request_destroy (&request);
    zlist_destroy (&self.waiting);
    s_held_t *held;
    while ((held = (s_held_t *) zlist_pop (self.held))) {
        irh_request_destroy (&held->request);
        free (held);
    }
    zlist_destroy (&self.held);
    irh_worker_destroy (&self.worker);
    free (self.home);
    zstr_free (&self.cache_path);
    irh_log_close ();
    return status;
}
