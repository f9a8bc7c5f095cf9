/*  gossip_staging.c: the staging files of a transfer under <home>/fetch/
    (gossip_fetch_int.h, docs/transfer.md): <blob>.part (content), .ob
    (verified outboard), .have (verified groups). Everything read back from
    here is outside input (another run, another process, a damaged disk):
    opened without following symlinks or blocking on a FIFO, checked to be
    a regular file of ours of the expected size, decoded defensively, and
    never trusted: the .ob is verified against the blob hash again and the
    groups a .have claims are checked against it before they count.
*/
#include "gossip_fetch_int.h"
#include "irh_log.h"
#include "irh_outboard.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

//  Write data as path atomically (temp file + rename), no fsync: the .have
//  and .ob are hints checked again on use, never trusted.
static int
s_write_file (const char *path, const uint8_t *data, size_t size)
{
    char tmp [4200];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (fd, data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    int rc = close (fd);
    if (done != size || rc != 0 || rename (tmp, path) != 0) {
        unlink (tmp);
        return -1;
    }
    return 0;
}

//  Read a whole staging file of exactly want bytes (outside bytes: no
//  symlink, no FIFO, regular file, exact size). malloc'd, or NULL.
static uint8_t *
s_read_file (const char *path, size_t want, size_t *got)
{
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    uint8_t *data = NULL;
    if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && st.st_uid == geteuid ()
    &&  (size_t) st.st_size <= want && st.st_size > 0) {
        data = (uint8_t *) malloc ((size_t) st.st_size);
        size_t done = 0;
        while (data && done < (size_t) st.st_size) {
            ssize_t n = pread (fd, data + done, (size_t) st.st_size - done, (off_t) done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            done += (size_t) n;
        }
        if (data && done != (size_t) st.st_size) {
            free (data);
            data = NULL;
        }
        *got = done;
    }
    close (fd);
    return data;
}

void
gf_transfer_persist (gf_transfer_t *t)
{
    if (!t->plan)
        return;
    size_t size = gossip_have_size (t->manifest.size);
    uint8_t *buf = (uint8_t *) malloc (size);
    if (buf && gossip_have_encode (t->manifest.blob, t->manifest.size,
                                   gossip_plan_bits (t->plan), buf, size) == size
    &&  s_write_file (t->have_path, buf, size) == 0)
        t->since_persist = 0;
    else
        t->fetch->staging_errors++;
    free (buf);
}

int
gf_transfer_save_outboard (gf_transfer_t *t)
{
    if (s_write_file (t->ob_path, t->outboard, (size_t) t->ob_size) != 0) {
        t->fetch->staging_errors++;
        return -1;
    }
    return 0;
}

//  The .have of an earlier attempt, if it describes this blob.
void
gf_staging_load_have (gf_transfer_t *t)
{
    size_t want = gossip_have_size (t->manifest.size), got = 0;
    uint8_t *buf = s_read_file (t->have_path, want, &got);
    if (!buf)
        return;
    size_t bits_size = (size_t) ((gossip_plan_count (t->plan) + 7) / 8);
    uint8_t *bits = (uint8_t *) calloc (1, bits_size);
    uint8_t blob [32];
    uint64_t size = 0;
    const char *why = NULL;
    if (!bits || gossip_have_decode (buf, got, blob, &size, bits, bits_size, &why) != 0
    ||  memcmp (blob, t->manifest.blob, 32) != 0 || size != t->manifest.size
    ||  gossip_plan_load (t->plan, bits, bits_size) != 0) {
        t->fetch->have_refused++;
        irh_info ("fetch: %s refused (%s): starting over", t->have_path,
                  why ? why : "another blob");
    }
    else
        t->resumed = gossip_plan_done_count (t->plan) > 0;
    free (bits);
    free (buf);
}

//  The verified outboard of an earlier attempt.
void
gf_staging_load_outboard (gf_transfer_t *t)
{
    size_t got = 0;
    uint8_t *list = s_read_file (t->ob_path, (size_t) t->ob_size, &got);
    if (list && got == t->ob_size
    &&  irh_outboard_verify_list (list, got, t->manifest.size, t->manifest.blob) == 0) {
        t->outboard = list;
        return;
    }
    free (list);
}

//  Open (or reopen) the .part: regular, ours, preallocated to size. An
//  existing file of another size is from nothing we can use: truncated.
int
gf_staging_open_part (gf_transfer_t *t, const char **why)
{
    t->fd = open (t->part_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);
    struct stat st;
    if (t->fd < 0 || fstat (t->fd, &st) != 0) {
        *why = strerror (errno);
        return -1;
    }
    if (!S_ISREG (st.st_mode) || st.st_uid != geteuid ()) {
        *why = "not a regular file of ours";
        return -1;
    }
    bool same = (uint64_t) st.st_size == t->manifest.size;
    if (!same && ftruncate (t->fd, 0) != 0) {
        *why = strerror (errno);
        return -1;
    }
    if (!same && t->manifest.size) {
        int rc = posix_fallocate (t->fd, 0, (off_t) t->manifest.size);
        //  Filesystems without fallocate: a sparse file of the size.
        if (rc == EOPNOTSUPP || rc == EINVAL)
            rc = ftruncate (t->fd, (off_t) t->manifest.size) == 0 ? 0 : errno;
        if (rc) {
            *why = strerror (rc);
            return -1;
        }
    }
    return same ? 1 : 0;
}

void
gf_staging_remove (gf_transfer_t *t, bool part_too)
{
    unlink (t->ob_path);
    unlink (t->have_path);
    if (part_too)
        unlink (t->part_path);
}

//  Staging left by transfers nobody resumed (a result evicted everywhere,
//  a lookup never repeated) is removed at start once older than max_age_s:
//  a resume is worth a day's wait, not a disk that fills up. Only names we
//  make (64 hex digits + .part/.ob/.have/.tmp), never through a symlink.
void
gf_staging_sweep (const char *dir, int64_t max_age_s)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    time_t now = time (NULL);
    size_t removed = 0;
    struct dirent *entry;
    while ((entry = readdir (d))) {
        const char *name = entry->d_name;
        size_t hex = strspn (name, "0123456789abcdef");
        const char *ext = name + hex;
        if (hex != 64 || (strcmp (ext, ".part") && strcmp (ext, ".ob") && strcmp (ext, ".have")
        &&  strcmp (ext, ".have.tmp") && strcmp (ext, ".ob.tmp")))
            continue;
        struct stat st;
        if (fstatat (dirfd (d), name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG (st.st_mode)
        ||  now - st.st_mtime < max_age_s)
            continue;
        if (unlinkat (dirfd (d), name, 0) == 0)
            removed++;
    }
    closedir (d);
    if (removed)
        irh_info ("fetch: removed %zu stale staging files from %s", removed, dir);
}
