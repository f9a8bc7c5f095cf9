/*  fuzz_store_put.c: libFuzzer target for the store's put by path (src 1)
    against hostile staging entries.

    The input is a small program that builds a staging directory: each
    step makes one entry (regular file, FIFO, directory, symlink in or out
    of staging, hard link to a file outside, file owned by another user
    when run as root) under a fuzzed name, then a put names a fuzzed path.
    Whatever the entries are, the put must return at once (never block on
    a FIFO), never crash, refuse everything but a regular single-link file
    of ours inside staging (bad_paths counted), and never change a file
    outside the staging directory.
*/
#define _XOPEN_SOURCE 700
#include "store_db.h"
#include <assert.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_root [64];
static store_db_t *s_db;

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    remove (path);
    return 0;
}

//  Remove a tree without following symlinks (they are removed as links).
static void
s_rmtree (const char *path)
{
    nftw (path, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}

static void
s_cleanup (void)
{
    store_db_destroy (&s_db);
    s_rmtree (s_root);
}

static void
s_setup (void)
{
    if (s_db)
        return;
    snprintf (s_root, sizeof s_root, "/tmp/irh-fuzz-put-XXXXXX");
    assert (mkdtemp (s_root));
    char store [128], blobs [128], staging [128], outside [128];
    snprintf (store, sizeof store, "%s/store", s_root);
    snprintf (blobs, sizeof blobs, "%s/blobs", s_root);
    snprintf (staging, sizeof staging, "%s/staging", s_root);
    snprintf (outside, sizeof outside, "%s/outside", s_root);
    mkdir (outside, 0700);
    store_db_config_t config = { .map_size = 64 << 20, .inline_max = 64,
                                 .sync_interval_ms = 1000 };
    char *err = NULL;
    s_db = store_db_new (store, blobs, staging, &config, &err);
    assert (s_db);
    atexit (s_cleanup);
}

//  A name from the input: 1..8 bytes of [a-z./], never empty.
static size_t
s_name (const uint8_t *data, size_t size, char *out)
{
    size_t len = size ? 1 + data [0] % 8 : 0;
    size_t used = size ? 1 : 0;
    size_t n = 0;
    for (size_t i = 0; i < len && used < size; i++, used++) {
        static const char chars [] = "abcdefgh./";
        out [n++] = chars [data [used] % (sizeof chars - 1)];
    }
    if (n == 0)
        out [n++] = 'x';
    out [n] = 0;
    return used;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_setup ();
    char staging [128], outside [128], victim [160];
    snprintf (staging, sizeof staging, "%s/staging", s_root);
    snprintf (outside, sizeof outside, "%s/outside", s_root);
    snprintf (victim, sizeof victim, "%s/victim", outside);
    s_rmtree (staging);
    mkdir (staging, 0700);
    FILE *file = fopen (victim, "w");
    assert (file);
    fputs ("the user's own file", file);
    fclose (file);
    chmod (victim, 0600);

    size_t pos = 0;
    for (int step = 0; step < 6 && pos + 1 < size; step++) {
        int kind = data [pos++] % 7;
        char name [16], path [200];
        pos += s_name (data + pos, size - pos, name);
        snprintf (path, sizeof path, "%s/%s", staging, name);
        switch (kind) {
            case 0: {
                //  O_NONBLOCK: an earlier step may have made this name a
                //  FIFO, and a blocking open of it waits for a reader.
                int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK,
                               0600);
                if (fd >= 0) {
                    size_t n = pos < size ? data [pos] : 0;
                    if (n > size - pos)
                        n = size - pos;
                    if (write (fd, data + pos, n) < 0) { /* fine */ }
                    close (fd);
                }
                break;
            }
            case 1: mkfifo (path, 0600); break;
            case 2: mkdir (path, 0700); break;
            case 3: if (symlink (victim, path)) { /* exists */ } break;
            case 4: if (symlink ("..", path)) { /* exists */ } break;
            case 5: if (link (victim, path)) { /* exists */ } break;
            case 6: {
                int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
                if (fd >= 0) {
                    if (fchown (fd, 65534, 65534)) { /* not root: stays ours */ }
                    close (fd);
                }
                break;
            }
        }
    }
    char name [16], path [200];
    s_name (data + (pos < size ? pos : size), size - (pos < size ? pos : size), name);
    snprintf (path, sizeof path, "%s/%s", staging, name);

    irh_put_t put;
    memset (&put, 0, sizeof put);
    memset (put.key, 7, sizeof put.key);
    put.src = 1;
    snprintf (put.path, sizeof put.path, "%s", path);
    strcpy (put.codec, "raw");
    strcpy (put.fn, "fuzz.f");
    irh_put_ok_t reply;
    uint64_t bad_before = store_db_counter (s_db, STORE_BAD_PATHS);
    struct stat before;
    bool candidate = lstat (path, &before) == 0 && S_ISREG (before.st_mode)
                  && before.st_nlink == 1 && before.st_uid == geteuid ();
    int rc = store_db_put (s_db, &put, NULL, 0, &reply);
    if (rc == 0)
        assert (candidate || strchr (name, '/') || strstr (name, ".."));
    else
    if (strcmp (store_db_error_code (s_db), "bad-request") == 0)
        assert (store_db_counter (s_db, STORE_BAD_PATHS) == bad_before + 1);
    //  Whatever happened, the file outside staging is untouched.
    struct stat st;
    assert (lstat (victim, &st) == 0 && (st.st_mode & 07777) == 0600);
    return 0;
}
