/*  ctl.c: irohds-ctl's main: option parsing (with "did you mean" for
    mistyped commands and options), the command table, config problems,
    talking to the broker (with a quick "not running" check that never
    waits), error lines and exit codes. What is printed: ctl_out.c.

    Exit codes: 0 success, 1 service or local error, 2 bad usage,
    3 daemon not running (no socket, nobody listening, or no answer within
    --timeout). Errors are one line on stderr; stdout carries only the
    result (one JSON document with --json).
*/
#include "ctl.h"
#include "irh_config.h"
#include "irh_log.h"
#include <errno.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef IRH_VERSION
#define IRH_VERSION "0.0.0"
#endif

typedef int (ctl_cmd_fn) (ctl_t *ctl, int argc, char **argv);

typedef struct {
    const char *name;
    ctl_cmd_fn *fn;
    const char *args;
    const char *help;
    //  The command's own options, space-separated; a trailing '=' means
    //  the option takes a value ("--limit="). Anything else that starts
    //  with '-' is refused before the command runs, with a suggestion.
    const char *options;
} ctl_command_t;

static const ctl_command_t s_commands [] = {
    { "status", ctl_cmd_status, "",               "supervisor and actors: pid, state, uptime, restarts, heartbeat, RSS", "" },
    { "ping",   ctl_cmd_ping,   "[SERVICE]",      "ping a service (default sup)", "" },
    { "up",     ctl_cmd_up,     "",               "start irohds-daemon --detach unless running; wait until it answers", "" },
    { "down",   ctl_cmd_down,   "",               "stop the daemon and wait until its process is gone (max 5 s)", "" },
    { "ls",     ctl_cmd_ls,     "[FN] [--limit N]", "stored results, newest access first; FN matches a name's dotted tail", "--limit=" },
    { "stats",  ctl_cmd_stats,  "",               "store, broker and (when it runs) gossip counters: lookups, fetches, verdicts", "" },
    { "evict",  ctl_cmd_evict,  "FN | --key HEX", "remove the results of one function, or one result (key or unique prefix)", "--key=" },
    { "gc",     ctl_cmd_gc,     "",               "remove expired results and unreferenced blobs, apply the size cap", "" },
    { "info",   ctl_cmd_info,   "",               "paths and versions (works without a daemon), store settings", "" },
    { "key",    ctl_cmd_key,    "FILE | -",       "BLAKE3-256 hex of a file's bytes (no daemon needed)", "" },
    { "cap",    ctl_cmd_cap,    "[--remeasure]",  "machine capability (service cap)", "--remeasure" },
    { "peers",  ctl_cmd_peers,  "[--stats]",      "the other nodes: state, RTT, CPU idle, RAM free, GPU; --stats: gossip and discovery counters", "--stats" },
    { "join",   ctl_cmd_join,   "tcp://HOST:PORT[#NODEID]", "contact a peer now (service gossip)", "" },
    { "each",   ctl_cmd_each,   "NS [--keys] [--state S] [--limit N]", "run-once progress of namespace NS: done, running (holder, lease), pending; --keys: per key", "--keys --state= --limit=" },
    { "fetches", ctl_cmd_fetches, "",             "transfers of results from peers under way: bytes, rate, source peers", "" },
    { "ns",     ctl_cmd_ns,     "create|join|ls|leave", "namespaces with a secret: create NAME (prints a join token), join TOKEN, ls [--show-secret], leave NAME", "--show-secret --address=" },
    { NULL, NULL, NULL, NULL, NULL }
};

//  Global options, for suggestions; '=' marks those taking a value.
static const char *s_global_options =
    "--home= --endpoint= --json --timeout= -v --verbose -h --help --version";

#define S_SYNOPSIS "usage: irohds-ctl [--home DIR] [--endpoint EP] [--json] [--timeout MS] [-v] COMMAND [ARGS]\n"

static void
s_print_usage (FILE *out)
{
    fprintf (out, S_SYNOPSIS "\ncommands:\n");
    for (const ctl_command_t *c = s_commands; c->name; c++) {
        char left [64];
        snprintf (left, sizeof left, "%s %s", c->name, c->args);
        fprintf (out, "  %-24s %s\n", left, c->help);
    }
    fprintf (out,
        "\n"
        "options:\n"
        "  --home DIR      irohds home (default $IROHDS_HOME, $XDG_DATA_HOME/irohds, ~/.local/share/irohds)\n"
        "  --endpoint EP   talk to EP instead of the home's broker (e.g. a standalone actor's --bind)\n"
        "  --json          print one JSON document on stdout\n"
        "  --timeout MS    how long to wait for an answer (default 3000)\n"
        "  -v, --verbose   verbose\n"
        "  -h, --help      this text\n"
        "  --version       print the version\n"
        "\n"
        "exit status: 0 ok, 1 error, 2 bad usage, 3 daemon not running\n"
        "see irohds-ctl(1)\n");
}

//  One error line: "irohds-ctl: <text>" on stderr.
static void
s_say (const char *format, va_list args)
{
    fputs ("irohds-ctl: ", stderr);
    vfprintf (stderr, format, args);
    fputc ('\n', stderr);
}

int
ctl_fail (ctl_t *ctl, const char *format, ...)
{
    (void) ctl;
    va_list args;
    va_start (args, format);
    s_say (format, args);
    va_end (args);
    return CTL_EXIT_ERROR;
}

int
ctl_usage (ctl_t *ctl, const char *format, ...)
{
    (void) ctl;
    va_list args;
    va_start (args, format);
    s_say (format, args);
    va_end (args);
    //  The reason and the synopsis; the whole help only on request.
    fprintf (stderr, S_SYNOPSIS "run 'irohds-ctl --help' for the commands and options\n");
    return CTL_EXIT_USAGE;
}

//  ---------------------------------------------------------------------
//  "Did you mean": the closest candidate by edit distance (insertions,
//  deletions, substitutions and swaps of neighbours, the optimal string
//  alignment distance), if it is close enough to be a typo rather than a
//  different word.

static size_t
s_distance (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    uint8_t d [64][64];
    for (size_t i = 0; i <= la; i++)
        d [i][0] = (uint8_t) i;
    for (size_t j = 0; j <= lb; j++)
        d [0][j] = (uint8_t) j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d [i - 1][j - 1] + (a [i - 1] != b [j - 1]);
            if (d [i - 1][j] + 1u < best)
                best = d [i - 1][j] + 1u;
            if (d [i][j - 1] + 1u < best)
                best = d [i][j - 1] + 1u;
            if (i > 1 && j > 1 && a [i - 1] == b [j - 2] && a [i - 2] == b [j - 1]
            &&  d [i - 2][j - 2] + 1u < best)
                best = d [i - 2][j - 2] + 1u;
            d [i][j] = (uint8_t) best;
        }
    return d [la][lb];
}

//  Closest word in words (space-separated, a trailing '=' ignored) to
//  word, copied into buf; NULL when nothing is close (at most 1 edit for
//  short words, 2 for longer ones).
static const char *
s_suggest (const char *word, const char *words, char *buf, size_t size)
{
    size_t best = SIZE_MAX;
    const char *found = NULL;
    char candidate [64];
    while (*words) {
        size_t len = strcspn (words, " ");
        if (len && len < sizeof candidate) {
            memcpy (candidate, words, len);
            candidate [len] = 0;
            if (candidate [len - 1] == '=')
                candidate [len - 1] = 0;
            size_t d = s_distance (word, candidate);
            if (d < best) {
                best = d;
                snprintf (buf, size, "%s", candidate);
                found = buf;
            }
        }
        words += len;
        while (*words == ' ')
            words++;
    }
    size_t limit = strlen (word) <= 4? 1: 2;
    return found && best <= limit? found: NULL;
}

//  Does option (maybe "--opt=value") appear in options? *takes_value_p
//  says whether it takes a value as the next argument.
static bool
s_option_known (const char *option, const char *options, bool *takes_value_p)
{
    size_t olen = strcspn (option, "=");
    while (*options) {
        size_t len = strcspn (options, " ");
        bool value = len && options [len - 1] == '=';
        size_t name = value? len - 1: len;
        if (name == olen && strncmp (option, options, olen) == 0) {
            *takes_value_p = value && option [olen] != '=';
            return true;
        }
        options += len;
        while (*options == ' ')
            options++;
    }
    return false;
}

irh_paths_t *
ctl_paths (ctl_t *ctl)
{
    if (!ctl->paths) {
        char *err = NULL;
        //  Never create the home here: asking a question must not leave
        //  directories behind.
        ctl->paths = irh_paths_new (ctl->home_arg, false, &err);
        if (!ctl->paths) {
            ctl_fail (ctl, "%s", err ? err : "cannot resolve the irohds home");
            free (err);
        }
    }
    return ctl->paths;
}

const char *
ctl_endpoint (ctl_t *ctl)
{
    if (!ctl->endpoint) {
        if (ctl->endpoint_arg)
            ctl->endpoint = strdup (ctl->endpoint_arg);
        else {
            irh_paths_t *paths = ctl_paths (ctl);
            if (paths)
                ctl->endpoint = strdup (paths->broker);
        }
    }
    return ctl->endpoint;
}

//  0: may be running; 1: no socket file; 2: socket file but nobody
//  accepts. Only ipc:// endpoints can be judged without waiting.
static int
s_probe_ipc (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) != 0)
        return 0;
    const char *path = endpoint + 6;
    struct stat st;
    if (stat (path, &st) != 0)
        return errno == ENOENT? 1: 0;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen (path) >= sizeof addr.sun_path)
        return 0;
    strcpy (addr.sun_path, path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect (fd, (struct sockaddr *) &addr, sizeof addr);
    int err = errno;
    close (fd);
    if (rc != 0 && (err == ECONNREFUSED || err == ENOENT))
        return 2;
    return 0;
}

//  "daemon not running (why)", with what to do about it: start it (the
//  same home as this command), unless the command was down, or the
//  endpoint is not a home's daemon at all.
static void
s_not_running (ctl_t *ctl, const char *why)
{
    fprintf (stderr, "irohds-ctl: daemon not running (%s)", why);
    if (ctl->endpoint_arg)
        fputs ("; check that something serves that endpoint", stderr);
    else
    if (!ctl->command || !streq (ctl->command, "down")) {
        if (ctl->home_arg)
            fprintf (stderr, " \xe2\x80\x94 start it with `irohds-ctl --home %s up`",
                     ctl->home_arg);
        else
            fputs (" \xe2\x80\x94 start it with `irohds-ctl up`", stderr);
    }
    fputc ('\n', stderr);
}

bool
ctl_maybe_running (ctl_t *ctl)
{
    const char *endpoint = ctl_endpoint (ctl);
    return endpoint && s_probe_ipc (endpoint) == 0;
}

int
ctl_check_running (ctl_t *ctl)
{
    if (ctl->checked)
        return 0;
    const char *endpoint = ctl_endpoint (ctl);
    if (!endpoint)
        return CTL_EXIT_NOT_RUNNING;
    int probe = s_probe_ipc (endpoint);
    char why [600];
    if (probe == 1) {
        snprintf (why, sizeof why, "no socket at %s", endpoint + 6);
        s_not_running (ctl, why);
        return CTL_EXIT_NOT_RUNNING;
    }
    if (probe == 2) {
        snprintf (why, sizeof why, "nobody listening on %s", endpoint);
        s_not_running (ctl, why);
        return CTL_EXIT_NOT_RUNNING;
    }
    ctl->checked = true;
    return 0;
}

void
ctl_disconnect (ctl_t *ctl)
{
    irh_client_destroy (&ctl->client);
    ctl->checked = false;
}

int
ctl_call_quiet (ctl_t *ctl, const char *service, zframe_t **request_p,
                int timeout_ms, zmsg_t **reply_p, const char **code_p)
{
    assert (request_p && *request_p);
    *reply_p = NULL;
    if (code_p)
        *code_p = NULL;
    const char *endpoint = ctl_endpoint (ctl);
    if (!endpoint) {
        zframe_destroy (request_p);
        return CTL_EXIT_ERROR;
    }
    if (!ctl->client) {
        ctl->client = irh_client_new (endpoint);
        if (!ctl->client) {
            zframe_destroy (request_p);
            if (code_p)
                *code_p = "connect";
            return CTL_EXIT_ERROR;
        }
    }
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, request_p);
    int rc = irh_client_call (ctl->client, service, &body, timeout_ms, reply_p);
    zmsg_destroy (&body);
    if (rc == 0)
        return 0;
    const char *code = irh_client_error_code (ctl->client);
    if (code_p)
        *code_p = code;
    if (!code || streq (code, "timeout"))
        return CTL_EXIT_NOT_RUNNING;
    return CTL_EXIT_ERROR;
}

int
ctl_call (ctl_t *ctl, const char *service, zframe_t **request_p, zmsg_t **reply_p)
{
    *reply_p = NULL;
    int rc = ctl_check_running (ctl);
    if (rc) {
        zframe_destroy (request_p);
        return rc;
    }
    const char *code = NULL;
    rc = ctl_call_quiet (ctl, service, request_p, ctl->timeout_ms, reply_p, &code);
    if (rc == CTL_EXIT_NOT_RUNNING) {
        char why [600];
        snprintf (why, sizeof why, "no answer on %s within %d ms",
                  ctl_endpoint (ctl), ctl->timeout_ms);
        s_not_running (ctl, why);
    }
    else
    if (rc && code && streq (code, "connect"))
        ctl_fail (ctl, "cannot connect to %s", ctl_endpoint (ctl));
    else
    if (rc) {
        const char *text = ctl->client? irh_client_error_text (ctl->client): NULL;
        ctl_fail (ctl, "%s: %s: %s", service, code? code: "error", text? text: "");
    }
    return rc;
}

int
ctl_call_message (ctl_t *ctl, const char *service, zframe_t **request_p, zframe_t **body_p)
{
    *body_p = NULL;
    zmsg_t *reply = NULL;
    int rc = ctl_call (ctl, service, request_p, &reply);
    if (rc)
        return rc;
    *body_p = zmsg_pop (reply);
    zmsg_destroy (&reply);
    if (!*body_p)
        return ctl_fail (ctl, "%s: bad reply: empty", service);
    return 0;
}

int
ctl_call_table (ctl_t *ctl, const char *service, zframe_t **request_p,
                irh_table_t **table_p)
{
    *table_p = NULL;
    zmsg_t *reply = NULL;
    int rc = ctl_call (ctl, service, request_p, &reply);
    if (rc)
        return rc;
    *table_p = irh_table_decode (reply);
    zmsg_destroy (&reply);
    if (!*table_p)
        return ctl_fail (ctl, "%s: malformed table in reply", service);
    return 0;
}

int
ctl_print_table (ctl_t *ctl, irh_table_t *table)
{
    if (ctl->json) {
        ctl_json_table (ctl, table);
        ctl_json_end (ctl);
    }
    else
        irh_table_print (table, stdout);
    return 0;
}

//  ---------------------------------------------------------------------
//  Config problems: every command shows them once (they would otherwise
//  only reach the daemon's log). The home is resolved quietly here; a
//  command that needs it reports a failure itself.

static void
s_show_config_problems (ctl_t *ctl)
{
    if (!ctl->paths) {
        char *err = NULL;
        ctl->paths = irh_paths_new (ctl->home_arg, false, &err);
        free (err);
        if (!ctl->paths)
            return;
    }
    //  A FIFO or device would block the read: only a regular file (or
    //  none) is handed to the parser.
    struct stat st;
    if (stat (ctl->paths->config, &st) == 0 && !S_ISREG (st.st_mode)) {
        fprintf (stderr, "irohds-ctl: warning: %s is not a regular file; ignored\n",
                 ctl->paths->config);
        return;
    }
    irh_config_t *config = irh_config_load (ctl->paths->config);
    if (!config)
        return;
    size_t count = irh_config_errors (config);
    for (size_t i = 0; i < count; i++)
        fprintf (stderr, "irohds-ctl: warning: %s\n", irh_config_error (config, i));
    irh_config_destroy (&config);
}

//  ---------------------------------------------------------------------

static const char *
s_option_value (int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen (name);
    if (strncmp (argv [*i], name, len) == 0 && argv [*i][len] == '=')
        return argv [*i] + len + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv [++*i];
}

//  Every argument before "--" that looks like an option must be one the
//  command knows; otherwise a usage error naming the closest option.
static int
s_check_options (ctl_t *ctl, const ctl_command_t *command, int nrest, char **rest,
                 const bool *literal)
{
    for (int i = 1; i < nrest; i++) {
        const char *arg = rest [i];
        if (literal [i] || arg [0] != '-' || arg [1] == 0)
            continue;
        bool takes_value = false;
        if (s_option_known (arg, command->options, &takes_value)) {
            i += takes_value;
            continue;
        }
        char words [512], buf [64];
        snprintf (words, sizeof words, "%s %s", s_global_options, command->options);
        char name [64];
        snprintf (name, sizeof name, "%.*s", (int) strcspn (arg, "="), arg);
        const char *hint = s_suggest (name, words, buf, sizeof buf);
        if (hint)
            return ctl_usage (ctl, "unknown option '%s' for %s (did you mean %s?)",
                              name, command->name, hint);
        return ctl_usage (ctl, "unknown option '%s' for %s", name, command->name);
    }
    return -1;
}

//  The command named name, or a usage error with the closest command (or,
//  for something that looks like an option, the closest global option).
static int
s_find_command (ctl_t *ctl, const char *name, const ctl_command_t **command_p)
{
    for (const ctl_command_t *c = s_commands; c->name; c++)
        if (streq (c->name, name)) {
            *command_p = c;
            return -1;
        }
    char names [256] = "", buf [64];
    for (const ctl_command_t *c = s_commands; c->name; c++)
        snprintf (names + strlen (names), sizeof names - strlen (names), "%s ", c->name);
    bool option = name [0] == '-';
    const char *hint = s_suggest (name, option? s_global_options: names, buf, sizeof buf);
    const char *what = option? "option": "command";
    if (hint)
        return ctl_usage (ctl, "unknown %s '%s' (did you mean %s?)", what, name, hint);
    return ctl_usage (ctl, "unknown %s '%s'", what, name);
}

int
main (int argc, char **argv)
{
    ctl_t ctl = { .timeout_ms = 3000 };
    char **rest = (char **) calloc ((size_t) argc + 1, sizeof (char *));
    bool *literal = (bool *) calloc ((size_t) argc + 1, sizeof (bool));
    assert (rest && literal);
    int nrest = 0;
    bool only_args = false;
    int rc = -1;

    //  Global options are taken out wherever they stand, so both
    //  "irohds-ctl --json status" and "irohds-ctl status --json" work;
    //  "--" ends them.
    for (int i = 1; i < argc && rc < 0; i++) {
        const char *arg = argv [i];
        if (only_args) {
            literal [nrest] = true;
            rest [nrest++] = argv [i];
        }
        else
        if (streq (arg, "--"))
            only_args = true;
        else
        if (streq (arg, "--json"))
            ctl.json = true;
        else
        if (streq (arg, "-v") || streq (arg, "--verbose"))
            ctl.verbose = true;
        else
        if (streq (arg, "-h") || streq (arg, "--help")) {
            s_print_usage (stdout);
            rc = 0;
        }
        else
        if (streq (arg, "--version")) {
            printf ("irohds-ctl %s\n", IRH_VERSION);
            rc = 0;
        }
        else
        if (streq (arg, "--home") || strncmp (arg, "--home=", 7) == 0) {
            ctl.home_arg = s_option_value (argc, argv, &i, "--home");
            if (!ctl.home_arg || !*ctl.home_arg)
                rc = ctl_usage (&ctl, "--home needs a directory");
        }
        else
        if (streq (arg, "--endpoint") || strncmp (arg, "--endpoint=", 11) == 0) {
            ctl.endpoint_arg = s_option_value (argc, argv, &i, "--endpoint");
            if (!ctl.endpoint_arg || !*ctl.endpoint_arg)
                rc = ctl_usage (&ctl, "--endpoint needs an endpoint");
        }
        else
        if (streq (arg, "--timeout") || strncmp (arg, "--timeout=", 10) == 0) {
            const char *value = s_option_value (argc, argv, &i, "--timeout");
            if (!value || !ctl_all_digits (value, 9) || atoi (value) < 1)
                rc = ctl_usage (&ctl, "--timeout needs milliseconds (1 or more)");
            else
                ctl.timeout_ms = atoi (value);
        }
        else
            rest [nrest++] = argv [i];
    }
    if (rc < 0 && nrest == 0)
        rc = ctl_usage (&ctl, "no command given");
    if (rc < 0 && literal [0])
        rc = ctl_usage (&ctl, "no command given before '--'");
    if (rc < 0 && streq (rest [0], "help")) {
        s_print_usage (stdout);
        rc = 0;
    }
    const ctl_command_t *command = NULL;
    if (rc < 0)
        rc = s_find_command (&ctl, rest [0], &command);
    if (rc < 0)
        rc = s_check_options (&ctl, command, nrest, rest, literal);
    if (rc < 0) {
        //  CZMQ's default handler would swallow Ctrl-C; keep the
        //  ordinary behaviour for a command-line tool.
        zsys_handler_set (NULL);
        irh_log_init ("ctl", ctl.verbose? IRH_LOG_DEBUG: IRH_LOG_WARN, NULL);
        ctl.command = command->name;
        s_show_config_problems (&ctl);
        rc = command->fn (&ctl, nrest, rest);
    }
    irh_client_destroy (&ctl.client);
    irh_paths_destroy (&ctl.paths);
    free (ctl.endpoint);
    free (rest);
    free (literal);
    if (fflush (stdout) != 0 || ferror (stdout)) {
        fprintf (stderr, "irohds-ctl: cannot write output: %s\n", strerror (errno));
        if (rc == 0)
            rc = CTL_EXIT_ERROR;
    }
    return rc;
}
