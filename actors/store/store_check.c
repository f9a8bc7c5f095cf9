/*  store_check.c: can the LMDB environment be trusted? Decided at every
    start, before the store maps it for writing (docs/store.md,
    "Damaged environment").

    A damaged data.mdb must not stop a cache: LMDB aborts on an assertion
    (mdb_node_add on random bytes in a page), faults with SIGBUS on a file
    shorter than its meta page says, or fails to open (MDB_INVALID on
    garbage meta pages). Each of those, found here, makes the store move
    the environment aside as <store>.corrupt-<time>/ and start empty.

    The check runs in a forked child, so a fault or an abort inside LMDB
    costs the child, never the store. The child opens the environment
    read-only without locks, compares the file size with the last page the
    meta page names (before touching any data page), checks mdb_env_info /
    mdb_stat for sanity, and walks every database with a cursor, touching
    the first and last byte of every key and value: a pointer out of the
    file faults here, in the child. A walk is cheap for a cache (manifests
    and small inline values; large content lives in files).

    Two markers cover what the child cannot see:
    - <store>/opening holds the number of starts that did not finish
      opening. Written before the check and removed after the first write
      transaction; a value of 3 (S_OPENS_MAX) means the store keeps dying while
      opening this environment (the supervisor restarts it each time).
    - <store>/suspect is written by the store when LMDB asserts or the
      process faults while serving (store_check_suspect, from the LMDB
      assert hook and the SIGBUS/SIGSEGV handler); its text is the reason.
*/
#include "store_check.h"
#include "irh_log.h"
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_OPENING   "opening"
#define S_SUSPECT   "suspect"
#define S_WHY_MAX   400
#define S_OPENS_MAX 3           //  starts in a row that died opening: then it is the environment

static int s_pipe_fd = -1;          //  child: where the reason goes

//  Child: write the reason to the parent and exit with status.
static void
s_child_fail (int status, const char *format, ...)
{
    char why [S_WHY_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (why, sizeof why, format, args);
    va_end (args);
    if (write (s_pipe_fd, why, strlen (why)) < 0) { /* parent gone */ }
    _exit (status);
}

//  Child: LMDB found its own invariant broken. Say so, then abort as
//  LMDB will.
static void
s_child_assert (MDB_env *env, const char *msg)
{
    (void) env;
    char why [S_WHY_MAX];
    int size = snprintf (why, sizeof why, "LMDB assertion failed: %s", msg);
    if (size > 0 && write (s_pipe_fd, why, (size_t) size) < 0) { /* parent gone */ }
}

//  Touch the first and the last byte of a value: faults if it points out
//  of the mapped file.
static unsigned
s_touch (const MDB_val *val)
{
    if (val->mv_size == 0)
        return 0;
    const volatile uint8_t *p = (const volatile uint8_t *) val->mv_data;
    return p [0] + p [val->mv_size - 1];
}

//  Walk one database; returns entries seen, or fails the child.
static size_t
s_walk (MDB_txn *txn, MDB_dbi dbi, const char *name, size_t last_pgno)
{
    MDB_stat st;
    int rc = mdb_stat (txn, dbi, &st);
    if (rc)
        s_child_fail (1, "database %s: mdb_stat: %s", name, mdb_strerror (rc));
    if (st.ms_depth > 64
    ||  st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages > last_pgno + 1)
        s_child_fail (1, "database %s: impossible statistics (depth %u, %zu pages of %zu)", name,
                      st.ms_depth, st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages,
                      last_pgno + 1);
    MDB_cursor *cursor;
    rc = mdb_cursor_open (txn, dbi, &cursor);
    if (rc)
        s_child_fail (1, "database %s: cursor: %s", name, mdb_strerror (rc));
    MDB_val k, v;
    size_t count = 0;
    volatile unsigned sink = 0;
    for (rc = mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        sink += s_touch (&k) + s_touch (&v);
        count++;
    }
    (void) sink;
    if (rc != MDB_NOTFOUND)
        s_child_fail (1, "database %s: walk stopped after %zu entries: %s", name, count,
                      mdb_strerror (rc));
    if (count != st.ms_entries)
        s_child_fail (1, "database %s: %zu entries walked, its statistics say %zu", name, count,
                      st.ms_entries);
    mdb_cursor_close (cursor);
    return count;
}

//  Child: the whole check. Exits 0 when the environment looks sound.
static void
s_child_check (const char *store_dir, const char *data_path)
{
    MDB_env *env;
    int rc = mdb_env_create (&env);
    if (!rc)
        rc = mdb_env_set_maxdbs (env, 64);
    if (!rc)
        rc = mdb_env_set_assert (env, s_child_assert);
    if (!rc)
        rc = mdb_env_open (env, store_dir, MDB_RDONLY | MDB_NOLOCK, 0600);
    if (rc)
        s_child_fail (1, "cannot open: %s", mdb_strerror (rc));
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info (env, &info) || mdb_env_stat (env, &st) || st.ms_psize < 512)
        s_child_fail (1, "environment information is unreadable");
    struct stat fst;
    if (stat (data_path, &fst))
        s_child_fail (1, "cannot stat %s: %s", data_path, strerror (errno));
    //  Before any data page is touched: every page up to the last one the
    //  meta page names must be in the file, else reading it is SIGBUS.
    uint64_t need = ((uint64_t) info.me_last_pgno + 1) * st.ms_psize;
    if ((uint64_t) fst.st_size < need)
        s_child_fail (1, "truncated: data.mdb has %llu bytes, its meta page needs %llu",
                      (unsigned long long) fst.st_size, (unsigned long long) need);
    if (info.me_mapsize < need)
        s_child_fail (1, "meta page says the map is %zu bytes but uses %llu", info.me_mapsize,
                      (unsigned long long) need);
    MDB_txn *txn;
    rc = mdb_txn_begin (env, NULL, MDB_RDONLY, &txn);
    if (rc)
        s_child_fail (1, "cannot begin a read transaction: %s", mdb_strerror (rc));
    MDB_dbi main_dbi;
    rc = mdb_dbi_open (txn, NULL, 0, &main_dbi);
    if (rc)
        s_child_fail (1, "cannot open the main database: %s", mdb_strerror (rc));
    s_walk (txn, main_dbi, "(main)", info.me_last_pgno);
    //  Every key of the main database names a database: walk each.
    MDB_cursor *cursor;
    MDB_val k, v;
    rc = mdb_cursor_open (txn, main_dbi, &cursor);
    for (rc = rc ? rc : mdb_cursor_get (cursor, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT)) {
        char name [128];
        if (k.mv_size == 0 || k.mv_size >= sizeof name || memchr (k.mv_data, 0, k.mv_size))
            s_child_fail (1, "the main database holds a key that names no database");
        memcpy (name, k.mv_data, k.mv_size);
        name [k.mv_size] = 0;
        MDB_dbi dbi;
        int drc = mdb_dbi_open (txn, name, 0, &dbi);
        if (drc)
            s_child_fail (1, "cannot open database %s: %s", name, mdb_strerror (drc));
        s_walk (txn, dbi, name, info.me_last_pgno);
    }
    if (rc != MDB_NOTFOUND)
        s_child_fail (1, "walk of the main database: %s", mdb_strerror (rc));
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    mdb_env_close (env);
    _exit (0);
}

//  Read a small marker file into buf ("" if absent). Returns 1 if present.
static int
s_read_marker (const char *path, char *buf, size_t size)
{
    *buf = 0;
    int fd = open (path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : 1;
    ssize_t n = read (fd, buf, size - 1);
    close (fd);
    buf [n > 0 ? n : 0] = 0;
    //  One printable line, whatever the file held.
    for (char *p = buf; *p; p++)
        if (*p < ' ' || *p > '~')
            *p = ' ';
    return 1;
}

static void
s_write_marker (const char *path, const char *text)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write (fd, text, strlen (text)) < 0) { /* best effort: a marker is a hint */ }
    close (fd);
}

int
store_check_env (const char *store_dir, char *why, size_t why_size)
{
    assert (store_dir && why && why_size);
    *why = 0;
    char path [4200], text [S_WHY_MAX];
    snprintf (path, sizeof path, "%s/%s", store_dir, S_SUSPECT);
    if (s_read_marker (path, text, sizeof text)) {
        snprintf (why, why_size, "the store crashed while using it: %s",
                  *text ? text : "(no reason recorded)");
        return -1;
    }
    snprintf (path, sizeof path, "%s/%s", store_dir, S_OPENING);
    int failed_opens = 0;
    if (s_read_marker (path, text, sizeof text))
        failed_opens = atoi (text) > 0 ? atoi (text) : 1;
    if (failed_opens >= S_OPENS_MAX) {
        snprintf (why, why_size, "the store died %d times in a row while opening it",
                  failed_opens);
        return -1;
    }
    snprintf (text, sizeof text, "%d\n", failed_opens + 1);
    s_write_marker (path, text);

    char data_path [4200];
    snprintf (data_path, sizeof data_path, "%s/data.mdb", store_dir);
    struct stat st;
    if (lstat (data_path, &st) && errno == ENOENT)
        return 0;               //  a new environment: nothing to check
    if (lstat (data_path, &st) || !S_ISREG (st.st_mode)) {
        snprintf (why, why_size, "data.mdb is not a regular file");
        return -1;
    }
    int fds [2];
    if (pipe2 (fds, O_CLOEXEC)) {
        irh_warn ("store: cannot check the environment (pipe: %s); trusting it",
                  strerror (errno));
        return 0;
    }
    fflush (NULL);
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds [0]);
        s_pipe_fd = fds [1];
        signal (SIGBUS, SIG_DFL);
        signal (SIGSEGV, SIG_DFL);
        signal (SIGABRT, SIG_DFL);
        s_child_check (store_dir, data_path);
    }
    close (fds [1]);
    if (pid < 0) {
        close (fds [0]);
        irh_warn ("store: cannot check the environment (fork: %s); trusting it",
                  strerror (errno));
        return 0;
    }
    char reason [S_WHY_MAX] = "";
    size_t got = 0;
    ssize_t n;
    while (got < sizeof reason - 1
       &&  (n = read (fds [0], reason + got, sizeof reason - 1 - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        got += (size_t) n;
    }
    reason [got] = 0;
    close (fds [0]);
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        return 0;
    if (WIFSIGNALED (status))
        snprintf (why, why_size, "checking it crashed (%s)%s%s", strsignal (WTERMSIG (status)),
                  *reason ? ": " : "", reason);
    else
        snprintf (why, why_size, "%s", *reason ? reason : "the check failed");
    return -1;
}

void
store_check_opened (const char *store_dir)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/%s", store_dir, S_OPENING);
    unlink (path);
}

int
store_check_reset (const char *store_dir, char **moved_to)
{
    assert (store_dir && moved_to);
    *moved_to = NULL;
    char stamp [32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    for (int attempt = 0; attempt < 100; attempt++) {
        char *target = attempt ? zsys_sprintf ("%s.corrupt-%s-%d", store_dir, stamp, attempt)
                               : zsys_sprintf ("%s.corrupt-%s", store_dir, stamp);
        struct stat st;
        if (lstat (target, &st) == 0) {
            zstr_free (&target);
            continue;
        }
        if (rename (store_dir, target) == 0) {
            //  The markers belong to the environment we set aside.
            char path [4200];
            snprintf (path, sizeof path, "%s/%s", target, S_OPENING);
            unlink (path);
            *moved_to = target;
            return 0;
        }
        irh_error ("store: cannot move %s aside to %s: %s", store_dir, target, strerror (errno));
        zstr_free (&target);
        return -1;
    }
    return -1;
}

//  --------------------------------------------------------------------------
//  While serving: remember that LMDB or the process broke, so the next
//  start sets the environment aside instead of crashing again.

static char s_suspect_path [4200];

void
store_check_arm (const char *store_dir)
{
    snprintf (s_suspect_path, sizeof s_suspect_path, "%s/%s", store_dir, S_SUSPECT);
}

void
store_check_suspect (const char *reason)
{
    //  Async-signal-safe: called from the fault handler too.
    if (!*s_suspect_path)
        return;
    int fd = open (s_suspect_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (write (fd, reason, strlen (reason)) < 0) { /* nothing more we can do */ }
    close (fd);
}
