/*  cap_main.c: irohds-capability, the actor behind service "cap".

    usage: irohds-capability [--home DIR] (--broker EP | --bind EP) [-v]

    At start it loads <home>/machcap.cache when the file is valid and was
    made on this hardware (same fingerprint); otherwise it measures (at most
    ~2 s, before registering, so no heartbeat is missed) and writes the
    cache. `remeasure` runs a new measurement in a background thread while
    the actor keeps answering with the previous figures. Live figures (RAM
    available, load, CPU idle, GPU memory free) are refreshed every 2 s.

    Requests (proto/cap.def): ping, machcap, verdict, remeasure.
*/
#include "cap.h"
#include "irh_actor.h"
#include "irh_log.h"
#include "irh_paths.h"
#include "irh_worker.h"
#include <math.h>
#include <string.h>
#include <unistd.h>

#ifndef IROHDS_VERSION
#define IROHDS_VERSION "0.0.0"
#endif
#define S_LIVE_MS 2000

typedef struct {
    char *home;
    char *cache_path;
    irh_worker_t *worker;
    irh_machcap_info_t info;        //  what we answer with
    cap_cpu_sample_t cpu;
    int64_t started_ms;
    int64_t live_due;
    zactor_t *measuring;            //  background remeasure, or NULL
    irh_machcap_info_t fresh;       //  filled by the measuring thread
    zlist_t *waiting;               //  remeasure requests to answer when done
    uint32_t cache_corrupt;         //  corrupt cache files seen
    uint32_t bad_requests;          //  requests that did not decode
} s_cap_t;

//  Background measurement; the result goes into self->fresh, which the
//  main thread reads only after "DONE".
static void
s_measure_actor (zsock_t *pipe, void *arg)
{
    s_cap_t *self = (s_cap_t *) arg;
    zsock_signal (pipe, 0);
    cap_measure_all (self->home, &self->fresh);
    zstr_send (pipe, "DONE");
    while (true) {
        char *command = zstr_recv (pipe);
        bool term = !command || streq (command, "$TERM");
        zstr_free (&command);
        if (term)
            break;
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
}

static void
s_measure_now (s_cap_t *self)
{
    irh_machcap_info_t info;
    cap_measure_all (self->home, &info);
    irh_info ("measured in %.0f ms: %.1f GFLOP/s core, %.1f GFLOP/s all, %.1f GB/s memory, "
              "disk %.0f/%.0f MB/s r/w", info.measure_wall_us / 1e3, info.flops_core / 1e9,
              info.flops_all / 1e9, info.mem_bw / 1e9, info.disk_read / 1e6,
              info.disk_write / 1e6);
    if (cap_cache_save (self->cache_path, &info) != 0)
        irh_warn ("cannot write %s: measuring again at next start", self->cache_path);
    s_adopt (self, &info, false);
}

static void
s_load_or_measure (s_cap_t *self)
{
    uint64_t fingerprint = cap_fingerprint (self->home);
    irh_machcap_info_t info;
    bool corrupt = false;
    if (cap_cache_load (self->cache_path, fingerprint, &info, &corrupt) == 0) {
        irh_debug ("using %s (fingerprint %016llx)", self->cache_path,
                   (unsigned long long) fingerprint);
        s_adopt (self, &info, true);
        return;
    }
    if (corrupt) {
        self->cache_corrupt++;
        irh_warn ("%s is corrupt: ignored, measuring and rewriting it", self->cache_path);
    }
    else
    if (access (self->cache_path, F_OK) == 0)
        irh_info ("hardware fingerprint changed: measuring again");
    s_measure_now (self);
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
    if (id == IRH_MSG_MACHCAP) {
        irh_machcap_t msg;
        if (irh_machcap_decode (frame, &msg) != 0)
            s_bad_request (self, request, "machcap");
        else {
            zmsg_t *reply = s_info_reply (self);
            irh_worker_reply (self->worker, request, &reply);
        }
    }
    else
    if (id == IRH_MSG_VERDICT)
        s_handle_verdict (self, request, frame);
    else
    if (id == IRH_MSG_REMEASURE) {
        irh_remeasure_t msg;
        if (irh_remeasure_decode (frame, &msg) != 0)
            s_bad_request (self, request, "remeasure");
        else {
            if (!self->measuring) {
                irh_info ("remeasure requested");
                self->measuring = zactor_new (s_measure_actor, self);
            }
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
    zstr_free (&done);
    zactor_destroy (&self->measuring);
    if (cap_cache_save (self->cache_path, &self->fresh) != 0)
        irh_warn ("cannot write %s", self->cache_path);
    s_adopt (self, &self->fresh, false);
    irh_info ("remeasured in %.0f ms", self->info.measure_wall_us / 1e3);
    irh_request_t *request;
    while ((request = (irh_request_t *) zlist_pop (self->waiting))) {
        zmsg_t *reply = s_info_reply (self);
        irh_worker_reply (self->worker, request, &reply);
        irh_request_destroy (&request);
    }
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
    irh_actor_cleanup (&actor);
    self.started_ms = zclock_mono ();
    self.waiting = zlist_new ();
    cap_sys_cpu_idle (&self.cpu, &self.info.cpu_idle_ppm);     //  prime

    s_load_or_measure (&self);

    self.worker = irh_worker_new ("cap", broker, bind);
    if (!self.worker) {
        irh_error ("cannot start the cap worker");
        return 1;
    }
    irh_info ("serving cap %s %s", broker ? "via" : "at", broker ? broker : bind);
    self.live_due = zclock_mono () + S_LIVE_MS;
    zpoller_t *poller = zpoller_new (irh_worker_sock (self.worker), NULL);
    zactor_t *polled = NULL;            //  the measuring actor, while it runs
    while (!zsys_interrupted) {
        if (self.measuring && !polled) {
            zpoller_add (poller, self.measuring);
            polled = self.measuring;
        }
        int timeout = irh_worker_tick (self.worker);
        int64_t now = zclock_mono ();
        if (now >= self.live_due) {
            cap_measure_live (&self.info, &self.cpu);
            self.live_due = now + S_LIVE_MS;
        }
        int64_t until_live = self.live_due - now;
        if (timeout < 0 || timeout > until_live)
            timeout = (int) until_live;
        if (timeout < 1)
            timeout = 1;
        void *which = zpoller_wait (poller, timeout);
        if (zpoller_terminated (poller))
            break;
        if (which == irh_worker_sock (self.worker)) {
            irh_request_t *request = irh_worker_recv (self.worker);
            if (request)
                s_handle (&self, request);
        }
        else
        if (polled && which == polled) {
            zpoller_remove (poller, polled);
            polled = NULL;
            s_measure_done (&self);
        }
    }
    irh_info ("stopping");
    zpoller_destroy (&poller);
    zactor_destroy (&self.measuring);
    irh_request_t *request;
    while ((request = (irh_request_t *) zlist_pop (self.waiting)))
        irh_request_destroy (&request);
    zlist_destroy (&self.waiting);
    irh_worker_destroy (&self.worker);
    free (self.home);
    zstr_free (&self.cache_path);
    irh_log_close ();
    return 0;
}
