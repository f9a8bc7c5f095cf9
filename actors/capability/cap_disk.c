/*  cap_disk.c: sequential disk write and read rates on the filesystem that
    holds the home (where results are stored).

    Write: 4 MiB blocks to a fresh temp file until 64 MiB or half the
    budget, then fsync; the fsync is inside the timing, so the rate is what
    reaches the device. Read: the same file with O_DIRECT, so the page
    cache cannot answer; filesystems without O_DIRECT (tmpfs, some FUSE)
    fall back to posix_fadvise (DONTNEED) after the fsync, and a flag says
    so (on tmpfs that measures RAM, which is the truth for that home).
    The temp file is unlinked at once, so a crash leaves nothing behind.
*/
#include "cap.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_BLOCK  (4u << 20)
#define S_MAX    (64u << 20)

static void
s_fill (uint8_t *buf, size_t size)
{
    //  Not zeros: some filesystems compress or skip them.
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i + 8 <= size; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy (buf + i, &x, 8);
    }
}

int
cap_disk_measure (const char *dir, double budget_s, double *read_bps, double *write_bps,
                  bool *fadvise_out)
{
    *read_bps = *write_bps = 0;
    if (fadvise_out)
        *fadvise_out = false;
    char path [4096];
    if (snprintf (path, sizeof (path), "%s/.machcap-disk-XXXXXX", dir) >= (int) sizeof (path))
        return -1;
    int fd = mkstemp (path);
    if (fd < 0)
        return -1;
    unlink (path);
    void *mem = NULL;
    if (posix_memalign (&mem, 4096, S_BLOCK) != 0) {
        close (fd);
        return -1;
    }
    uint8_t *buf = (uint8_t *) mem;
    s_fill (buf, S_BLOCK);

    //  Write.
    double t0 = cap_now ();
    size_t written = 0;
    int rc = 0;
    while (written < S_MAX) {
        ssize_t n = write (fd, buf, S_BLOCK);
        if (n != (ssize_t) S_BLOCK) {
            rc = -1;
            break;
        }
        written += S_BLOCK;
        if (cap_now () - t0 > budget_s / 2 || zsys_interrupted)
            break;
    }
    if (rc == 0 && fsync (fd) != 0)
        rc = -1;
    double dt = cap_now () - t0;
    if (rc == 0 && dt > 0)
        *write_bps = (double) written / dt;

    //  Read, bypassing the page cache.
    if (rc == 0) {
        bool direct = false;
        char self [64];
        snprintf (self, sizeof (self), "/proc/self/fd/%d", fd);
        int rfd = open (self, O_RDONLY | O_DIRECT);
        if (rfd >= 0)
            direct = true;
        else {
            posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED);
            rfd = open (self, O_RDONLY);
            if (fadvise_out)
                *fadvise_out = true;
        }
        if (rfd >= 0) {
            size_t done = 0;
            t0 = cap_now ();
            while (done < written && !zsys_interrupted) {
                ssize_t n = read (rfd, buf, S_BLOCK);
                if (n < 0 && direct && errno == EINVAL && done == 0) {
                    //  O_DIRECT accepted at open but not for reads (tmpfs
                    //  on older kernels): fall back.
                    close (rfd);
                    posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED);
                    rfd = open (self, O_RDONLY);
                    direct = false;
                    if (fadvise_out)
                        *fadvise_out = true;
                    if (rfd < 0)
                        break;
                    t0 = cap_now ();
                    continue;
                }
                if (n <= 0)
                    break;
                done += (size_t) n;
            }
            dt = cap_now () - t0;
            if (done > 0 && dt > 0)
                *read_bps = (double) done / dt;
            if (rfd >= 0)
                close (rfd);
        }
    }
    free (buf);
    close (fd);
    return rc;
}
