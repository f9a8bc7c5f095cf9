/*  irh_log.c: one logging facility for every irohds binary.

    Each line is formatted in full first and then written with one
    write(2) on a descriptor opened O_APPEND, so lines from the threads of
    one actor and from different actors sharing <home>/irohds.log never
    interleave. Messages may carry outside input (a peer's name, a config
    value): control characters are replaced so one call is one line.
*/
#include "irh_log.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

//  Longer messages are cut (and marked) rather than split across lines.
#define IRH_LOG_LINE_MAX 8192

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static char s_name [32] = "irohds";
static int s_fd = -1;                      //  -1 = stderr
static atomic_int s_level = IRH_LOG_INFO;

int
irh_log_init (const char *name, irh_log_level_t level, const char *path)
{
    assert (level >= IRH_LOG_DEBUG && level <= IRH_LOG_ERROR);
    int rc = 0;
    int fd = -1;
    int open_errno = 0;
    if (path) {
        fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd == -1) {
            rc = -1;
            open_errno = errno;
        }
    }
    pthread_mutex_lock (&s_lock);
    if (name)
        snprintf (s_name, sizeof s_name, "%s", name);
    if (s_fd != -1)
        close (s_fd);
    s_fd = fd;
    pthread_mutex_unlock (&s_lock);
    atomic_store (&s_level, level);
    if (rc == -1)
        irh_log (IRH_LOG_WARN, "cannot open log file %s (%s); logging to stderr",
                 path, strerror (open_errno));
    return rc;
}

void
irh_log_set_level (irh_log_level_t level)
{
    assert (level >= IRH_LOG_DEBUG && level <= IRH_LOG_ERROR);
    atomic_store (&s_level, level);
}

void
irh_log (irh_log_level_t level, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    irh_log_v (level, format, args);
    va_end (args);
}

static void
s_write_all (int fd, const char *data, size_t size)
{
    //  A regular file takes an O_APPEND write whole; the loop only matters
    //  for pipes and terminals, where a short write can happen.
    while (size > 0) {
        ssize_t written = write (fd, data, size);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return;             //  Nowhere left to report a logging failure
        }
        data += written;
        size -= (size_t) written;
    }
}

void
irh_log_v (irh_log_level_t level, const char *format, va_list args)
{
    assert (format);
    if ((int) level < atomic_load (&s_level))
        return;
    int saved_errno = errno;    //  Logging must not disturb the caller's errno
    static const char letters [] = "DIWE";
    char letter = level >= IRH_LOG_DEBUG && level <= IRH_LOG_ERROR? letters [level]: '?';

    struct timeval now;
    gettimeofday (&now, NULL);
    struct tm local;
    localtime_r (&now.tv_sec, &local);

    char line [IRH_LOG_LINE_MAX];
    pthread_mutex_lock (&s_lock);
    int prefix = snprintf (line, sizeof line,
                           "%04d-%02d-%02d %02d:%02d:%02d.%03d %s[%d] %c ",
                           local.tm_year + 1900, local.tm_mon + 1, local.tm_mday,
                           local.tm_hour, local.tm_min, local.tm_sec,
                           (int) (now.tv_usec / 1000), s_name, (int) getpid (), letter);
    int fd = s_fd == -1? STDERR_FILENO: s_fd;
    //  Keep the lock while writing: it is also what keeps fd open.
    assert (prefix > 0 && (size_t) prefix < sizeof line / 2);
    size_t room = sizeof line - (size_t) prefix - 1;     //  -1 for '\n'
    errno = saved_errno;        //  So %m, if anyone uses it, says the right thing
    int body = vsnprintf (line + prefix, room + 1, format, args);
    size_t length = (size_t) prefix;
    if (body > 0) {
        if ((size_t) body > room) {
            //  Truncated: say so at the end of what we keep.
            body = (int) room;
            memcpy (line + prefix + room - 3, "...", 3);
        }
        length += (size_t) body;
    }
    //  Habitual trailing newlines are dropped; embedded control bytes
    //  would forge extra lines, so they become '?'.
    while (length > (size_t) prefix && line [length - 1] == '\n')
        length--;
    for (size_t index = (size_t) prefix; index < length; index++) {
        unsigned char c = (unsigned char) line [index];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            line [index] = '?';
    }
    line [length++] = '\n';
    s_write_all (fd, line, length);
    pthread_mutex_unlock (&s_lock);
    errno = saved_errno;
}

void
irh_log_close (void)
{
    pthread_mutex_lock (&s_lock);
    if (s_fd != -1)
        close (s_fd);
    s_fd = -1;
    pthread_mutex_unlock (&s_lock);
}

//  --------------------------------------------------------------------
//  Self-test

#define TEST_THREADS 4
#define TEST_LINES   500

static void *
s_test_writer (void *args)
{
    int id = *(int *) args;
    for (int index = 0; index < TEST_LINES; index++)
        irh_info ("thread %d line %d %s", id, index,
                  "padding-padding-padding-padding-padding-padding-padding");
    return NULL;
}

//  Reads the whole file into a malloc'd, NUL-terminated string.
static char *
s_test_slurp (const char *path)
{
    FILE *file = fopen (path, "r");
    assert (file);
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    assert (size >= 0);
    fseek (file, 0, SEEK_SET);
    char *data = malloc ((size_t) size + 1);
    assert (data);
    size_t got = fread (data, 1, (size_t) size, file);
    assert (got == (size_t) size);
    data [size] = 0;
    fclose (file);
    return data;
}

static size_t
s_test_count (const char *text, const char *needle)
{
    //  memmem over what is left, not strstr: ASan's strstr measures the
    //  whole rest of the text on every call, quadratic on a big log (the
    //  sanitizer run timed out at 120 s).
    size_t count = 0, left = strlen (text), size = strlen (needle);
    for (const char *hit = memmem (text, left, needle, size); hit;
         hit = memmem (hit + 1, left - (size_t) (hit + 1 - text), needle, size))
        count++;
    return count;
}

//  Checks "YYYY-MM-DD HH:MM:SS.mmm name[pid] L " at the start of line.
static void
s_test_check_prefix (const char *line, const char *name, char letter)
{
    for (int index = 0; index < 23; index++) {
        char c = line [index];
        if (index == 4 || index == 7)
            assert (c == '-');
        else
        if (index == 10)
            assert (c == ' ');
        else
        if (index == 13 || index == 16)
            assert (c == ':');
        else
        if (index == 19)
            assert (c == '.');
        else
            assert (c >= '0' && c <= '9');
    }
    char expect [64];
    snprintf (expect, sizeof expect, " %s[%d] %c ", name, (int) getpid (), letter);
    assert (strncmp (line + 23, expect, strlen (expect)) == 0);
}

void
irh_log_test (bool verbose)
{
    if (verbose)
        printf (" * irh_log: "), fflush (stdout);
    char dir [] = "/tmp/irh-log-XXXXXX";
    assert (mkdtemp (dir));
    char path [64];
    snprintf (path, sizeof path, "%s/test.log", dir);

    int rc = irh_log_init ("tester", IRH_LOG_INFO, path);
    assert (rc == 0);
    irh_debug ("hidden %d", 1);
    irh_info ("shown %d", 2);
    irh_warn ("warned %s", "three");
    errno = EAGAIN;
    irh_error ("failed\nforged line\x1b[31m\n");
    assert (errno == EAGAIN);   //  errno survives logging
    irh_log_set_level (IRH_LOG_DEBUG);
    irh_debug ("now visible");
    irh_log_set_level (IRH_LOG_ERROR);
    irh_warn ("filtered");

    char *text = s_test_slurp (path);
    assert (!strstr (text, "hidden"));
    assert (!strstr (text, "filtered"));
    assert (s_test_count (text, "\n") == 4);
    char *line = text;
    s_test_check_prefix (line, "tester", 'I');
    assert (strstr (line, "shown 2\n") == strchr (line, '\n') - 7);
    line = strchr (line, '\n') + 1;
    s_test_check_prefix (line, "tester", 'W');
    assert (strstr (line, "warned three\n"));
    line = strchr (line, '\n') + 1;
    s_test_check_prefix (line, "tester", 'E');
    assert (strstr (line, "failed?forged line?[31m\n"));
    line = strchr (line, '\n') + 1;
    s_test_check_prefix (line, "tester", 'D');
    assert (strstr (line, "now visible\n"));
    free (text);

    //  A huge message is cut to one line and marked
    irh_log_set_level (IRH_LOG_INFO);
    char *huge = malloc (100000);
    assert (huge);
    memset (huge, 'x', 99999);
    huge [99999] = 0;
    irh_info ("%s", huge);
    free (huge);
    text = s_test_slurp (path);
    line = strrchr (text, '\n');
    *line = 0;
    line = strrchr (text, '\n') + 1;
    assert (strlen (line) == IRH_LOG_LINE_MAX - 1);
    assert (strcmp (line + strlen (line) - 3, "...") == 0);
    free (text);

    //  Threads writing at once: every line arrives whole
    irh_log_close ();
    rc = unlink (path);
    assert (rc == 0);
    rc = irh_log_init ("threads", IRH_LOG_INFO, path);
    assert (rc == 0);
    pthread_t threads [TEST_THREADS];
    int ids [TEST_THREADS];
    for (int index = 0; index < TEST_THREADS; index++) {
        ids [index] = index;
        rc = pthread_create (&threads [index], NULL, s_test_writer, &ids [index]);
        assert (rc == 0);
    }
    for (int index = 0; index < TEST_THREADS; index++)
        pthread_join (threads [index], NULL);
    text = s_test_slurp (path);
    assert (s_test_count (text, "\n") == TEST_THREADS * TEST_LINES);
    size_t lines = 0;
    for (line = text; *line; line = strchr (line, '\n') + 1) {
        s_test_check_prefix (line, "threads", 'I');
        char *end = strchr (line, '\n');
        assert (end);
        assert (strncmp (end - 7, "padding", 7) == 0);
        assert (s_test_count (line, "thread ") >= 1);
        lines++;
    }
    assert (lines == TEST_THREADS * TEST_LINES);
    free (text);

    //  An unopenable path fails and falls back to stderr; NULL is stderr
    char bad [80];
    snprintf (bad, sizeof bad, "%s/no/such/dir/x.log", dir);
    if (!verbose)
        irh_log_set_level (IRH_LOG_ERROR);
    rc = irh_log_init ("fallback", verbose? IRH_LOG_INFO: IRH_LOG_ERROR, bad);
    assert (rc == -1);
    irh_error ("this goes to stderr (expected in the self-test)");
    rc = irh_log_init (NULL, IRH_LOG_INFO, NULL);
    assert (rc == 0);
    irh_log_close ();

    rc = unlink (path);
    assert (rc == 0);
    rc = rmdir (dir);
    assert (rc == 0);
    if (verbose)
        printf ("OK\n");
}

int
irh_error_set (char **err, const char *format, ...)
{
    if (err) {
        va_list args;
        va_start (args, format);
        char *message = NULL;
        if (vasprintf (&message, format, args) < 0)
            message = NULL;
        va_end (args);
        free (*err);
        *err = message;
    }
    return -1;
}
