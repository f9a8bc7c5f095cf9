/*  cmd_daemon.c: commands about the daemon itself: status, ping, up, down.

    "up" starts irohds-daemon --detach (from irohds-ctl's own directory,
    else PATH) unless one already answers, and waits until both the
    supervisor and the store answer, so the next command just works.
    When "up" fails after starting a daemon (it never came up completely),
    it stops that daemon again rather than leave a half-working one: "sup
    down" if the supervisor answers, else SIGTERM, and SIGKILL after 5 s.
    "down" asks the supervisor to stop and waits until the process named
    in <home>/run/irohds-daemon.pid is gone.
*/
#include "ctl.h"
#include "irh_msgs.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CTL_UP_WAIT_MS   15000     //  daemon start, actors included
#define CTL_DOWN_WAIT_MS 5000
#define CTL_UP_MARK      "IROHDS_UP_MARK"   //  names the daemon an "up" started

//  ---------------------------------------------------------------------
//  status

int
ctl_cmd_status (ctl_t *ctl, int argc, char **argv)
{
    (void) argv;
    if (argc != 1)
        return ctl_usage (ctl, "status takes no arguments");
    irh_status_t request = { 0 };
    zframe_t *frame = irh_status_encode (&request);
    irh_table_t *table = NULL;
    int rc = ctl_call_table (ctl, "sup", &frame, &table);
    if (rc)
        return rc;
    if (ctl->json) {
        ctl_print_table (ctl, table);
        irh_table_destroy (&table);
        return 0;
    }
    //  For people: durations and sizes in human units. Fall back to the
    //  raw table if the supervisor sends other columns than sup.def says.
    static const char *wanted [] = { "name", "pid", "state", "uptime_ms", "restarts",
                                     "last_heartbeat_ms", "rss_bytes", NULL };
    bool complete = irh_table_rows (table) > 0;
    for (int i = 0; wanted [i] && complete; i++)
        if (!irh_table_get (table, 0, wanted [i]))
            complete = false;
    if (!complete) {
        ctl_print_table (ctl, table);
        irh_table_destroy (&table);
        return 0;
    }
    irh_table_t *view = irh_table_new (
        "name:s\tpid:s\tstate:s\tuptime:s\trestarts:s\theartbeat:s\trss:s");
    for (size_t row = 0; row < irh_table_rows (table); row++) {
        char buf [32];
        irh_table_row (view);
        irh_table_str (view, irh_table_get (table, row, "name"));
        irh_table_str (view, irh_table_get (table, row, "pid"));
        irh_table_str (view, irh_table_get (table, row, "state"));
        irh_table_str (view, ctl_fmt_ms (strtoull (irh_table_get (table, row, "uptime_ms"),
                                                   NULL, 10), buf, sizeof buf));
        irh_table_str (view, irh_table_get (table, row, "restarts"));
        char ago [40];
        snprintf (ago, sizeof ago, "%s ago",
                  ctl_fmt_ms (strtoull (irh_table_get (table, row, "last_heartbeat_ms"),
                                        NULL, 10), buf, sizeof buf));
        irh_table_str (view, ago);
        irh_table_str (view, ctl_fmt_bytes (strtoull (irh_table_get (table, row, "rss_bytes"),
                                                      NULL, 10), buf, sizeof buf));
    }
    irh_table_print (view, stdout);
    irh_table_destroy (&view);
    irh_table_destroy (&table);
    return 0;
}

//  ---------------------------------------------------------------------
//  ping

static bool
s_service_name_valid (const char *name)
{
    size_t len = strlen (name);
    if (len < 1 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr ("abcdefghijklmnopqrstuvwxyz0123456789_.-", name [i]))
            return false;
    return true;
}

int
ctl_cmd_ping (ctl_t *ctl, int argc, char **argv)
{
    if (argc > 2)
        return ctl_usage (ctl, "ping takes at most one SERVICE");
    const char *service = argc == 2? argv [1]: "sup";
    if (!s_service_name_valid (service))
        return ctl_usage (ctl, "'%s' is not a service name (1-32 of [a-z0-9_.-])", service);
    irh_ping_t request = { 0 };
    zframe_t *frame = irh_ping_encode (&request);
    zframe_t *body = NULL;
    int64_t start = zclock_usecs ();
    int rc = ctl_call_message (ctl, service, &frame, &body);
    int64_t rtt_us = zclock_usecs () - start;
    if (rc)
        return rc;
    irh_pong_t pong;
    rc = irh_pong_decode (body, &pong);
    zframe_destroy (&body);
    if (rc)
        return ctl_fail (ctl, "%s: bad reply to ping: %s", service, irh_msgs_error ());
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "service");
        ctl_json_str (ctl, pong.service);
        ctl_json_key (ctl, "version");
        ctl_json_str (ctl, pong.version);
        ctl_json_key (ctl, "pid");
        ctl_json_u64 (ctl, pong.pid);
        ctl_json_key (ctl, "uptime_ms");
        ctl_json_u64 (ctl, pong.uptime_ms);
        ctl_json_key (ctl, "rtt_us");
        ctl_json_u64 (ctl, (uint64_t) rtt_us);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        char up [32];
        printf ("pong from %s: pid %u, version %s, up %s, %.3f ms\n",
                pong.service, pong.pid, pong.version,
                ctl_fmt_ms (pong.uptime_ms, up, sizeof up), rtt_us / 1000.0);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  up / down helpers

//  The pid in <home>/run/irohds-daemon.pid, or 0.
static pid_t
s_read_pidfile (irh_paths_t *paths)
{
    FILE *file = fopen (paths->pidfile, "r");
    if (!file)
        return 0;
    char line [32] = "";
    if (!fgets (line, sizeof line, file))
        line [0] = 0;
    fclose (file);
    char *end;
    errno = 0;
    long pid = strtol (line, &end, 10);
    if (errno || end == line || pid <= 1 || pid > INT_MAX || (*end && *end != '\n'))
        return 0;
    return (pid_t) pid;
}

//  True while pid exists and is not a zombie (a daemon started by our
//  caller stays a zombie until the caller reaps it: that counts as gone).
static bool
s_pid_alive (pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill (pid, 0) != 0 && errno == ESRCH)
        return false;
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    char buf [512] = "";
    size_t got = fread (buf, 1, sizeof buf - 1, file);
    fclose (file);
    buf [got] = 0;
    //  Field 3 follows the last ')' (the name may contain parentheses).
    char *paren = strrchr (buf, ')');
    if (paren && paren [1] == ' ' && (paren [2] == 'Z' || paren [2] == 'X'))
        return false;
    return true;
}

//  The daemon binary: next to this irohds-ctl, else found on PATH.
static char *
s_daemon_path (void)
{
    char self [PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (len > 0) {
        self [len] = 0;
        char *dir = dirname (self);
        char candidate [PATH_MAX + 32];
        snprintf (candidate, sizeof candidate, "%s/irohds-daemon", dir);
        if (access (candidate, X_OK) == 0)
            return strdup (candidate);
    }
    const char *path = getenv ("PATH");
    if (!path)
        return NULL;
    char *copy = strdup (path);
    char *saveptr = NULL;
    char *found = NULL;
    for (char *dir = strtok_r (copy, ":", &saveptr); dir && !found;
         dir = strtok_r (NULL, ":", &saveptr)) {
        char candidate [PATH_MAX + 32];
        snprintf (candidate, sizeof candidate, "%s/irohds-daemon", *dir? dir: ".");
        if (access (candidate, X_OK) == 0)
            found = strdup (candidate);
    }
    free (copy);
    return found;
}

//  Quiet form of ctl_check_running: is anyone accepting on the socket?
static bool
s_socket_live (ctl_t *ctl)
{
    const char *endpoint = ctl_endpoint (ctl);
    if (!endpoint || strncmp (endpoint, "ipc://", 6) != 0)
        return endpoint != NULL;
    struct stat st;
    return stat (endpoint + 6, &st) == 0;
}

//  Ping service with a short timeout: true if it answered OK. If pid_p
//  is not NULL it gets the pid in the pong (0 if the pong does not decode).
static bool
s_answers (ctl_t *ctl, const char *service, int timeout_ms, pid_t *pid_p)
{
    irh_ping_t request = { 0 };
    zframe_t *frame = irh_ping_encode (&request);
    zmsg_t *reply = NULL;
    int rc = ctl_call_quiet (ctl, service, &frame, timeout_ms, &reply, NULL);
    if (pid_p) {
        *pid_p = 0;
        zframe_t *body = rc == 0 ? zmsg_pop (reply) : NULL;
        irh_pong_t pong;
        if (body && irh_pong_decode (body, &pong) == 0 && pong.pid > 1 && pong.pid <= INT_MAX)
            *pid_p = (pid_t) pong.pid;
        zframe_destroy (&body);
    }
    zmsg_destroy (&reply);
    return rc == 0;
}

//  True if pid is the daemon this "up" started: its environment carries
//  our mark (set just before exec, inherited through the daemon's forks).
//  Neither a daemon someone else started on this home (two "up" at once:
//  ours lost the home lock) nor an unrelated process that reused a pid
//  from a stale pidfile carries it, so neither is ever signalled.
static bool
s_is_ours (pid_t pid, const char *mark)
{
    if (pid <= 1 || !s_pid_alive (pid))
        return false;
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/environ", (int) pid);
    //  O_NONBLOCK, no symlink: only procfs is expected here.
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t want = strlen (mark) + 1;          //  "IROHDS_UP_MARK=..." and its NUL
    size_t max = 1 << 20, size = 0;
    char *text = (char *) malloc (max + 1);
    ssize_t got = 0;
    while (text && size < max && (got = read (fd, text + size, max - size)) > 0)
        size += (size_t) got;
    close (fd);
    bool found = false;
    for (size_t pos = 0; text && pos < size && !found; ) {
        size_t length = strnlen (text + pos, size - pos);
        found = length + 1 == want && memcmp (text + pos, mark, want - 1) == 0;
        pos += length + 1;
    }
    free (text);
    return found;
}

//  Wait up to ms for pid to be gone; true if it is.
static bool
s_wait_gone (pid_t pid, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    while (s_pid_alive (pid)) {
        if (zclock_mono () > deadline)
            return false;
        zclock_sleep (20);
    }
    return true;
}

//  "up" failed after starting a daemon: stop it if it is still there and
//  is ours (mark). Politely first ("sup down", the supervisor then stops
//  its actors), else SIGTERM; SIGKILL if it is still there after 5 s
//  (its actors get SIGTERM from the kernel: PR_SET_PDEATHSIG).
static void
s_stop_started (ctl_t *ctl, irh_paths_t *paths, const char *mark)
{
    pid_t pid = 0;
    if (s_socket_live (ctl) && s_answers (ctl, "sup", 1000, &pid) && s_is_ours (pid, mark)) {
        irh_down_t request = { 0 };
        zframe_t *frame = irh_down_encode (&request);
        zmsg_t *reply = NULL;
        ctl_call_quiet (ctl, "sup", &frame, 1000, &reply, NULL);
        zmsg_destroy (&reply);
        ctl_disconnect (ctl);
        if (s_wait_gone (pid, CTL_DOWN_WAIT_MS)) {
            fprintf (stderr, "irohds-ctl: up: stopped the irohds-daemon it started (pid %d)\n",
                     (int) pid);
            return;
        }
    }
    if (!s_is_ours (pid, mark))
        pid = s_read_pidfile (paths);
    if (!s_is_ours (pid, mark))
        return;                 //  nothing of ours left (or never detached)
    kill (pid, SIGTERM);
    if (!s_wait_gone (pid, CTL_DOWN_WAIT_MS)) {
        kill (pid, SIGKILL);
        s_wait_gone (pid, 1000);
    }
    fprintf (stderr, "irohds-ctl: up: stopped the irohds-daemon it started (pid %d)\n",
             (int) pid);
}

static void
s_print_log_tail (irh_paths_t *paths)
{
    FILE *file = fopen (paths->log, "r");
    if (!file)
        return;
    //  The last few lines usually say why the daemon gave up.
    if (fseek (file, -2048, SEEK_END) != 0)
        rewind (file);
    char buf [2049];
    size_t got = fread (buf, 1, sizeof buf - 1, file);
    fclose (file);
    buf [got] = 0;
    char *start = buf;
    int lines = 0;
    for (char *p = buf + got; p > buf; p--)
        if (p [-1] == '\n' && p != buf + got && ++lines == 5) {
            start = p;
            break;
        }
    fprintf (stderr, "--- last lines of %s:\n%s", paths->log, start);
    if (got && buf [got - 1] != '\n')
        fputc ('\n', stderr);
}

//  Copy what the daemon wrote on stderr to ours; false if nothing.
static bool
s_print_errors (FILE *errors)
{
    if (!errors)
        return false;
    char buf [2048];
    rewind (errors);
    size_t got = fread (buf, 1, sizeof buf - 1, errors);
    buf [got] = 0;
    if (got == 0)
        return false;
    fputs (buf, stderr);
    if (buf [got - 1] != '\n')
        fputc ('\n', stderr);
    return true;
}

//  pid comes from the supervisor's pong: the pidfile may be missing (a
//  full disk) while the daemon runs fine.
static int
s_report_up (ctl_t *ctl, irh_paths_t *paths, bool started, pid_t pid)
{
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "running");
        ctl_json_bool (ctl, true);
        ctl_json_key (ctl, "started");
        ctl_json_bool (ctl, started);
        ctl_json_key (ctl, "pid");
        ctl_json_u64 (ctl, (uint64_t) pid);
        ctl_json_key (ctl, "home");
        ctl_json_str (ctl, paths->home);
        ctl_json_key (ctl, "endpoint");
        ctl_json_str (ctl, ctl_endpoint (ctl));
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else
        printf ("irohds-daemon %s (pid %d, home %s)\n",
                started? "started": "already running", (int) pid, paths->home);
    return 0;
}

//  ---------------------------------------------------------------------
//  up

int
ctl_cmd_up (ctl_t *ctl, int argc, char **argv)
{
    (void) argv;
    if (argc != 1)
        return ctl_usage (ctl, "up takes no arguments");
    if (ctl->endpoint_arg)
        return ctl_usage (ctl, "up starts the daemon of a home; --endpoint does not apply");
    irh_paths_t *paths = ctl_paths (ctl);
    if (!paths)
        return CTL_EXIT_ERROR;
    pid_t pid = 0;
    if (s_socket_live (ctl)
    &&  s_answers (ctl, "sup", ctl->timeout_ms < 1000? ctl->timeout_ms: 1000, &pid))
        return s_report_up (ctl, paths, false, pid);

    char *daemon = s_daemon_path ();
    if (!daemon)
        return ctl_fail (ctl, "up: irohds-daemon not found next to irohds-ctl nor on PATH");
    //  The daemon detaches itself; its first process exits once it has
    //  forked. Our stdio goes to /dev/null so that a caller reading our
    //  output is not held open by the daemon, which logs to irohds.log.
    //  Its first process reports startup failures on stderr: that goes to
    //  an unlinked temp file (never a pipe, which could hold our caller's
    //  output open or SIGPIPE the daemon after we exit).
    FILE *errors = tmpfile ();
    char mark [96];
    snprintf (mark, sizeof mark, "%s=%d.%lld", CTL_UP_MARK, (int) getpid (),
              (long long) zclock_usecs ());
    //  Our environment plus the mark, built before the fork: the child
    //  only calls async-signal-safe functions (ZeroMQ may have threads).
    size_t count = 0;
    while (environ [count])
        count++;
    char **envp = (char **) calloc (count + 2, sizeof (char *));
    if (!envp) {
        free (daemon);
        if (errors)
            fclose (errors);
        return ctl_fail (ctl, "up: out of memory");
    }
    size_t kept = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp (environ [i], CTL_UP_MARK "=", strlen (CTL_UP_MARK) + 1) != 0)
            envp [kept++] = environ [i];
    envp [kept] = mark;
    pid_t child = fork ();
    if (child < 0) {
        free (daemon);
        free (envp);
        if (errors)
            fclose (errors);
        return ctl_fail (ctl, "up: fork: %s", strerror (errno));
    }
    if (child == 0) {
        int null = open ("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2 (null, STDIN_FILENO);
            dup2 (null, STDOUT_FILENO);
            dup2 (errors? fileno (errors): null, STDERR_FILENO);
            if (null > STDERR_FILENO)
                close (null);
        }
        //  Only stderr may keep the temp file: the daemon must not carry
        //  a stray descriptor for the rest of its life.
        if (errors && fileno (errors) > STDERR_FILENO)
            close (fileno (errors));
        char *args [] = { daemon, "--home", paths->home, "--detach",
                          ctl->verbose? "-v": NULL, NULL };
        execve (daemon, args, envp);
        _exit (127);
    }
    free (daemon);
    free (envp);

    int wait_ms = ctl->timeout_ms > CTL_UP_WAIT_MS? ctl->timeout_ms: CTL_UP_WAIT_MS;
    int64_t deadline = zclock_mono () + wait_ms;
    bool reaped = false;
    const char *pending [] = { "sup", "store", NULL };
    int next = 0;
    while (pending [next]) {
        if (!reaped) {
            int status;
            pid_t got = waitpid (child, &status, WNOHANG);
            if (got == child) {
                reaped = true;
                if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
                    int code = WIFEXITED (status)? WEXITSTATUS (status): 128 + WTERMSIG (status);
                    ctl_fail (ctl, "up: irohds-daemon exited with status %d%s", code,
                              code == 127? " (could not be executed)": "");
                    if (!s_print_errors (errors))
                        s_print_log_tail (paths);
                    if (errors)
                        fclose (errors);
                    //  It may have detached before failing (no answer
                    //  from its broker): do not leave that behind.
                    s_stop_started (ctl, paths, mark);
                    return CTL_EXIT_ERROR;
                }
            }
        }
        if (zclock_mono () > deadline) {
            ctl_fail (ctl, "up: irohds-daemon started but %s did not answer within %d ms",
                      pending [next], wait_ms);
            s_print_errors (errors);
            s_print_log_tail (paths);
            if (errors)
                fclose (errors);
            s_stop_started (ctl, paths, mark);
            return CTL_EXIT_ERROR;
        }
        if (!s_socket_live (ctl)) {
            zclock_sleep (20);
            continue;
        }
        if (s_answers (ctl, pending [next], 250, next == 0 ? &pid : NULL))
            next++;
        else
            zclock_sleep (20);
    }
    if (errors)
        fclose (errors);
    return s_report_up (ctl, paths, true, pid);
}

//  ---------------------------------------------------------------------
//  down

int
ctl_cmd_down (ctl_t *ctl, int argc, char **argv)
{
    (void) argv;
    if (argc != 1)
        return ctl_usage (ctl, "down takes no arguments");
    irh_paths_t *paths = ctl_paths (ctl);
    if (!paths)
        return CTL_EXIT_ERROR;
    pid_t pid = s_read_pidfile (paths);
    irh_down_t request = { 0 };
    zframe_t *frame = irh_down_encode (&request);
    zmsg_t *reply = NULL;
    int rc = ctl_call (ctl, "sup", &frame, &reply);
    zmsg_destroy (&reply);
    if (rc)
        return rc;
    //  Drop our connection now, so the broker's socket is not held open
    //  by us while it shuts down.
    ctl_disconnect (ctl);

    int64_t deadline = zclock_mono () + CTL_DOWN_WAIT_MS;
    bool gone = false;
    while (!gone && zclock_mono () < deadline) {
        if (pid)
            gone = !s_pid_alive (pid);
        else {
            struct stat st;
            gone = stat (paths->broker_path, &st) != 0;
        }
        if (!gone)
            zclock_sleep (20);
    }
    if (!gone) {
        if (pid)
            return ctl_fail (ctl, "down: irohds-daemon (pid %d) still running after %d s",
                             (int) pid, CTL_DOWN_WAIT_MS / 1000);
        return ctl_fail (ctl, "down: broker socket %s still there after %d s",
                         paths->broker_path, CTL_DOWN_WAIT_MS / 1000);
    }
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "stopped");
        ctl_json_bool (ctl, true);
        ctl_json_key (ctl, "pid");
        ctl_json_u64 (ctl, (uint64_t) pid);
        ctl_json_key (ctl, "home");
        ctl_json_str (ctl, paths->home);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else
        printf ("irohds-daemon stopped (pid %d)\n", (int) pid);
    return 0;
}
