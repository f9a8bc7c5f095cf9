/*  irh_file.c: careful reads and writes of small private files (see
    irh_file.h). Used for the identity keys and the known-nodes pins.
*/
#include "irh_file.h"
#include "irh_log.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
irh_file_private_dir (const char *path, char **err)
{
    if (mkdir (path, 0700) == -1 && errno != EEXIST)
        return irh_error_set (err, "%s: cannot create: %s", path, strerror (errno));
    struct stat st;
    if (lstat (path, &st) == -1)
        return irh_error_set (err, "%s: %s", path, strerror (errno));
    if (!S_ISDIR (st.st_mode))
        return irh_error_set (err, "%s: not a directory (a symlink or file is refused); "
                            "move it away and start again", path);
    if (st.st_uid != geteuid ())
        return irh_error_set (err, "%s: owned by uid %u, not by us (uid %u); refusing it",
                       path, (unsigned) st.st_uid, (unsigned) geteuid ());
    if ((st.st_mode & 07777) != 0700 && chmod (path, 0700) == -1)
        return irh_error_set (err, "%s: cannot set mode 0700: %s", path, strerror (errno));
    return 0;
}

int
irh_file_read (const char *path, size_t max, bool secret, char **text, size_t *size,
               char **err)
{
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd == -1) {
        if (errno == ENOENT)
            return 1;
        if (errno == ELOOP)
            return irh_error_set (err, "%s: is a symlink; refusing to follow it "
                                "(replace it with the real file)", path);
        return irh_error_set (err, "%s: cannot open: %s", path, strerror (errno));
    }
    struct stat st;
    int rc = -1;
    if (fstat (fd, &st) == -1)
        irh_error_set (err, "%s: %s", path, strerror (errno));
    else
    if (!S_ISREG (st.st_mode))
        irh_error_set (err, "%s: not a regular file; refusing it", path);
    else
    if (st.st_uid != geteuid ())
        irh_error_set (err, "%s: owned by uid %u, not by us (uid %u); refusing it",
                path, (unsigned) st.st_uid, (unsigned) geteuid ());
    else
    if (secret && (st.st_mode & 077))
        irh_error_set (err, "%s: mode %04o lets others read a secret key; "
                     "refusing it (chmod 600 %s if it is yours)",
                path, (unsigned) (st.st_mode & 07777), path);
    else
    if ((uint64_t) st.st_size > max)
        irh_error_set (err, "%s: %lld bytes, larger than such a file can be (%zu); refusing it",
                path, (long long) st.st_size, max);
    else
        rc = 0;
    if (rc == 0) {
        char *buffer = malloc (max + 1);
        ssize_t got = buffer ? read (fd, buffer, max + 1) : -1;
        if (got < 0 || (size_t) got > max) {
            rc = irh_error_set (err, "%s: cannot read: %s", path,
                         got < 0 ? strerror (errno) : "file grew while reading");
            free (buffer);
        }
        else {
            buffer [got] = 0;
            *text = buffer;
            *size = (size_t) got;
        }
    }
    close (fd);
    return rc;
}

int
irh_file_write (const char *dir, const char *name, const char *text, mode_t mode,
                bool replace, char **err)
{
    char *path = NULL, *temp = NULL;
    //  Random part: threads of one process may race here too.
    if (asprintf (&path, "%s/%s", dir, name) < 0)
        path = NULL;
    if (!path || asprintf (&temp, "%s/.%s.%d.%08x.tmp", dir, name, (int) getpid (),
                           (unsigned) randombytes_random ()) < 0) {
        free (path);
        return irh_error_set (err, "out of memory");
    }
    int rc = -1;
    int fd = open (temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd == -1)
        irh_error_set (err, "%s: cannot create: %s", temp, strerror (errno));
    else {
        size_t size = strlen (text);
        bool ok = fchmod (fd, mode) == 0                //  whatever the umask
               && write (fd, text, size) == (ssize_t) size
               && fsync (fd) == 0;
        int saved = errno;
        close (fd);
        if (!ok)
            irh_error_set (err, "%s: cannot write: %s", temp, strerror (saved));
        else
        if (replace) {
            //  rename replaces a symlink at path itself, never its target.
            if (rename (temp, path) == 0)
                rc = 0;
            else
                irh_error_set (err, "%s: cannot replace: %s", path, strerror (errno));
        }
        else
        if (link (temp, path) == 0)
            rc = 0;
        else
        if (errno == EEXIST)
            rc = 1;
        else
            irh_error_set (err, "%s: cannot create: %s", path, strerror (errno));
        if (rc != 0 || !replace)
            unlink (temp);
        int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd != -1) {
            fsync (dfd);
            close (dfd);
        }
    }
    free (temp);
    free (path);
    return rc;
}
