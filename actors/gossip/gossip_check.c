/*  gossip_check.c: irohds-gossip --check-sandbox (gossip_check.h).

    Gossip serves results to peers and fetches theirs, so its Landlock
    policy (common/irh_sandbox.c) grants blobs/ read-only (the store's
    files it serves) and fetch/ read-write (where fetched bytes are staged
    for the store to ingest), besides run/, the log, the config, identity/
    and ns/ (namespace secrets) read-only, and peers/. The check tries both sides of each grant.
*/
#include "gossip_check.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char **
gossip_check_args (int argc, char *argv [], int *count, bool *check)
{
    char **args = (char **) calloc ((size_t) argc + 3, sizeof (char *));
    if (!args)
        return NULL;
    int n = 0;
    bool endpoint = false;
    *check = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp (argv [i], "--check-sandbox") == 0)
            *check = true;
        else
            args [n++] = argv [i];
        if (strcmp (argv [i], "--bind") == 0 || strcmp (argv [i], "--broker") == 0)
            endpoint = true;
    }
    if (*check && !endpoint) {
        args [n++] = "--bind";
        args [n++] = "inproc://check-sandbox";
    }
    args [n] = NULL;
    *count = n;
    return args;
}

//  Try to open path with flags; print the outcome. Returns true when the
//  result is the one wanted (allowed, or refused by the sandbox).
static bool
s_try (const char *what, const char *path, int flags, bool allowed)
{
    int fd = open (path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    int saved = errno;
    if (fd >= 0) {
        close (fd);
        if (flags & O_CREAT)
            unlink (path);
    }
    printf ("%s %s: %s\n", what, path, fd >= 0 ? "ALLOWED" : strerror (saved));
    return allowed ? fd >= 0 : fd < 0 && (saved == EACCES || saved == EPERM);
}

static bool
s_try_in (const char *what, const char *dir, const char *name, int flags, bool allowed)
{
    char path [4096];
    int written = snprintf (path, sizeof path, "%s/%s", dir, name);
    if (written < 0 || (size_t) written >= sizeof path) {
        printf ("%s %s/%s: path too long\n", what, dir, name);
        return false;
    }
    return s_try (what, path, flags, allowed);
}

//  The first regular file in a blobs/<hh>/ folder, or "" when none.
static void
s_first_blob (const char *blobs, char *out, size_t size)
{
    out [0] = 0;
    DIR *top = opendir (blobs);
    struct dirent *entry;
    while (top && !out [0] && (entry = readdir (top))) {
        if (entry->d_name [0] == '.')
            continue;
        char sub [4096];
        int written = snprintf (sub, sizeof sub, "%s/%s", blobs, entry->d_name);
        if (written < 0 || (size_t) written >= sizeof sub)
            continue;
        DIR *dir = opendir (sub);
        struct dirent *file;
        while (dir && !out [0] && (file = readdir (dir)))
            if (file->d_type == DT_REG) {
                written = snprintf (out, size, "%s/%s", sub, file->d_name);
                if (written < 0 || (size_t) written >= size)
                    out [0] = 0;
            }
        if (dir)
            closedir (dir);
    }
    if (top)
        closedir (top);
}

int
gossip_check_sandbox (irh_paths_t *paths, irh_sandbox_status_t *status)
{
    printf ("sandbox %s\n", status->summary);
    char identity [4096];
    snprintf (identity, sizeof identity, "%s/identity", paths->home);
    bool ok = status->landlock;
    //  Must be allowed: its own keys, reading blobs, staging fetches.
    ok &= s_try_in ("read", identity, "node.cert_secret", O_RDONLY, true);
    ok &= s_try ("list", paths->blobs, O_RDONLY | O_DIRECTORY, true);
    char blob [4096];
    s_first_blob (paths->blobs, blob, sizeof blob);
    if (blob [0])
        ok &= s_try ("read", blob, O_RDONLY, true);
    ok &= s_try_in ("create", paths->fetch, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL, true);
    //  The namespace secrets: read, never written (irohds-ctl writes them).
    ok &= s_try ("list", paths->ns, O_RDONLY | O_DIRECTORY, true);
    ok &= s_try_in ("create", paths->ns, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL, false);
    //  Must be refused: writing blobs (or changing one), the store, the
    //  identity, the home.
    if (blob [0])
        ok &= s_try ("write", blob, O_WRONLY, false);
    ok &= s_try_in ("create", paths->blobs, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL, false);
    ok &= s_try_in ("create", paths->store, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL, false);
    ok &= s_try_in ("read", paths->store, "data.mdb", O_RDONLY, false);
    ok &= s_try_in ("create", identity, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL, false);
    ok &= s_try_in ("create", paths->home, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL, false);
    printf ("%s\n", ok ? "confined" : "NOT CONFINED");
    fflush (stdout);
    return ok ? 0 : 1;
}
