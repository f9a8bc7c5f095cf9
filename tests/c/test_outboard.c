/*  test_outboard.c: self-test of the outboard (common/irh_outboard_test.c),
    then its roots against the `b3sum` tool on files: a second, independent
    BLAKE3 implementation (Rust) agrees with the tree we build. */
#include "irh_outboard.h"
#include "irh_hash.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); exit (1); } } while (0)

//  Hex of b3sum over the file at path ("" when b3sum fails).
static void
s_b3sum (const char *path, char hex [IRH_HASH_HEX_SIZE])
{
    char command [512];
    snprintf (command, sizeof (command), "b3sum --no-names '%s'", path);
    FILE *pipe = popen (command, "r");
    CHECK (pipe);
    hex [0] = 0;
    if (!fgets (hex, IRH_HASH_HEX_SIZE, pipe))
        hex [0] = 0;
    //  Drain the line end, then the exit status.
    char rest [16];
    while (fgets (rest, sizeof (rest), pipe)) {}
    if (pclose (pipe) != 0)
        hex [0] = 0;
}

static void
s_against_b3sum (uint64_t size, uint64_t seed)
{
    uint8_t *data = malloc (size ? size : 1);
    CHECK (data);
    for (uint64_t i = 0; i < size; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        data [i] = (uint8_t) (seed >> 56);
    }
    uint64_t bytes = irh_outboard_size (size);
    uint8_t *list = malloc (bytes + 1), root [32];
    CHECK (list);
    CHECK (irh_outboard_compute (data, size, list, bytes, root) == 0);
    CHECK (irh_outboard_verify_list (list, bytes, size, root) == 0);

    const char *tmp = getenv ("TMPDIR");
    char path [256];
    snprintf (path, sizeof (path), "%s/test_outboard_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp (path);
    CHECK (fd >= 0);
    CHECK (size == 0 || write (fd, data, size) == (ssize_t) size);
    close (fd);
    char mine [IRH_HASH_HEX_SIZE], theirs [IRH_HASH_HEX_SIZE];
    irh_hash_hex (root, mine);
    s_b3sum (path, theirs);
    unlink (path);
    if (strcmp (mine, theirs)) {
        fprintf (stderr, "size %" PRIu64 ": outboard root %s, b3sum '%s'\n", size, mine, theirs);
        exit (1);
    }
    free (list);
    free (data);
}

int
main (void)
{
    irh_outboard_test (true);
    printf (" * irh_outboard against b3sum: ");
    uint64_t sizes [] = { 0, 1, 1024, 16384, 16385, 3 * 16384 + 1000,
                          (1 << 20) + 7, (5 << 20) + 3 };
    for (size_t i = 0; i < sizeof (sizes) / sizeof (sizes [0]); i++)
        s_against_b3sum (sizes [i], 77 + i);
    printf ("OK\n");
    return 0;
}
