/*  irh_actor.c: common start-up of actor processes (see irh_actor.h). */
#include "irh_actor.h"
#include "irh_envelope.h"
#include "irh_log.h"
#include "irh_worker.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef IROHDS_VERSION
#define IROHDS_VERSION "0.0.0"
#endif

const char *
irh_actor_version (void)
{
    return IROHDS_VERSION;
}

//  --help (problem NULL): the whole text on stdout, exit 0. Bad usage:
//  the problem, the synopsis and where to look, on stderr, exit 2.
static int
s_usage (irh_actor_t *self, FILE *out, bool allow_service, const char *problem)
{
    if (problem)
        fprintf (out, "irohds-%s: %s\n", self->name, problem);
    fprintf (out, "usage: irohds-%s [--home DIR] (--broker ENDPOINT | --bind ENDPOINT)%s [-v]\n",
             self->name, allow_service ? " [--service NAME]" : "");
    if (problem) {
        fprintf (out, "run 'irohds-%s --help' for details\n", self->name);
        return 2;
    }
    fprintf (out,
        "\n"
        "An irohds actor. irohds-daemon starts it with --broker; run it alone with\n"
        "--bind to debug it (clients then talk to ENDPOINT directly).\n"
        "\n"
        "  --home DIR         irohds home (default $IROHDS_HOME, $XDG_DATA_HOME/irohds,\n"
        "                     ~/.local/share/irohds)\n"
        "  --broker ENDPOINT  register with the broker at ENDPOINT\n"
        "  --bind ENDPOINT    serve clients at ENDPOINT, no broker\n"
        "%s"
        "  -v, --verbose      debug logging\n"
        "  -h, --help         this text\n"
        "  --version          print the version\n"
        "\n"
        "see irohds-%s(8)\n",
        allow_service ? "  --service NAME     register as NAME instead of the default\n" : "",
        self->name);
    return 0;
}

//  Take the registration token the supervisor passed (docs/security.md):
//  $IROHDS_TOKEN_FD names an inherited pipe holding it. The pipe, not argv
//  or the environment, so the token shows up in no ps listing and no
//  /proc/PID/environ, and is gone from the kernel once read. The variable
//  (just a number) is removed so no child of ours inherits it.
static void
s_take_token (const char *name)
{
    const char *value = getenv ("IROHDS_TOKEN_FD");
    if (!value)
        return;
    char *end = NULL;
    errno = 0;
    long fd = strtol (value, &end, 10);
    struct stat st;
    if (errno || end == value || *end || fd < 3 || fd > 65535
    ||  fstat ((int) fd, &st) || !S_ISFIFO (st.st_mode))
        irh_warn ("%s: IROHDS_TOKEN_FD=%.20s is not an inherited pipe; no token", name, value);
    else {
        //  The supervisor wrote the token and closed its end before the
        //  fork, so this never waits; non-blocking all the same.
        fcntl ((int) fd, F_SETFL, O_NONBLOCK);
        char token [IRH_TOKEN_SIZE + 2];
        ssize_t size = read ((int) fd, token, sizeof token);
        close ((int) fd);
        bool hex = size == IRH_TOKEN_SIZE;
        for (ssize_t i = 0; hex && i < size; i++)
            hex = (token [i] >= '0' && token [i] <= '9') || (token [i] >= 'a' && token [i] <= 'f');
        if (hex) {
            token [IRH_TOKEN_SIZE] = 0;
            irh_worker_set_token (token);
        }
        else
            irh_warn ("%s: the token pipe held no valid token", name);
    }
    unsetenv ("IROHDS_TOKEN_FD");
}

int
irh_actor_init (irh_actor_t *self, const char *name, const char *service,
                bool allow_service, int argc, char **argv)
{
    assert (self && name && service);
    memset (self, 0, sizeof (*self));
    self->name = name;
    self->service = service;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool has_value = i + 1 < argc;
        if (strcmp (arg, "-v") == 0 || strcmp (arg, "--verbose") == 0)
            self->verbose = true;
        else
        if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0)
            return s_usage (self, stdout, allow_service, NULL);
        else
        if (strcmp (arg, "--version") == 0) {
            printf ("irohds-%s %s\n", name, IROHDS_VERSION);
            return 0;
        }
        else
        if (strcmp (arg, "--home") == 0 && has_value)
            self->home = argv [++i];
        else
        if (strcmp (arg, "--broker") == 0 && has_value)
            self->broker = argv [++i];
        else
        if (strcmp (arg, "--bind") == 0 && has_value)
            self->bind = argv [++i];
        else
        if (allow_service && strcmp (arg, "--service") == 0 && has_value)
            self->service = argv [++i];
        else {
            char problem [300];
            snprintf (problem, sizeof (problem), "unknown or incomplete argument '%.200s'", arg);
            return s_usage (self, stderr, allow_service, problem);
        }
    }
    if ((self->broker == NULL) == (self->bind == NULL))
        return s_usage (self, stderr, allow_service,
                        "give exactly one of --broker and --bind");
    if (!irh_envelope_service_valid ((const uint8_t *) self->service, strlen (self->service)))
        return s_usage (self, stderr, allow_service, "invalid service name");
    irh_log_init (name, self->verbose ? IRH_LOG_DEBUG : IRH_LOG_INFO, NULL);
    s_take_token (name);
    char *err = NULL;
    self->paths = irh_paths_new (self->home, true, &err);
    if (!self->paths) {
        irh_error ("%s: %s", name, err ? err : "cannot resolve the home");
        free (err);
        return 1;
    }
    self->config = irh_config_load (self->paths->config);
    for (size_t i = 0; i < irh_config_errors (self->config); i++)
        irh_warn ("%s: %s", name, irh_config_error (self->config, i));
    return -1;
}

void
irh_actor_cleanup (irh_actor_t *self)
{
    assert (self);
    irh_config_destroy (&self->config);
    irh_paths_destroy (&self->paths);
}

void
irh_actor_test (bool verbose)
{
    if (verbose)
        printf (" * irh_actor: ");
    char home [] = "/tmp/irh_actor_test_XXXXXX";
    assert (mkdtemp (home));
    irh_actor_t actor;
    char *ok [] = { "x", "--home", home, "--bind", "ipc:///tmp/x.ipc", "--service", "echo2" };
    assert (irh_actor_init (&actor, "test", "echo", true, 7, ok) == -1);
    assert (strcmp (actor.service, "echo2") == 0);
    assert (actor.paths && actor.config && actor.bind && !actor.broker);
    irh_actor_cleanup (&actor);
    assert (actor.paths == NULL && actor.config == NULL);
    //  --service not allowed, both endpoints, neither, dangling value,
    //  bad service: all usage errors (2), nothing set up.
    assert (irh_actor_init (&actor, "test", "echo", false, 7, ok) == 2);
    char *both [] = { "x", "--broker", "ipc:///a", "--bind", "ipc:///b" };
    assert (irh_actor_init (&actor, "test", "echo", false, 5, both) == 2);
    char *neither [] = { "x", "-v" };
    assert (irh_actor_init (&actor, "test", "echo", false, 2, neither) == 2);
    char *dangling [] = { "x", "--bind" };
    assert (irh_actor_init (&actor, "test", "echo", false, 2, dangling) == 2);
    char *badname [] = { "x", "--bind", "ipc:///b", "--service", "NO SPACES" };
    assert (irh_actor_init (&actor, "test", "echo", true, 5, badname) == 2);
    assert (actor.paths == NULL);
    irh_actor_cleanup (&actor);
    char *help [] = { "x", "--help" };
    assert (irh_actor_init (&actor, "test", "echo", false, 2, help) == 0);
    char *version [] = { "x", "--version" };
    assert (irh_actor_init (&actor, "test", "echo", false, 2, version) == 0);
    assert (strcmp (irh_actor_version (), "0.0.0") != 0);
    char cmd [128];
    snprintf (cmd, sizeof (cmd), "rm -rf %s", home);
    assert (system (cmd) == 0);
    if (verbose)
        printf ("OK\n");
}
