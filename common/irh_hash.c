/*  irh_hash.c: thin wrappers over BLAKE3 and xxHash. We only adapt their
    APIs to ours (files, hex, streaming object); the hashes are theirs. */
#include "irh_hash.h"
#include "blake3.h"
#include <xxhash.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct _irh_hasher_t {
    blake3_hasher state;
};

void
irh_blake3 (const void *data, size_t size, uint8_t out [IRH_HASH_SIZE])
{
    blake3_hasher hasher;
    blake3_hasher_init (&hasher);
    blake3_hasher_update (&hasher, data, size);
    blake3_hasher_finalize (&hasher, out, IRH_HASH_SIZE);
}

int
irh_blake3_fd (int fd, uint8_t out [IRH_HASH_SIZE], uint64_t *size)
{
    //  1 MiB reads: large enough that the SIMD code sees whole batches of
    //  chunks and syscalls vanish from the profile (see docs/BENCHMARKS.md).
    enum { BUFSIZE = 1 << 20 };
    uint8_t *buffer = malloc (BUFSIZE);
    if (!buffer)
        return -1;
    blake3_hasher hasher;
    blake3_hasher_init (&hasher);
    uint64_t total = 0;
    while (true) {
        ssize_t got = read (fd, buffer, BUFSIZE);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            int saved = errno;
            free (buffer);
            errno = saved;
            return -1;
        }
        if (got == 0)
            break;
        blake3_hasher_update (&hasher, buffer, (size_t) got);
        total += (uint64_t) got;
    }
    free (buffer);
    blake3_hasher_finalize (&hasher, out, IRH_HASH_SIZE);
    if (size)
        *size = total;
    return 0;
}

//  Hash a regular file through a read-only mapping: no copy into a user
//  buffer, which matters when the hash runs at several GB/s. Returns 1 if
//  the file is not suitable (caller falls back to read), 0 or -1 otherwise.
static int
s_blake3_mapped (int fd, uint8_t out [IRH_HASH_SIZE], uint64_t *size)
{
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode) || st.st_size < (1 << 20))
        return 1;
    uint8_t *map = mmap (NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return 1;
    madvise (map, (size_t) st.st_size, MADV_SEQUENTIAL);
    blake3_hasher hasher;
    blake3_hasher_init (&hasher);
    //  Feed 1 MiB at a time: BLAKE3's C code hashes each update with SIMD
    //  across chunks, and smaller pieces keep the readahead window busy.
    size_t total = (size_t) st.st_size;
    for (size_t done = 0; done < total; ) {
        size_t piece = total - done < (1u << 20) ? total - done : (1u << 20);
        blake3_hasher_update (&hasher, map + done, piece);
        done += piece;
    }
    munmap (map, total);
    blake3_hasher_finalize (&hasher, out, IRH_HASH_SIZE);
    if (size)
        *size = (uint64_t) total;
    return 0;
}

int
irh_blake3_file (const char *path, uint8_t out [IRH_HASH_SIZE], uint64_t *size)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = s_blake3_mapped (fd, out, size);
    if (rc == 1) {
        posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        rc = irh_blake3_fd (fd, out, size);
    }
    int saved = errno;
    close (fd);
    errno = saved;
    return rc;
}

irh_hasher_t *
irh_hasher_new (void)
{
    irh_hasher_t *self = malloc (sizeof (irh_hasher_t));
    if (self)
        blake3_hasher_init (&self->state);
    return self;
}

void
irh_hasher_update (irh_hasher_t *self, const void *data, size_t size)
{
    assert (self);
    blake3_hasher_update (&self->state, data, size);
}

void
irh_hasher_final (irh_hasher_t *self, uint8_t out [IRH_HASH_SIZE])
{
    assert (self);
    blake3_hasher_finalize (&self->state, out, IRH_HASH_SIZE);
}

void
irh_hasher_reset (irh_hasher_t *self)
{
    assert (self);
    blake3_hasher_reset (&self->state);
}

void
irh_hasher_destroy (irh_hasher_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

uint64_t
irh_xxh64 (const void *data, size_t size, uint64_t seed)
{
    return XXH3_64bits_withSeed (data, size, seed);
}

char *
irh_hash_hex (const uint8_t hash [IRH_HASH_SIZE], char out [IRH_HASH_HEX_SIZE])
{
    static const char digits [] = "0123456789abcdef";
    for (int i = 0; i < IRH_HASH_SIZE; i++) {
        out [2 * i] = digits [hash [i] >> 4];
        out [2 * i + 1] = digits [hash [i] & 15];
    }
    out [64] = 0;
    return out;
}

static int
s_nibble (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int
irh_hash_from_hex (const char *hex, uint8_t out [IRH_HASH_SIZE])
{
    if (!hex || strlen (hex) != 64)
        return -1;
    for (int i = 0; i < IRH_HASH_SIZE; i++) {
        int hi = s_nibble (hex [2 * i]), lo = s_nibble (hex [2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out [i] = (uint8_t) (hi << 4 | lo);
    }
    return 0;
}

bool
irh_hash_equal (const uint8_t a [IRH_HASH_SIZE], const uint8_t b [IRH_HASH_SIZE])
{
    uint8_t diff = 0;
    for (int i = 0; i < IRH_HASH_SIZE; i++)
        diff |= a [i] ^ b [i];
    return diff == 0;
}

void
irh_hash_test (bool verbose)
{
    if (verbose)
        printf (" * irh_hash: ");
    //  Official BLAKE3 test vectors (empty input and "abc").
    uint8_t hash [IRH_HASH_SIZE];
    char hex [IRH_HASH_HEX_SIZE];
    irh_blake3 ("", 0, hash);
    assert (strcmp (irh_hash_hex (hash, hex),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262") == 0);
    irh_blake3 ("abc", 3, hash);
    assert (strcmp (irh_hash_hex (hash, hex),
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85") == 0);
    uint8_t back [IRH_HASH_SIZE];
    assert (irh_hash_from_hex (hex, back) == 0);
    assert (irh_hash_equal (hash, back));
    assert (irh_hash_from_hex ("zz", back) == -1);
    hex [5] = 'g';
    assert (irh_hash_from_hex (hex, back) == -1);

    //  Streaming equals one-shot across odd split points.
    uint8_t data [5000];
    for (size_t i = 0; i < sizeof (data); i++)
        data [i] = (uint8_t) (i * 31 + 7);
    uint8_t whole [IRH_HASH_SIZE], parts [IRH_HASH_SIZE];
    irh_blake3 (data, sizeof (data), whole);
    irh_hasher_t *hasher = irh_hasher_new ();
    irh_hasher_update (hasher, data, 1);
    irh_hasher_update (hasher, data + 1, 1023);
    irh_hasher_update (hasher, data + 1024, sizeof (data) - 1024);
    irh_hasher_final (hasher, parts);
    assert (irh_hash_equal (whole, parts));
    irh_hasher_destroy (&hasher);
    assert (hasher == NULL);

    //  File hashing equals one-shot.
    char path [] = "/tmp/irh_hash_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    assert (write (fd, data, sizeof (data)) == (ssize_t) sizeof (data));
    close (fd);
    uint64_t size = 0;
    assert (irh_blake3_file (path, parts, &size) == 0);
    assert (size == sizeof (data));
    assert (irh_hash_equal (whole, parts));
    unlink (path);
    assert (irh_blake3_file (path, parts, &size) == -1);

    //  Mapped path (files of 1 MiB and more) equals streaming.
    size_t big = (3u << 20) + 17;
    uint8_t *bigdata = malloc (big);
    assert (bigdata);
    for (size_t i = 0; i < big; i++)
        bigdata [i] = (uint8_t) (i * 131 + (i >> 12));
    irh_blake3 (bigdata, big, whole);
    strcpy (path, "/tmp/irh_hash_test_XXXXXX");
    fd = mkstemp (path);
    assert (fd >= 0);
    assert (write (fd, bigdata, big) == (ssize_t) big);
    close (fd);
    assert (irh_blake3_file (path, parts, &size) == 0);
    assert (size == big);
    assert (irh_hash_equal (whole, parts));
    unlink (path);
    free (bigdata);

    assert (irh_xxh64 ("abc", 3, 0) == irh_xxh64 ("abc", 3, 0));
    assert (irh_xxh64 ("abc", 3, 0) != irh_xxh64 ("abd", 3, 0));
    if (verbose)
        printf ("OK\n");
}
