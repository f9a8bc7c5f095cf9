/*  supervisor.c: the actor table of irohds-daemon (see supervisor.h).

    Actors are started with fork + immediate exec: between the two the
    child only calls async-signal-safe functions (sigprocmask, prctl,
    close_range, execv, _exit), with argv prepared before the fork, so it
    is safe even after the ZeroMQ context (and its threads) exist in the
    parent. docs/supervisor.md explains the choice.

    Each process gets a fresh registration token (32 random bytes, hex) on
    an inherited pipe, fd 3, named by IROHDS_TOKEN_FD; the broker accepts
    the actor's READY only with it, and limits what the actor may call to
    its row's calls (trust.h, docs/security.md).
*/
#include "supervisor.h"
#include "irh_envelope.h"
#include "irh_log.h"
#include "irh_table.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum {
    ACTOR_ABSENT, ACTOR_STARTING, ACTOR_RUNNING, ACTOR_RESTARTING, ACTOR_FAILED,
    ACTOR_STOPPED
} actor_state_t;
static const char *s_state_names [] = {
    "absent", "starting", "running", "restarting", "failed", "stopped"
};

//  The one table of actors: name, binary, service, stop order (lower
//  stops first), and the calls it may make through the broker (trust
//  zones, docs/security.md: "service/command" message names). The network
//  actors stop first: nothing new arrives from peers while the store and
//  cap shut down. They are also the ones that read bytes from other
//  machines, so they may call least: gossip reads from the store (digests
//  and chunks), changes only claims (the arbiter of claims across
//  machines: claim, release, each_claim) and can never stop the daemon;
//  discovery can only hand gossip the peers it found.
static const struct {
    const char *name, *binary, *service;
    int stop_order;
    const char *calls;
} s_actor_table [] = {
    { "gossip",     "irohds-gossip",     "gossip",    4,
      "store/ping store/has store/get store/ls store/stats store/info "
      "store/digest_list store/digest_get store/ingest store/claim store/release "
      "store/each_claim cap/verdict cap/machcap" },
    { "discovery",  "irohds-discovery",  "discovery", 2,
      "gossip/gossip_join gossip/gossip_peers gossip/gossip_stats" },
    { "capability", "irohds-capability", "cap",   10, "" },
    { "store",      "irohds-store",      "store", 90, "" },
};

//  The inherited fd that carries the token (IROHDS_TOKEN_FD).
#define SUP_TOKEN_FD    3

#define ACTORS_MAX 16

typedef struct {
    char name [33];
    char service [33];
    char binary [PATH_MAX];
    int stop_order;
    char *argv [8];
    trust_call_t calls [TRUST_CALLS_MAX];   //  what it may call (trust zones)
    size_t ncalls;
    char token [IRH_TOKEN_SIZE + 1];        //  of the current process
    actor_state_t state;
    pid_t pid;
    int64_t started;            //  mono ms of the current process
    int64_t restart_at;
    int64_t backoff_ms;
    uint32_t restarts;
    int64_t *restart_times;     //  ring of the last restart_max restarts
    bool killed;                //  we sent SIGKILL to the current process
} actor_t;

//  Restart policy; defaults in supervisor.h, config keys supervisor.*.
typedef struct {
    uint32_t restart_max;       //  restarts ...
    int64_t restart_window_ms;  //  ... within this window, then failed
    int64_t backoff_min_ms;
    int64_t backoff_max_ms;
    int64_t stable_ms;          //  run this long and backoff resets
} policy_t;

struct _supervisor_t {
    actor_t actors [ACTORS_MAX];
    policy_t policy;
    size_t count;
    broker_t *broker;
    int64_t started;
    bool stopping;
    uint64_t exits, kills;
    int64_t last_tick;          //  mono ms of the previous supervisor_tick
};

static int
s_actor_init (actor_t *actor, const char *name, const char *binary, const char *service,
              int stop_order, const char *calls, const char *dir, const char *home,
              const char *endpoint, bool verbose)
{
    if (strlen (name) == 0 || strlen (name) > 32 || strlen (service) == 0
    ||  strlen (service) > 32 || strlen (binary) == 0)
        return -1;
    memset (actor, 0, sizeof *actor);
    char error [128];
    if (trust_calls_parse (calls, actor->calls, &actor->ncalls, error, sizeof error)) {
        irh_error ("actor %s: bad calls '%s': %s", name, calls, error);
        return -1;
    }
    snprintf (actor->name, sizeof actor->name, "%s", name);
    snprintf (actor->service, sizeof actor->service, "%s", service);
    if (strchr (binary, '/'))
        snprintf (actor->binary, sizeof actor->binary, "%s", binary);
    else
        snprintf (actor->binary, sizeof actor->binary, "%s/%s", dir, binary);
    actor->stop_order = stop_order;
    actor->backoff_ms = SUP_BACKOFF_MIN_MS;
    actor->restart_times = (int64_t *) calloc (SUP_RESTART_LIMIT, sizeof (int64_t));
    assert (actor->restart_times);
    int argc = 0;
    actor->argv [argc++] = strdup (actor->binary);
    actor->argv [argc++] = strdup ("--home");
    actor->argv [argc++] = strdup (home);
    actor->argv [argc++] = strdup ("--broker");
    actor->argv [argc++] = strdup (endpoint);
    if (verbose)
        actor->argv [argc++] = strdup ("-v");
    actor->argv [argc] = NULL;
    if (access (actor->binary, X_OK) != 0) {
        actor->state = ACTOR_ABSENT;
        irh_warn ("actor %s: %s not found, left out", name, actor->binary);
    }
    else
        actor->state = ACTOR_STOPPED;
    return 0;
}

supervisor_t *
supervisor_new (const char *home, const char *endpoint, bool verbose)
{
    assert (home && endpoint);
    char exe [PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
        irh_error ("cannot read /proc/self/exe: %s", strerror (errno));
        return NULL;
    }
    exe [len] = 0;
    char *slash = strrchr (exe, '/');
    *slash = 0;

    supervisor_t *self = (supervisor_t *) zmalloc (sizeof (supervisor_t));
    assert (self);
    self->started = zclock_mono ();
    self->policy = (policy_t) {
        .restart_max = SUP_RESTART_LIMIT, .restart_window_ms = SUP_RESTART_WINDOW_MS,
        .backoff_min_ms = SUP_BACKOFF_MIN_MS, .backoff_max_ms = SUP_BACKOFF_MAX_MS,
        .stable_ms = SUP_STABLE_MS
    };
    if (sodium_init () < 0) {
        irh_error ("cannot initialise libsodium (tokens)");
        free (self);
        return NULL;
    }
    const char *override = getenv ("IROHDS_ACTORS");
    if (override && *override) {
        //  Test use: name:binary:service[:calls],... in start order;
        //  stopped in reverse order. calls ("store/get+store/has") default
        //  to those of the built-in row of that name, else none.
        char *copy = strdup (override);
        char *save = NULL;
        int order = 100;
        for (char *item = strtok_r (copy, ",", &save); item; item = strtok_r (NULL, ",", &save)) {
            char *binary = strchr (item, ':');
            char *service = binary ? strchr (binary + 1, ':') : NULL;
            if (!service || self->count == ACTORS_MAX) {
                irh_error ("IROHDS_ACTORS: bad entry '%s' (want name:binary:service)", item);
                free (copy);
                supervisor_destroy (&self);
                return NULL;
            }
            *binary++ = 0;
            *service++ = 0;
            const char *calls = "";
            char *colon = strchr (service, ':');
            if (colon) {
                *colon = 0;
                calls = colon + 1;
            }
            else
                for (size_t i = 0; i < sizeof s_actor_table / sizeof s_actor_table [0]; i++)
                    if (streq (s_actor_table [i].name, item))
                        calls = s_actor_table [i].calls;
            if (s_actor_init (&self->actors [self->count], item, binary, service, order--,
                              calls, exe, home, endpoint, verbose)) {
                irh_error ("IROHDS_ACTORS: bad entry '%s'", item);
                free (copy);
                supervisor_destroy (&self);
                return NULL;
            }
            self->count++;
        }
        free (copy);
    }
    else
        for (size_t i = 0; i < sizeof s_actor_table / sizeof s_actor_table [0]; i++)
            s_actor_init (&self->actors [self->count++], s_actor_table [i].name,
                          s_actor_table [i].binary, s_actor_table [i].service,
                          s_actor_table [i].stop_order, s_actor_table [i].calls, exe, home,
                          endpoint, verbose);
    return self;
}

void
supervisor_destroy (supervisor_t **self_p)
{
    assert (self_p);
    supervisor_t *self = *self_p;
    if (self) {
        for (size_t i = 0; i < ACTORS_MAX; i++) {
            for (int j = 0; self->actors [i].argv [j]; j++)
                free (self->actors [i].argv [j]);
            sodium_memzero (self->actors [i].token, sizeof self->actors [i].token);
            free (self->actors [i].restart_times);
        }
        free (self);
        *self_p = NULL;
    }
}

//  Out-of-range values go to the config's error list (irh_config_u64_range),
//  which main logs and counts; bare numbers of durations are milliseconds.
#define SUP_RESTART_MAX_LIMIT   10000               //  sanity bound on restart_max
#define SUP_DURATION_LIMIT_MS   (24 * 3600 * 1000)  //  and on every duration

size_t
supervisor_configure (supervisor_t *self, irh_config_t *config)
{
    assert (self);
    assert (config);
    size_t problems = 0;
    policy_t policy;
    policy.restart_max = (uint32_t) irh_config_u64_range (config, "supervisor.restart_max",
        SUP_RESTART_LIMIT, 1, SUP_RESTART_MAX_LIMIT);
    policy.restart_window_ms = (int64_t) irh_config_u64_range (config, "supervisor.restart_window",
        SUP_RESTART_WINDOW_MS, 1, SUP_DURATION_LIMIT_MS);
    policy.backoff_min_ms = (int64_t) irh_config_u64_range (config, "supervisor.backoff_min",
        SUP_BACKOFF_MIN_MS, 1, SUP_DURATION_LIMIT_MS);
    policy.backoff_max_ms = (int64_t) irh_config_u64_range (config, "supervisor.backoff_max",
        SUP_BACKOFF_MAX_MS, 1, SUP_DURATION_LIMIT_MS);
    policy.stable_ms = (int64_t) irh_config_u64_range (config, "supervisor.stable_after",
        SUP_STABLE_MS, 1, SUP_DURATION_LIMIT_MS);
    if (policy.backoff_min_ms > policy.backoff_max_ms) {
        //  Neither value is wrong alone; only the default pair is sure to fit.
        irh_warn ("config: supervisor.backoff_min (%lld ms) is larger than "
                  "supervisor.backoff_max (%lld ms); using the defaults %d ms and %d ms",
                  (long long) policy.backoff_min_ms, (long long) policy.backoff_max_ms,
                  SUP_BACKOFF_MIN_MS, SUP_BACKOFF_MAX_MS);
        problems++;
        policy.backoff_min_ms = SUP_BACKOFF_MIN_MS;
        policy.backoff_max_ms = SUP_BACKOFF_MAX_MS;
    }
    self->policy = policy;
    for (size_t i = 0; i < self->count; i++) {
        actor_t *actor = &self->actors [i];
        assert (actor->restarts == 0);          //  configure before start
        free (actor->restart_times);
        actor->restart_times = (int64_t *) calloc (policy.restart_max, sizeof (int64_t));
        assert (actor->restart_times);
        actor->backoff_ms = policy.backoff_min_ms;
    }
    irh_debug ("restart policy: %u restarts in %lld ms, backoff %lld..%lld ms, "
               "stable after %lld ms", policy.restart_max,
               (long long) policy.restart_window_ms, (long long) policy.backoff_min_ms,
               (long long) policy.backoff_max_ms, (long long) policy.stable_ms);
    return problems;
}

//  Tell the broker which process this row is now, with its token and calls.
static void
s_trust_push (supervisor_t *self, actor_t *actor)
{
    if (self->broker && actor->pid)
        trust_set (broker_trust (self->broker), actor->name, actor->service,
                   (uint32_t) actor->pid, actor->token, actor->calls, actor->ncalls);
}

void
supervisor_set_broker (supervisor_t *self, broker_t *broker)
{
    assert (self);
    self->broker = broker;
    //  Actors started before the broker existed.
    for (size_t i = 0; i < self->count; i++)
        s_trust_push (self, &self->actors [i]);
}

//  A fresh token for the next process of actor, written to a pipe whose
//  read end the child inherits as SUP_TOKEN_FD. Returns the read end, or
//  -1 (logged). The write end is closed here, so the child never waits.
static int
s_token_pipe (actor_t *actor)
{
    uint8_t random [IRH_TOKEN_SIZE / 2];
    randombytes_buf (random, sizeof random);
    sodium_bin2hex (actor->token, sizeof actor->token, random, sizeof random);
    sodium_memzero (random, sizeof random);
    int fds [2];
    if (pipe2 (fds, O_CLOEXEC)) {
        irh_error ("actor %s: cannot make the token pipe: %s", actor->name, strerror (errno));
        return -1;
    }
    ssize_t written = write (fds [1], actor->token, IRH_TOKEN_SIZE);
    close (fds [1]);
    if (written != IRH_TOKEN_SIZE) {
        irh_error ("actor %s: cannot write the token pipe: %s", actor->name, strerror (errno));
        close (fds [0]);
        return -1;
    }
    return fds [0];
}

//  The child's environment: ours, with IROHDS_TOKEN_FD set. Built before
//  the fork (the child may not allocate); free with s_env_free.
static char **
s_env_new (void)
{
    extern char **environ;
    size_t count = 0;
    while (environ [count])
        count++;
    char **env = (char **) calloc (count + 2, sizeof (char *));
    assert (env);
    size_t used = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp (environ [i], "IROHDS_TOKEN_FD=", 16) != 0)
            env [used++] = environ [i];
    char entry [32];
    snprintf (entry, sizeof entry, "IROHDS_TOKEN_FD=%d", SUP_TOKEN_FD);
    env [used] = strdup (entry);
    assert (env [used]);
    return env;
}

static void
s_env_free (char ***env_p)
{
    char **env = *env_p;
    size_t last = 0;
    while (env [last + 1])
        last++;
    free (env [last]);          //  ours; the others belong to environ
    free (env);
    *env_p = NULL;
}

static void
s_spawn (supervisor_t *self, actor_t *actor)
{
    sigset_t empty;
    sigemptyset (&empty);
    pid_t parent = getpid ();
    int token_fd = s_token_pipe (actor);
    if (token_fd == -1) {
        actor->state = ACTOR_RESTARTING;
        actor->restart_at = zclock_mono () + actor->backoff_ms;
        return;
    }
    char **env = s_env_new ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  Child: async-signal-safe calls only, then exec. The token pipe
        //  moves to SUP_TOKEN_FD without close-on-exec; all else closes.
        sigprocmask (SIG_SETMASK, &empty, NULL);
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (126);
        if (token_fd == SUP_TOKEN_FD)
            fcntl (token_fd, F_SETFD, 0);
        else
        if (dup2 (token_fd, SUP_TOKEN_FD) != SUP_TOKEN_FD)
            _exit (125);
        syscall (SYS_close_range, SUP_TOKEN_FD + 1U, ~0U, 0);
        execve (actor->argv [0], actor->argv, env);
        _exit (127);
    }
    close (token_fd);
    s_env_free (&env);
    if (pid < 0) {
        irh_error ("actor %s: fork failed: %s", actor->name, strerror (errno));
        actor->state = ACTOR_RESTARTING;
        actor->restart_at = zclock_mono () + actor->backoff_ms;
        return;
    }
    actor->pid = pid;
    s_trust_push (self, actor);
    actor->started = zclock_mono ();
    actor->killed = false;
    actor->state = ACTOR_STARTING;
    irh_info ("actor %s: started %s (pid %d)", actor->name, actor->binary, (int) pid);
}

void
supervisor_start (supervisor_t *self)
{
    assert (self);
    //  Orphans of the actors' own children come to us, not to init, so
    //  the broker can tell they are no local clients (trust_caller);
    //  supervisor_reap reaps them with the actors.
    if (prctl (PR_SET_CHILD_SUBREAPER, 1) != 0)
        irh_warn ("cannot become a subreaper: %s", strerror (errno));
    for (size_t i = 0; i < self->count; i++)
        if (self->actors [i].state == ACTOR_STOPPED)
            s_spawn (self, &self->actors [i]);
}

static actor_t *
s_actor_by_pid (supervisor_t *self, pid_t pid)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->actors [i].pid == pid)
            return &self->actors [i];
    return NULL;
}

//  An actor's process ended: restart it later, or give up.
static void
s_actor_exited (supervisor_t *self, actor_t *actor, int status)
{
    int64_t now = zclock_mono ();
    irh_log_level_t level = self->stopping ? IRH_LOG_INFO : IRH_LOG_WARN;
    if (WIFEXITED (status))
        irh_log (level, "actor %s (pid %d) exited with status %d", actor->name,
                 (int) actor->pid, WEXITSTATUS (status));
    else
    if (WIFSIGNALED (status))
        irh_log (level, "actor %s (pid %d) killed by signal %d", actor->name,
                 (int) actor->pid, WTERMSIG (status));
    if (self->broker)
        broker_forget_pid (self->broker, (uint32_t) actor->pid);
    actor->pid = 0;
    self->exits++;
    if (self->stopping) {
        actor->state = ACTOR_STOPPED;
        return;
    }
    const policy_t *policy = &self->policy;
    if (now - actor->started >= policy->stable_ms)
        actor->backoff_ms = policy->backoff_min_ms;
    //  The oldest of the last restart_max restarts: if it is inside the
    //  window, this would be one restart too many.
    int64_t oldest = actor->restart_times [actor->restarts % policy->restart_max];
    if (actor->restarts >= policy->restart_max && now - oldest < policy->restart_window_ms) {
        actor->state = ACTOR_FAILED;
        irh_error ("actor %s: %u restarts within %lld ms, marked failed", actor->name,
                   policy->restart_max, (long long) policy->restart_window_ms);
        return;
    }
    actor->state = ACTOR_RESTARTING;
    actor->restart_at = now + actor->backoff_ms;
    irh_info ("actor %s: restarting in %d ms", actor->name, (int) actor->backoff_ms);
    actor->backoff_ms *= 2;
    if (actor->backoff_ms > policy->backoff_max_ms)
        actor->backoff_ms = policy->backoff_max_ms;
}

void
supervisor_reap (supervisor_t *self)
{
    assert (self);
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        actor_t *actor = s_actor_by_pid (self, pid);
        if (actor)
            s_actor_exited (self, actor, status);
    }
}

void
supervisor_tick (supervisor_t *self)
{
    assert (self);
    if (self->stopping)
        return;
    int64_t now = zclock_mono ();
    //  The loop ticks every 25 ms or so. A gap of half the heartbeat
    //  liveness means *we* were not running (the whole daemon stopped
    //  with SIGSTOP, a suspended laptop, a starved machine): the actors'
    //  heartbeats went unread, they did not go missing. Without this a
    //  resumed daemon killed and restarted every actor, and its gossip
    //  actor came back with an empty membership.
    int64_t gap = self->last_tick ? now - self->last_tick : 0;
    self->last_tick = now;
    if (gap > IRH_HEARTBEAT_MS * IRH_HEARTBEAT_LIVENESS / 2) {
        irh_warn ("supervisor did not run for %lld ms (stopped or suspended?): "
                  "actors' heartbeats count from now", (long long) gap);
        if (self->broker)
            broker_pardon (self->broker, now);
    }
    for (size_t i = 0; i < self->count; i++) {
        actor_t *actor = &self->actors [i];
        if (actor->state == ACTOR_RESTARTING && now >= actor->restart_at) {
            actor->restart_times [actor->restarts % self->policy.restart_max] = now;
            actor->restarts++;
            if (self->broker)
                broker_count (self->broker, "actor_restarts", 1);
            s_spawn (self, actor);
            continue;
        }
        if ((actor->state != ACTOR_STARTING && actor->state != ACTOR_RUNNING)
        ||  !actor->pid || actor->killed || !self->broker)
            continue;
        int64_t seen = broker_last_seen (self->broker, (uint32_t) actor->pid);
        const char *why = NULL;
        if (seen < 0) {
            if (now - actor->started > SUP_REGISTER_MS)
                why = "never registered with the broker";
        }
        else {
            actor->state = ACTOR_RUNNING;
            if (now - seen > IRH_HEARTBEAT_MS * IRH_HEARTBEAT_LIVENESS)
                why = "missed heartbeats";
        }
        if (why) {
            irh_warn ("actor %s (pid %d) %s: killing it", actor->name, (int) actor->pid, why);
            kill (actor->pid, SIGKILL);
            actor->killed = true;
            self->kills++;
            broker_count (self->broker, "actors_killed", 1);
        }
    }
}

broker_service_t
supervisor_expect (void *arg, const char *service)
{
    supervisor_t *self = (supervisor_t *) arg;
    for (size_t i = 0; i < self->count; i++)
        if (streq (self->actors [i].service, service)) {
            actor_state_t state = self->actors [i].state;
            return state == ACTOR_STARTING || state == ACTOR_RUNNING
                || state == ACTOR_RESTARTING ? BROKER_SERVICE_PENDING : BROKER_SERVICE_DOWN;
        }
    return BROKER_SERVICE_UNKNOWN;
}

//  Resident set size from /proc/PID/status (VmRSS, kB); 0 if unreadable.
static uint64_t
s_rss_bytes (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    char line [256];
    uint64_t rss = 0;
    while (fgets (line, sizeof line, file)) {
        unsigned long long kb;
        if (sscanf (line, "VmRSS: %llu kB", &kb) == 1) {
            rss = (uint64_t) kb * 1024;
            break;
        }
    }
    fclose (file);
    return rss;
}

void
supervisor_status_append (supervisor_t *self, zmsg_t *msg)
{
    assert (self);
    int64_t now = zclock_mono ();
    irh_table_t *table = irh_table_new ("name:s\tpid:u\tstate:s\tuptime_ms:u\trestarts:u"
                                        "\tlast_heartbeat_ms:u\trss_bytes:u");
    irh_table_row (table);
    irh_table_str (table, "supervisor");
    irh_table_u64 (table, (uint64_t) getpid ());
    irh_table_str (table, "running");
    irh_table_u64 (table, (uint64_t) (now - self->started));
    irh_table_u64 (table, 0);
    irh_table_u64 (table, 0);
    irh_table_u64 (table, s_rss_bytes (getpid ()));
    for (size_t i = 0; i < self->count; i++) {
        actor_t *actor = &self->actors [i];
        bool alive = actor->pid && (actor->state == ACTOR_STARTING
                                    || actor->state == ACTOR_RUNNING);
        int64_t seen = alive && self->broker
                     ? broker_last_seen (self->broker, (uint32_t) actor->pid) : -1;
        irh_table_row (table);
        irh_table_str (table, actor->name);
        irh_table_u64 (table, alive ? (uint64_t) actor->pid : 0);
        irh_table_str (table, s_state_names [actor->state]);
        irh_table_u64 (table, alive ? (uint64_t) (now - actor->started) : 0);
        irh_table_u64 (table, actor->restarts);
        irh_table_u64 (table, seen >= 0 ? (uint64_t) (now - seen) : 0);
        irh_table_u64 (table, alive ? s_rss_bytes (actor->pid) : 0);
    }
    irh_table_append (table, msg);
    irh_table_destroy (&table);
}

void
supervisor_stop (supervisor_t *self)
{
    assert (self);
    self->stopping = true;
    int64_t deadline = zclock_mono () + SUP_STOP_BUDGET_MS;
    //  Stop order: ascending stop_order (network actors first, store last).
    int done [ACTORS_MAX] = { 0 };
    for (size_t round = 0; round < self->count; round++) {
        actor_t *next = NULL;
        size_t index = 0;
        for (size_t i = 0; i < self->count; i++)
            if (!done [i] && (!next || self->actors [i].stop_order < next->stop_order))
                next = &self->actors [i], index = i;
        done [index] = 1;
        if (next->state == ACTOR_RESTARTING || next->state == ACTOR_FAILED)
            next->state = ACTOR_STOPPED;
        if (!next->pid)
            continue;
        irh_info ("actor %s (pid %d): stopping", next->name, (int) next->pid);
        kill (next->pid, SIGTERM);
        //  Share what is left of the budget among the actors still to stop.
        int64_t left = deadline - zclock_mono ();
        int64_t grace = left / (int64_t) (self->count - round);
        int64_t until = zclock_mono () + (grace > 0 ? grace : 0);
        while (next->pid && zclock_mono () < until) {
            supervisor_reap (self);
            if (next->pid)
                zclock_sleep (10);
        }
        if (next->pid) {
            irh_warn ("actor %s (pid %d) ignored SIGTERM: killing it", next->name,
                      (int) next->pid);
            kill (next->pid, SIGKILL);
            int status;
            pid_t pid = next->pid;
            if (waitpid (pid, &status, 0) == pid)
                s_actor_exited (self, next, status);
        }
    }
}
