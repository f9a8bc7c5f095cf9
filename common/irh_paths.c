/*  irh_paths.c: resolve the irohds home and every path under it
    (proto/store-layout.md), create the directories with safe modes, and
    refuse homes we must not use: owned by someone else, or so deep that
    the ipc socket paths under run/ would not fit a sockaddr_un.
*/
#include "irh_paths.h"
#include "irh_file.h"
#include "irh_log.h"
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

//  Error reporting for functions that return a pointer: NULL after
//  setting *err (irh_error_set).
#define s_fail(...) (irh_error_set (__VA_ARGS__), NULL)

//  sun_path holds 108 bytes including the NUL; we keep one byte spare, as
//  the design says "under 107 bytes" for the socket path itself.
#define IRH_IPC_PATH_MAX 107
//  A home is accepted only if every socket name up to this long fits under
//  run/, so a too-deep home fails at start with a clear message instead
//  of an actor failing later to make its socket.
#define IRH_IPC_NAME_RESERVE 16

static char *
s_printf (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *result = NULL;
    if (vasprintf (&result, format, args) < 0)
        result = NULL;
    va_end (args);
    return result;
}

//  The default home when neither --home nor $IROHDS_HOME is given.
static char *
s_default_home (char **err)
{
    const char *xdg = getenv ("XDG_DATA_HOME");
    //  The XDG spec says relative values are invalid and must be ignored.
    if (xdg && *xdg == '/')
        return s_printf ("%s/irohds", xdg);
    const char *user_home = getenv ("HOME");
    if (!user_home || !*user_home) {
        struct passwd *pw = getpwuid (getuid ());
        if (pw && pw->pw_dir && *pw->pw_dir)
            user_home = pw->pw_dir;
    }
    if (!user_home || !*user_home)
        return s_fail (err, "cannot find a home for irohds: set IROHDS_HOME or HOME");
    return s_printf ("%s/.local/share/irohds", user_home);
}

//  Absolute, lexically clean path (no realpath: the path may not exist).
static char *
s_absolute (const char *path)
{
    if (*path == '/')
        return strdup (path);
    char cwd [PATH_MAX];
    if (!getcwd (cwd, sizeof cwd))
        return NULL;
    return s_printf ("%s/%s", cwd, path);
}

//  mkdir -p with mode for every directory we create; existing ones are
//  left alone (the parents of home are not ours to change).
static int
s_mkdir_p (const char *path, mode_t mode)
{
    char *copy = strdup (path);
    if (!copy)
        return -1;
    for (char *slash = strchr (copy + 1, '/'); ; slash = strchr (slash + 1, '/')) {
        if (slash)
            *slash = 0;
        if (mkdir (copy, mode) == -1 && errno != EEXIST) {
            int saved = errno;
            free (copy);
            errno = saved;
            return -1;
        }
        if (!slash)
            break;
        *slash = '/';
    }
    free (copy);
    return 0;
}

irh_paths_t *
irh_paths_new (const char *home, bool create, char **err)
{
    if (err)
        *err = NULL;
    char *chosen = NULL;
    if (home && *home)
        chosen = strdup (home);
    else
    if (getenv ("IROHDS_HOME") && *getenv ("IROHDS_HOME"))
        chosen = strdup (getenv ("IROHDS_HOME"));
    else {
        chosen = s_default_home (err);
        if (!chosen)
            return NULL;
    }
    if (!chosen)
        return s_fail (err, "out of memory");

    char *absolute = s_absolute (chosen);
    if (!absolute) {
        irh_error_set (err, "%s: cannot make absolute: %s", chosen, strerror (errno));
        free (chosen);
        return NULL;
    }
    free (chosen);

    if (create && s_mkdir_p (absolute, 0700) == -1) {
        irh_error_set (err, "%s: cannot create irohds home: %s", absolute, strerror (errno));
        free (absolute);
        return NULL;
    }
    //  Resolve symlinks and ".." once the directory exists, so every
    //  process names the same sockets the same way.
    char resolved [PATH_MAX];
    if (realpath (absolute, resolved)) {
        free (absolute);
        absolute = strdup (resolved);
        if (!absolute)
            return s_fail (err, "out of memory");
    }
    else
    if (create || errno != ENOENT) {
        irh_error_set (err, "%s: %s", absolute, strerror (errno));
        free (absolute);
        return NULL;
    }

    irh_paths_t *self = calloc (1, sizeof (irh_paths_t));
    if (!self) {
        free (absolute);
        return s_fail (err, "out of memory");
    }
    self->home = absolute;
    self->run = s_printf ("%s/run", self->home);
    self->store = s_printf ("%s/store", self->home);
    self->blobs = s_printf ("%s/blobs", self->home);
    self->staging = s_printf ("%s/run/staging", self->home);
    self->fetch = s_printf ("%s/fetch", self->home);
    self->ns = s_printf ("%s/ns", self->home);
    self->ns_peers = s_printf ("%s/peers/ns_bootstrap", self->home);
    self->config = s_printf ("%s/config.toml", self->home);
    self->log = s_printf ("%s/irohds.log", self->home);
    self->pidfile = s_printf ("%s/run/irohds-daemon.pid", self->home);
    self->lockfile = s_printf ("%s/run/irohds-daemon.lock", self->home);
    self->broker_path = s_printf ("%s/run/broker.ipc", self->home);
    self->broker = s_printf ("ipc://%s", self->broker_path ? self->broker_path : "");
    if (!self->run || !self->store || !self->blobs || !self->staging || !self->fetch
    ||  !self->ns || !self->ns_peers
    ||  !self->config || !self->log || !self->pidfile || !self->lockfile
    ||  !self->broker_path || !self->broker) {
        irh_paths_destroy (&self);
        return s_fail (err, "out of memory");
    }
    size_t longest = strlen (self->run) + 1 + IRH_IPC_NAME_RESERVE + strlen (".ipc");
    if (longest >= IRH_IPC_PATH_MAX) {
        irh_error_set (err, "irohds home %s is too deep: socket paths under %s would be up "
                "to %zu bytes and must be under %d; use a shorter --home or IROHDS_HOME",
                self->home, self->run, longest, IRH_IPC_PATH_MAX);
        irh_paths_destroy (&self);
        return NULL;
    }
    if (create) {
        const char *dirs [] = { self->home, self->run, self->store, self->blobs,
                                self->staging, self->fetch, self->ns };
        for (size_t index = 0; index < sizeof dirs / sizeof dirs [0]; index++)
            if (irh_file_private_dir (dirs [index], err) == -1) {
                irh_paths_destroy (&self);
                return NULL;
            }
    }
    else {
        //  Not creating: still refuse a home that exists but is not ours.
        struct stat st;
        if (lstat (self->home, &st) == 0 && st.st_uid != geteuid ()) {
            irh_error_set (err, "%s: owned by uid %u, not by us (uid %u); refusing to use it",
                    self->home, (unsigned) st.st_uid, (unsigned) geteuid ());
            irh_paths_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
irh_paths_destroy (irh_paths_t **self_p)
{
    assert (self_p);
    irh_paths_t *self = *self_p;
    if (!self)
        return;
    free (self->home);
    free (self->run);
    free (self->store);
    free (self->blobs);
    free (self->staging);
    free (self->fetch);
    free (self->ns);
    free (self->ns_peers);
    free (self->config);
    free (self->log);
    free (self->pidfile);
    free (self->lockfile);
    free (self->broker);
    free (self->broker_path);
    free (self);
    *self_p = NULL;
}

char *
irh_paths_ipc (irh_paths_t *self, const char *name)
{
    assert (self);
    assert (name);
    //  Names become file names under run/: nothing that could escape it.
    size_t length = strlen (name);
    if (length == 0 || length > 64)
        return NULL;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')
        ||    *c == '-' || *c == '_' || (*c == '.' && c != name)))
            return NULL;
    if (strlen (self->run) + 1 + length + 4 >= IRH_IPC_PATH_MAX)
        return NULL;
    return s_printf ("ipc://%s/%s.ipc", self->run, name);
}

char *
irh_paths_blob (irh_paths_t *self, const char *hex)
{
    assert (self);
    assert (hex);
    //  The hex may come from a manifest or a peer: only lower-case hex
    //  digits, so the result can never leave blobs/.
    size_t length = strlen (hex);
    if (length < 2 || length > 128)
        return NULL;
    for (const char *c = hex; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return NULL;
    return s_printf ("%s/%.2s/%s", self->blobs, hex, hex);
}

//  --------------------------------------------------------------------
//  Self-test

static char *
s_test_tempdir (void)
{
    char template [] = "/tmp/irh-paths-XXXXXX";
    char *dir = mkdtemp (template);
    assert (dir);
    return strdup (dir);
}

static void
s_test_rm_rf (const char *path)
{
    //  Only ever called on our own mkdtemp directories.
    assert (strncmp (path, "/tmp/irh-paths-", 15) == 0);
    char *command = s_printf ("rm -rf '%s'", path);
    assert (command);
    int rc = system (command);
    assert (rc == 0);
    free (command);
}

static mode_t
s_test_mode (const char *path)
{
    struct stat st;
    int rc = stat (path, &st);
    assert (rc == 0);
    assert (S_ISDIR (st.st_mode));
    return st.st_mode & 07777;
}

void
irh_paths_test (bool verbose)
{
    if (verbose)
        printf (" * irh_paths: ");
    char *saved_irohds = getenv ("IROHDS_HOME") ? strdup (getenv ("IROHDS_HOME")) : NULL;
    char *saved_xdg = getenv ("XDG_DATA_HOME") ? strdup (getenv ("XDG_DATA_HOME")) : NULL;
    char *saved_home = getenv ("HOME") ? strdup (getenv ("HOME")) : NULL;
    char *base = s_test_tempdir ();
    char *err = NULL;

    //  Explicit home: created with every subdirectory at 0700
    char *home = s_printf ("%s/a/b/home", base);
    irh_paths_t *paths = irh_paths_new (home, true, &err);
    assert (paths);
    assert (err == NULL);
    assert (strcmp (paths->home, home) == 0);
    assert (s_test_mode (paths->home) == 0700);
    assert (s_test_mode (paths->run) == 0700);
    assert (s_test_mode (paths->store) == 0700);
    assert (s_test_mode (paths->blobs) == 0700);
    assert (s_test_mode (paths->ns) == 0700);
    assert (s_test_mode (paths->staging) == 0700);
    assert (s_test_mode (paths->fetch) == 0700);
    char *expect = s_printf ("ipc://%s/run/broker.ipc", home);
    assert (strcmp (paths->broker, expect) == 0);
    assert (strcmp (paths->broker + 6, paths->broker_path) == 0);
    free (expect);
    expect = s_printf ("%s/config.toml", home);
    assert (strcmp (paths->config, expect) == 0);
    free (expect);
    expect = s_printf ("%s/run/irohds-daemon.pid", home);
    assert (strcmp (paths->pidfile, expect) == 0);
    free (expect);

    char *endpoint = irh_paths_ipc (paths, "store");
    expect = s_printf ("ipc://%s/run/store.ipc", home);
    assert (endpoint && strcmp (endpoint, expect) == 0);
    free (expect);
    free (endpoint);
    assert (irh_paths_ipc (paths, "") == NULL);
    assert (irh_paths_ipc (paths, "../evil") == NULL);
    assert (irh_paths_ipc (paths, "a/b") == NULL);
    assert (irh_paths_ipc (paths, ".hidden") == NULL);
    assert (irh_paths_ipc (paths, "UPPER") == NULL);

    char *blob = irh_paths_blob (paths, "abcdef01");
    expect = s_printf ("%s/blobs/ab/abcdef01", home);
    assert (blob && strcmp (blob, expect) == 0);
    free (expect);
    free (blob);
    assert (irh_paths_blob (paths, "a") == NULL);
    assert (irh_paths_blob (paths, "../../etc/passwd") == NULL);
    assert (irh_paths_blob (paths, "ABCD") == NULL);
    assert (irh_paths_blob (paths, "ab/cd") == NULL);
    irh_paths_destroy (&paths);
    assert (paths == NULL);
    irh_paths_destroy (&paths);     //  Destroying NULL is harmless

    //  A loose mode on our own home is tightened, also on subdirectories
    int rc = chmod (home, 0777);
    assert (rc == 0);
    char *run = s_printf ("%s/run", home);
    rc = chmod (run, 0755);
    assert (rc == 0);
    paths = irh_paths_new (home, true, &err);
    assert (paths);
    assert (s_test_mode (home) == 0700);
    assert (s_test_mode (run) == 0700);
    irh_paths_destroy (&paths);
    free (run);

    //  A relative, unclean home is made absolute and resolved
    char cwd [PATH_MAX];
    assert (getcwd (cwd, sizeof cwd));
    rc = chdir (base);
    assert (rc == 0);
    paths = irh_paths_new ("a/b/../b/home", true, &err);
    assert (paths);
    assert (strcmp (paths->home, home) == 0);
    irh_paths_destroy (&paths);
    rc = chdir (cwd);
    assert (rc == 0);

    //  Resolution order: --home, $IROHDS_HOME, $XDG_DATA_HOME, $HOME
    char *env_home = s_printf ("%s/env", base);
    char *xdg = s_printf ("%s/xdg", base);
    char *user = s_printf ("%s/user", base);
    setenv ("IROHDS_HOME", env_home, 1);
    setenv ("XDG_DATA_HOME", xdg, 1);
    setenv ("HOME", user, 1);
    paths = irh_paths_new (home, false, &err);
    assert (paths && strcmp (paths->home, home) == 0);
    irh_paths_destroy (&paths);
    paths = irh_paths_new (NULL, true, &err);
    assert (paths && strcmp (paths->home, env_home) == 0);
    irh_paths_destroy (&paths);
    unsetenv ("IROHDS_HOME");
    paths = irh_paths_new (NULL, true, &err);
    expect = s_printf ("%s/irohds", xdg);
    assert (paths && strcmp (paths->home, expect) == 0);
    free (expect);
    irh_paths_destroy (&paths);
    setenv ("XDG_DATA_HOME", "relative/ignored", 1);
    paths = irh_paths_new (NULL, true, &err);
    expect = s_printf ("%s/.local/share/irohds", user);
    assert (paths && strcmp (paths->home, expect) == 0);
    free (expect);
    irh_paths_destroy (&paths);
    unsetenv ("XDG_DATA_HOME");
    paths = irh_paths_new (NULL, false, &err);
    assert (paths);
    irh_paths_destroy (&paths);
    unsetenv ("HOME");
    //  Without HOME the password database still gives a home; do not
    //  create anything there, only check resolution works.
    paths = irh_paths_new (NULL, false, &err);
    if (paths) {
        assert (strstr (paths->home, "/.local/share/irohds"));
        irh_paths_destroy (&paths);
    }
    else
        free (err), err = NULL;
    free (env_home);
    free (xdg);
    free (user);

    //  Not creating: a missing home is fine and nothing is made
    char *missing = s_printf ("%s/missing", base);
    paths = irh_paths_new (missing, false, &err);
    assert (paths);
    assert (access (missing, F_OK) == -1);
    irh_paths_destroy (&paths);
    free (missing);

    //  A home that is a file is refused with a message
    char *file = s_printf ("%s/file", base);
    FILE *handle = fopen (file, "w");
    assert (handle);
    fclose (handle);
    paths = irh_paths_new (file, true, &err);
    assert (paths == NULL);
    assert (err && strstr (err, file));
    free (err);
    err = NULL;
    free (file);

    //  Too deep for an ipc path: refused with a clear message
    char *deep = s_printf ("%s/%0100d", base, 0);
    paths = irh_paths_new (deep, false, &err);
    assert (paths == NULL);
    assert (err && strstr (err, "too deep"));
    free (err);
    err = NULL;
    paths = irh_paths_new (deep, true, NULL);    //  err is optional
    assert (paths == NULL);
    free (deep);

    //  Exactly at the limit: the deepest home where every socket name of
    //  up to IRH_IPC_NAME_RESERVE bytes still fits
    size_t fixed = strlen (base) + 1 + strlen ("/run/") + IRH_IPC_NAME_RESERVE + 4;
    size_t room = IRH_IPC_PATH_MAX - 1 - fixed;
    char *edge = s_printf ("%s/%0*d", base, (int) room, 0);
    paths = irh_paths_new (edge, true, &err);
    assert (paths);
    endpoint = irh_paths_ipc (paths, "sixteen-bytes-ok");
    assert (endpoint);
    assert (strlen (endpoint) == strlen ("ipc://") + IRH_IPC_PATH_MAX - 1);
    free (endpoint);
    //  ...where a longer socket name no longer fits
    assert (irh_paths_ipc (paths, "seventeen-bytes-x") == NULL);
    irh_paths_destroy (&paths);
    free (edge);
    edge = s_printf ("%s/%0*d", base, (int) room + 1, 0);
    paths = irh_paths_new (edge, true, &err);
    assert (paths == NULL);
    free (err);
    err = NULL;
    free (edge);

    //  Someone else's home is refused (only testable as root, with a
    //  directory we give away to nobody)
    if (geteuid () == 0) {
        char *theirs = s_printf ("%s/theirs", base);
        rc = mkdir (theirs, 0700);
        assert (rc == 0);
        rc = chown (theirs, 65534, 65534);
        assert (rc == 0);
        paths = irh_paths_new (theirs, true, &err);
        assert (paths == NULL);
        assert (err && strstr (err, "refusing"));
        free (err);
        err = NULL;
        paths = irh_paths_new (theirs, false, &err);
        assert (paths == NULL);
        free (err);
        err = NULL;
        free (theirs);
    }

    if (saved_irohds)
        setenv ("IROHDS_HOME", saved_irohds, 1);
    else
        unsetenv ("IROHDS_HOME");
    if (saved_xdg)
        setenv ("XDG_DATA_HOME", saved_xdg, 1);
    else
        unsetenv ("XDG_DATA_HOME");
    if (saved_home)
        setenv ("HOME", saved_home, 1);
    free (saved_irohds);
    free (saved_xdg);
    free (saved_home);
    free (home);
    s_test_rm_rf (base);
    free (base);
    if (verbose)
        printf ("OK\n");
}
