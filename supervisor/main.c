/*  main.c: irohds-daemon, the supervisor and broker process.

    usage: irohds-daemon [--home DIR] [--detach] [-v]

    Order of events matters: take the home lock, daemonize if asked, spawn
    the actors (no ZeroMQ context exists yet), then create the context and
    bind the broker, then serve until SIGTERM/SIGINT or `sup down`.
    Signals arrive through a signalfd polled next to the broker socket, so
    nothing runs in a signal handler. See docs/supervisor.md.
*/
#include "broker.h"
#include "supervisor.h"
#include "irh_actor.h"
#include "irh_identity.h"
#include "irh_client.h"
#include "irh_config.h"
#include "irh_envelope.h"
#include "irh_log.h"
#include "irh_msgs.h"
#include "irh_paths.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define IROHDS_VERSION irh_actor_version ()

typedef struct {
    supervisor_t *supervisor;
    broker_t *broker;
    int64_t started;
    bool down;                  //  `sup down` received
} daemon_t;

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: irohds-daemon [--home DIR] [--detach] [-v]\n"
                  "  --home DIR     irohds home (default $IROHDS_HOME, $XDG_DATA_HOME/irohds,\n"
                  "                 ~/.local/share/irohds)\n"
                  "  --detach       run in the background; returns once the broker answers\n"
                  "  -v, --verbose  verbose (debug) logging\n"
                  "  -h, --help     this text\n"
                  "  --version      print the version\n"
                  "see irohds-daemon(8); irohds-ctl up/down start and stop it\n");
}

static void
s_error_reply (zmsg_t *reply, const char *code, const char *text)
{
    zmsg_addstr (reply, "ERR");
    zmsg_addstr (reply, code);
    zmsg_addstr (reply, text);
}

//  The "sup" service (proto/sup.def).
static void
s_sup_handler (void *arg, zmsg_t *body, zmsg_t *reply)
{
    daemon_t *daemon = (daemon_t *) arg;
    zframe_t *frame = zmsg_first (body);
    int id = irh_msgs_id (frame);
    union {
        irh_ping_t ping; irh_status_t status; irh_down_t down;
        irh_broker_stats_t stats;
    } msg;
    int rc = -1;
    switch (id) {
        case IRH_MSG_PING:          rc = irh_ping_decode (frame, &msg.ping); break;
        case IRH_MSG_STATUS:        rc = irh_status_decode (frame, &msg.status); break;
        case IRH_MSG_DOWN:          rc = irh_down_decode (frame, &msg.down); break;
        case IRH_MSG_BROKER_STATS:  rc = irh_broker_stats_decode (frame, &msg.stats); break;
        default:
            broker_count (daemon->broker, "sup_unknown_command", 1);
            char text [80];
            snprintf (text, sizeof text, "sup has no command with id %d", id);
            s_error_reply (reply, "unknown-command", text);
            return;
    }
    if (rc == -1 || zmsg_size (body) != 1) {
        broker_count (daemon->broker, "sup_bad_request", 1);
        s_error_reply (reply, "bad-request", rc == -1 ? irh_msgs_error ()
                                                      : "unexpected extra frames");
        return;
    }
    zmsg_addstr (reply, "OK");
    if (id == IRH_MSG_PING) {
        irh_pong_t pong = { .pid = (uint32_t) getpid (),
                            .uptime_ms = (uint64_t) (zclock_mono () - daemon->started) };
        snprintf (pong.service, sizeof pong.service, "sup");
        snprintf (pong.version, sizeof pong.version, "%s", IROHDS_VERSION);
        zframe_t *out = irh_pong_encode (&pong);
        zmsg_append (reply, &out);
    }
    else
    if (id == IRH_MSG_STATUS)
        supervisor_status_append (daemon->supervisor, reply);
    else
    if (id == IRH_MSG_BROKER_STATS)
        broker_stats_append (daemon->broker, reply);
    else {
        irh_ok_t ok = { 0 };
        zframe_t *out = irh_ok_encode (&ok);
        zmsg_append (reply, &out);
        irh_info ("down requested by a client");
        daemon->down = true;
    }
}

//  Log config problems from index `from` on; returns the new total.
static size_t
s_log_config_errors (irh_config_t *config, size_t from)
{
    size_t count = irh_config_errors (config);
    for (size_t i = from; i < count; i++)
        irh_warn ("config: %s", irh_config_error (config, i));
    return count;
}

//  Take the home lock, held for life (CLOEXEC: actors do not inherit it).
static int
s_lock (irh_paths_t *paths)
{
    int fd = open (paths->lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd == -1) {
        fprintf (stderr, "irohds-daemon: cannot open %s: %s\n", paths->lockfile,
                 strerror (errno));
        return -1;
    }
    if (flock (fd, LOCK_EX | LOCK_NB) == -1) {
        int saved = errno;
        int holder = 0;
        //  Outside bytes: never block on them (a FIFO there would).
        int pfd = open (paths->pidfile, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        char text [32] = "";
        if (pfd >= 0 && fstat (pfd, &st) == 0 && S_ISREG (st.st_mode)) {
            ssize_t got = read (pfd, text, sizeof text - 1);
            text [got > 0 ? got : 0] = 0;
            holder = atoi (text) > 0 ? atoi (text) : 0;
        }
        if (pfd >= 0)
            close (pfd);
        errno = saved;
        if (errno == EWOULDBLOCK)
            fprintf (stderr, "irohds-daemon: another irohds-daemon%s%.0d is already running "
                             "on home %s (lock %s is held)\n", holder ? " pid " : "",
                     holder, paths->home, paths->lockfile);
        else
            fprintf (stderr, "irohds-daemon: cannot lock %s: %s\n", paths->lockfile,
                     strerror (errno));
        close (fd);
        return -1;
    }
    return fd;
}

//  Write the pidfile atomically. On failure (a full disk: the write or the
//  close fails) nothing half-written is left, not even an old pidfile that
//  names another process; the error is logged and counted
//  (pidfile_errors), and `irohds-ctl` can still get our pid from `ping`.
static int
s_write_pidfile (irh_paths_t *paths)
{
    char tmp [4200];
    snprintf (tmp, sizeof tmp, "%s.tmp", paths->pidfile);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    char text [32];
    int size = snprintf (text, sizeof text, "%d\n", (int) getpid ());
    bool ok = fd >= 0 && write (fd, text, (size_t) size) == size;
    int saved = errno;
    if (fd >= 0 && close (fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename (tmp, paths->pidfile) != 0) {
        ok = false;
        saved = errno;
    }
    if (ok)
        return 0;
    unlink (tmp);
    unlink (paths->pidfile);
    irh_error ("cannot write pidfile %s: %s", paths->pidfile, strerror (saved));
    return -1;
}

//  Parent side of --detach: wait for the daemon's word on the pipe, then
//  check that the broker answers. Returns the exit code.
static int
s_detach_parent (int fd, irh_paths_t *paths)
{
    char buffer [512] = "";
    size_t size = 0;
    ssize_t got;
    while (size < sizeof buffer - 1
       &&  (got = read (fd, buffer + size, sizeof buffer - 1 - size)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        size += (size_t) got;
    }
    buffer [size] = 0;
    close (fd);
    if (strncmp (buffer, "OK", 2) != 0) {
        fprintf (stderr, "irohds-daemon: failed to start: %s\n",
                 size ? buffer : "daemon exited during startup (see the log)");
        return 1;
    }
    irh_client_t *client = irh_client_new (paths->broker);
    int rc = 1;
    if (client) {
        irh_ping_t ping = { 0 };
        zmsg_t *body = zmsg_new ();
        zframe_t *frame = irh_ping_encode (&ping);
        zmsg_append (body, &frame);
        zmsg_t *reply = NULL;
        if (irh_client_call (client, "sup", &body, 5000, &reply) == 0)
            rc = 0;
        else
            fprintf (stderr, "irohds-daemon: broker does not answer: %s\n",
                     irh_client_error_text (client));
        zmsg_destroy (&reply);
        irh_client_destroy (&client);
    }
    zsys_shutdown ();
    return rc;
}

//  Double fork; returns in the daemon with *notify_fd set, or exits.
static void
s_detach (irh_paths_t *paths, int *notify_fd)
{
    int fds [2];
    if (pipe2 (fds, O_CLOEXEC) == -1) {
        fprintf (stderr, "irohds-daemon: pipe: %s\n", strerror (errno));
        exit (1);
    }
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "irohds-daemon: fork: %s\n", strerror (errno));
        exit (1);
    }
    if (pid > 0) {
        close (fds [1]);
        exit (s_detach_parent (fds [0], paths));
    }
    close (fds [0]);
    setsid ();
    pid = fork ();
    if (pid < 0)
        _exit (1);
    if (pid > 0)
        _exit (0);
    umask (077);
    if (chdir ("/")) { /* keep going: nothing relies on the cwd */ }
    int null = open ("/dev/null", O_RDWR);
    //  Never block on the log either: a FIFO there (nobody reading) fails
    //  at once with O_NONBLOCK; anything but a regular file is not used.
    int log = open (paths->log, O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_NOFOLLOW, 0600);
    struct stat st;
    if (log >= 0 && (fstat (log, &st) != 0 || !S_ISREG (st.st_mode))) {
        close (log);
        log = null >= 0 ? dup (null) : -1;
    }
    if (log >= 0)
        fcntl (log, F_SETFL, O_APPEND);
    if (null >= 0)
        dup2 (null, STDIN_FILENO);
    if (log >= 0) {
        //  Actors inherit stderr, so they log to the same file.
        dup2 (log, STDOUT_FILENO);
        dup2 (log, STDERR_FILENO);
    }
    if (null > 2)
        close (null);
    if (log > 2)
        close (log);
    *notify_fd = fds [1];
}

static void
s_notify (int *fd, const char *text)
{
    if (*fd >= 0) {
        if (write (*fd, text, strlen (text)) < 0) { /* parent gone: nothing to tell */ }
        close (*fd);
        *fd = -1;
    }
}

int
main (int argc, char *argv [])
{
    const char *home = NULL;
    bool detach = false, verbose = false;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--home") && i + 1 < argc)
            home = argv [++i];
        else
        if (streq (argv [i], "--detach"))
            detach = true;
        else
        if (streq (argv [i], "-v") || streq (argv [i], "--verbose"))
            verbose = true;
        else
        if (streq (argv [i], "-h") || streq (argv [i], "--help")) {
            s_usage (stdout);
            return 0;
        }
        else
        if (streq (argv [i], "--version")) {
            printf ("irohds-daemon %s\n", IROHDS_VERSION);
            return 0;
        }
        else {
            fprintf (stderr, "irohds-daemon: unknown or incomplete argument '%s'\n"
                             "usage: irohds-daemon [--home DIR] [--detach] [-v]\n"
                             "run 'irohds-daemon --help' for details\n", argv [i]);
            return 2;
        }
    }
    irh_log_level_t level = verbose ? IRH_LOG_DEBUG : IRH_LOG_INFO;
    irh_log_init ("daemon", level, NULL);
    char *err = NULL;
    irh_paths_t *paths = irh_paths_new (home, true, &err);
    if (!paths) {
        fprintf (stderr, "irohds-daemon: %s\n", err ? err : "cannot resolve home");
        free (err);
        return 1;
    }
    int lock_fd = s_lock (paths);
    if (lock_fd == -1) {
        irh_paths_destroy (&paths);
        return 1;
    }
    //  We hold the lock: any broker socket left is stale.
    unlink (paths->broker_path);

    int notify_fd = -1;
    if (detach) {
        s_detach (paths, &notify_fd);
        irh_log_init ("daemon", level, NULL);
    }
    bool pidfile_failed = s_write_pidfile (paths) != 0;
    irh_info ("irohds-daemon %s starting on %s (pid %d)", IROHDS_VERSION, paths->home,
              (int) getpid ());

    irh_config_t *config = irh_config_load (paths->config);
    //  The broker's own control messages (sup replies, store tables, put
    //  metadata) must fit: a smaller limit cannot work.
    uint64_t max_message = irh_config_u64_range (config, "broker.max_message", IRH_MESSAGE_MAX,
                                                 BROKER_MESSAGE_MIN, UINT64_MAX);
    size_t config_errors = s_log_config_errors (config, 0);

    //  Signals through a signalfd; blocked here, unblocked in each actor
    //  before exec, and inherited blocked by ZeroMQ's threads.
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGCHLD);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGHUP);
    sigprocmask (SIG_BLOCK, &signals, NULL);
    signal (SIGPIPE, SIG_IGN);
    int sfd = signalfd (-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd == -1) {
        irh_error ("signalfd: %s", strerror (errno));
        s_notify (&notify_fd, "signalfd failed");
        return 1;
    }
    zsys_handler_set (NULL);

    supervisor_t *supervisor = supervisor_new (paths->home, paths->broker, verbose);
    if (!supervisor) {
        s_notify (&notify_fd, "bad actor table (see the log)");
        return 1;
    }
    //  Out-of-range values are logged inside; type errors are irh_config's.
    size_t policy_problems = supervisor_configure (supervisor, config);
    config_errors = s_log_config_errors (config, config_errors) + policy_problems;
    //  The node identity exists before any actor starts: discovery reads
    //  only its public half (node.cert) and must never make the secret.
    char *id_err = NULL;
    irh_identity_t *identity = irh_identity_load_or_create (paths->home, &id_err);
    if (!identity)
        irh_warn ("node identity: %s (gossip and discovery will say so too)",
                  id_err ? id_err : "?");
    irh_identity_destroy (&identity);
    free (id_err);
    supervisor_start (supervisor);          //  before any ZeroMQ context

    daemon_t daemon = { .supervisor = supervisor, .started = zclock_mono () };
    daemon.broker = broker_new (paths->broker, max_message);
    if (!daemon.broker) {
        s_notify (&notify_fd, "cannot bind the broker socket (see the log)");
        supervisor_stop (supervisor);
        supervisor_destroy (&supervisor);
        return 1;
    }
    chmod (paths->broker_path, 0600);
    broker_count (daemon.broker, "config_errors", config_errors);
    if (pidfile_failed)
        broker_count (daemon.broker, "pidfile_errors", 1);
    broker_set_internal (daemon.broker, "sup", s_sup_handler, &daemon);
    broker_set_expect (daemon.broker, supervisor_expect, supervisor);
    supervisor_set_broker (supervisor, daemon.broker);
    irh_info ("broker listening on %s", paths->broker);
    s_notify (&notify_fd, "OK");

    bool stop = false;
    while (!stop) {
        zmq_pollitem_t items [] = {
            { zsock_resolve (broker_sock (daemon.broker)), 0, ZMQ_POLLIN, 0 },
            { NULL, sfd, ZMQ_POLLIN, 0 } };
        if (zmq_poll (items, 2, 25) == -1 && zmq_errno () != EINTR) {
            irh_error ("poll: %s", zmq_strerror (zmq_errno ()));
            break;
        }
        broker_handle (daemon.broker, 1000);
        struct signalfd_siginfo info;
        while (read (sfd, &info, sizeof info) == (ssize_t) sizeof info) {
            if (info.ssi_signo == SIGCHLD)
                supervisor_reap (supervisor);
            else
            if (info.ssi_signo == SIGHUP)
                irh_info ("SIGHUP ignored");
            else {
                irh_info ("signal %d: shutting down", (int) info.ssi_signo);
                stop = true;
            }
        }
        supervisor_reap (supervisor);       //  SIGCHLDs coalesce; be sure
        supervisor_tick (supervisor);
        broker_tick (daemon.broker);
        if (daemon.down)
            stop = true;
    }
    supervisor_stop (supervisor);
    broker_destroy (&daemon.broker);
    unlink (paths->broker_path);
    unlink (paths->pidfile);
    supervisor_destroy (&supervisor);
    irh_config_destroy (&config);
    zsys_shutdown ();
    irh_info ("irohds-daemon stopped");
    close (sfd);
    close (lock_fd);
    irh_paths_destroy (&paths);
    return 0;
}
