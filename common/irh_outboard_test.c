/*  irh_outboard_test.c: self-test of the outboard (irh_outboard.c), kept
    apart to keep each file a readable size. Every root is checked against
    BLAKE3 itself (irh_blake3, the official hasher): the outboard is only
    right if the tree above its groups ends in the real hash. Contents are
    pseudo-random from fixed seeds (a failure reproduces), plus all-zero
    blobs, where only the chunk counters tell groups apart. */
#include "irh_outboard.h"
#include "irh_hash.h"
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define G IRH_OUTBOARD_GROUP
#define CV IRH_OUTBOARD_CV

static uint64_t
s_next (uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint8_t *
s_blob (uint64_t size, uint64_t seed)
{
    uint8_t *data = calloc (1, size ? size : 1);
    assert (data);
    uint64_t state = seed;
    for (uint64_t i = 0; i < size; i += 8) {
        uint64_t v = s_next (&state);
        memcpy (data + i, &v, size - i < 8 ? size - i : 8);
    }
    return data;
}

static uint64_t
s_group_len (uint64_t size, uint64_t index)
{
    uint64_t rest = size - index * G;
    return rest < G ? rest : G;
}

//  The list is refused with any one of `flips` bits flipped (every bit
//  when flips is 0), cut or grown by a byte or a value, or for a blob size
//  with another group count, or another root.
static void
s_check_list_refusals (uint8_t *list, uint64_t size, const uint8_t root [32],
                       uint64_t flips, uint64_t *state)
{
    uint64_t bytes = irh_outboard_size (size);
    uint64_t bits = bytes * 8;
    uint64_t count = flips ? flips : bits;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t bit = flips ? s_next (state) % bits : i;
        list [bit / 8] ^= (uint8_t) (1 << (bit % 8));
        assert (irh_outboard_verify_list (list, bytes, size, root) == -1);
        list [bit / 8] ^= (uint8_t) (1 << (bit % 8));
    }
    assert (irh_outboard_verify_list (list, bytes, size, root) == 0);
    uint8_t *longer = malloc (bytes + CV);
    assert (longer);
    memcpy (longer, list, bytes);
    memcpy (longer + bytes, list, CV);
    assert (irh_outboard_verify_list (longer, bytes + CV, size, root) == -1);
    assert (irh_outboard_verify_list (longer, bytes + 1, size, root) == -1);
    free (longer);
    assert (irh_outboard_verify_list (list, bytes - CV, size, root) == -1);
    assert (irh_outboard_verify_list (list, bytes - 1, size, root) == -1);
    assert (irh_outboard_verify_list (list, 0, size, root) == -1);
    assert (irh_outboard_verify_list (NULL, bytes, size, root) == -1);
    //  A blob size with one group more or less needs another list length.
    assert (irh_outboard_verify_list (list, bytes, size + G, root) == -1);
    assert (irh_outboard_verify_list (list, bytes, size - G, root) == -1);
    uint8_t other [32];
    memcpy (other, root, 32);
    other [s_next (state) % 32] ^= (uint8_t) (1 << (s_next (state) % 8));
    assert (irh_outboard_verify_list (list, bytes, size, other) == -1);
}

//  Group `index` of a multi-group blob is refused with a flipped bit (at
//  `flips` random places, every byte's low bit when 0), one byte more or
//  less, or under another index.
static void
s_check_group_refusals (const uint8_t *list, const uint8_t *data, uint64_t size,
                        const uint8_t root [32], uint64_t index, uint64_t flips,
                        uint64_t *state)
{
    uint64_t len = s_group_len (size, index);
    uint8_t copy [G + 1];
    memcpy (copy, data + index * G, len);
    copy [len] = 0;
    //  Thorough: every third byte, so every block of every chunk.
    uint64_t count = flips ? flips : (len + 2) / 3;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t bit = flips ? s_next (state) % (len * 8) : i * 3 * 8 + i % 8;
        copy [bit / 8] ^= (uint8_t) (1 << (bit % 8));
        assert (irh_outboard_check_group (list, size, root, index, copy, len) == -1);
        copy [bit / 8] ^= (uint8_t) (1 << (bit % 8));
    }
    assert (irh_outboard_check_group (list, size, root, index, copy, len) == 0);
    assert (irh_outboard_check_group (list, size, root, index, copy, len - 1) == -1);
    assert (irh_outboard_check_group (list, size, root, index, copy, len + 1) == -1);
    assert (irh_outboard_check_group (list, size, root, index, copy, 0) == -1);
    assert (irh_outboard_check_group (NULL, size, root, index, copy, len) == -1);
    uint64_t groups = irh_outboard_groups (size);
    //  Under any other index of a group of the same length (the first 64
    //  and the last). Equal bytes (a zero blob) are right there too, but
    //  their values still differ: the chunk counters place each group.
    for (uint64_t other = 0; other < groups;
         other = (other < 64 || other == groups - 1) ? other + 1 : groups - 1) {
        if (other == index || s_group_len (size, other) != len)
            continue;
        if (memcmp (copy, data + other * G, len) == 0) {
            assert (memcmp (list + index * CV, list + other * CV, CV) != 0);
            assert (irh_outboard_check_group (list, size, root, other, copy, len) == 0);
        }
        else
            assert (irh_outboard_check_group (list, size, root, other, copy, len) == -1);
    }
    assert (irh_outboard_check_group (list, size, root, groups, copy, len) == -1);
    assert (irh_outboard_check_group (list, size, root, UINT64_MAX, copy, len) == -1);
}

//  Feeds the blob to a builder in random whole-group pieces (and the tail),
//  with refused misfits along the way: same list and root as compute.
static void
s_check_builder (const uint8_t *data, uint64_t size, const uint8_t *list,
                 const uint8_t root [32], uint64_t *state)
{
    uint64_t bytes = irh_outboard_size (size);
    uint8_t *out = malloc (bytes + 1);
    assert (out);
    if (bytes)
        assert (irh_outboard_builder_new (size, out, bytes - 1) == NULL);
    irh_outboard_builder_t *builder = irh_outboard_builder_new (size, out, bytes);
    assert (builder);
    uint8_t mine [32];
    uint64_t fed = 0;
    while (fed < size) {
        uint64_t left = size - fed;
        uint64_t piece = (s_next (state) % 5) * G;
        if (piece >= left)
            piece = left;
        //  A cut mid-group, and more than what is left, are refused.
        if (left > 1)
            assert (irh_outboard_builder_feed (builder, data + fed, 1) == -1);
        if (left > G + 1)
            assert (irh_outboard_builder_feed (builder, data + fed, G + 1) == -1);
        assert (irh_outboard_builder_feed (builder, data + fed, left + 1) == -1);
        assert (irh_outboard_builder_finish (builder, mine) == -1);
        assert (irh_outboard_builder_feed (builder, data + fed, piece) == 0);
        fed += piece;
    }
    assert (irh_outboard_builder_feed (builder, data, 1) == -1);
    assert (irh_outboard_builder_feed (builder, data, 0) == 0);
    assert (irh_outboard_builder_finish (builder, mine) == 0);
    assert (memcmp (mine, root, 32) == 0);
    assert (bytes == 0 || memcmp (out, list, bytes) == 0);
    irh_outboard_builder_destroy (&builder);
    assert (builder == NULL);
    free (out);
}

//  Everything for one blob; `thorough` flips every bit of the list and
//  every third byte of the first group (small blobs only: it is quadratic).
static void
s_check_blob (uint64_t size, uint64_t seed, bool zero, bool thorough)
{
    uint64_t state = seed ^ size;
    uint8_t *data = zero ? calloc (1, size ? size : 1) : s_blob (size, seed);
    assert (data);
    uint8_t expect [32], root [32];
    irh_blake3 (data, size, expect);
    uint64_t bytes = irh_outboard_size (size);
    uint64_t groups = irh_outboard_groups (size);
    assert (groups == (size + G - 1) / G);
    assert (bytes == (size <= G ? 0 : groups * CV));
    uint8_t *list = malloc (bytes + 1);
    assert (list);
    if (bytes)
        assert (irh_outboard_compute (data, size, list, bytes - 1, root) == -1);
    memset (root, 0, 32);
    assert (irh_outboard_compute (data, size, list, bytes, root) == 0);
    assert (memcmp (root, expect, 32) == 0);
    assert (irh_outboard_verify_list (list, bytes, size, root) == 0);

    if (size <= G) {
        //  No list: the one group (or the empty blob) against the hash.
        assert (irh_outboard_verify_list (NULL, 0, size, root) == 0);
        assert (irh_outboard_verify_list (list, CV, size, root) == -1);
        assert (irh_outboard_check_group (NULL, size, root, 0, data, size) == 0);
        assert (irh_outboard_check_group (NULL, size, root, 1, data, size) == -1);
        if (size) {
            assert (irh_outboard_check_group (NULL, size, root, 0, data, size - 1) == -1);
            uint64_t at = s_next (&state) % size;
            data [at] ^= 0x20;
            assert (irh_outboard_check_group (NULL, size, root, 0, data, size) == -1);
            data [at] ^= 0x20;
        }
        uint8_t cv [CV];
        assert (irh_outboard_group_cv (data, size, 0, size, cv) == -1);
    }
    else {
        for (uint64_t g = 0; g < groups; g++) {
            uint64_t len = s_group_len (size, g);
            assert (irh_outboard_check_group (list, size, root, g, data + g * G, len) == 0);
            uint8_t cv [CV];
            assert (irh_outboard_group_cv (data + g * G, len, g, size, cv) == 0);
            assert (memcmp (cv, list + g * CV, CV) == 0);
            assert (irh_outboard_group_cv (data + g * G, len - 1, g, size, cv) == -1);
        }
        uint8_t cv [CV];
        assert (irh_outboard_group_cv (data, G, groups, size, cv) == -1);
        s_check_list_refusals (list, size, root, thorough ? 0 : 64, &state);
        s_check_group_refusals (list, data, size, root, 0, thorough ? 0 : 16, &state);
        s_check_group_refusals (list, data, size, root, groups - 1, 16, &state);
        s_check_group_refusals (list, data, size, root, groups / 2, 16, &state);
        //  A blob size off within the last group keeps the list length; the
        //  list alone cannot tell (a value does not say how long its group
        //  is), the last group's check does, with the true bytes or with
        //  bytes of the claimed length.
        uint64_t last = groups - 1, len = s_group_len (size, last);
        uint64_t wrong = len == G ? size - 1 : size + 1;
        assert (irh_outboard_groups (wrong) == groups);
        uint8_t *tail = calloc (1, G);
        assert (tail);
        memcpy (tail, data + last * G, len);
        assert (irh_outboard_check_group (list, wrong, root, last, tail, len) == -1);
        assert (irh_outboard_check_group (list, wrong, root, last, tail,
                                          s_group_len (wrong, last)) == -1);
        free (tail);
    }
    s_check_builder (data, size, list, expect, &state);
    free (list);
    free (data);
}

void
irh_outboard_test (bool verbose)
{
    if (verbose)
        printf (" * irh_outboard: ");
    assert (irh_outboard_groups (0) == 0);
    assert (irh_outboard_groups (1) == 1);
    assert (irh_outboard_groups (G) == 1);
    assert (irh_outboard_groups (G + 1) == 2);
    assert (irh_outboard_groups (UINT64_MAX) == UINT64_MAX / G + 1);
    assert (irh_outboard_size (G) == 0);
    assert (irh_outboard_size (G + 1) == 2 * CV);
    assert (irh_outboard_size (1ULL << 30) == 2 << 20);

    //  The edges: chunk, group and power-of-two boundaries.
    uint64_t sizes [] = { 0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 15 * 1024 + 1,
                          G - 1, G, G + 1, G + 1024, 2 * G - 1, 2 * G, 2 * G + 1,
                          3 * G, 3 * G + 5, 5 * G - 1000, (1 << 20) + 7 };
    for (size_t i = 0; i < sizeof (sizes) / sizeof (sizes [0]); i++) {
        bool thorough = sizes [i] <= 5 * G;
        s_check_blob (sizes [i], 1000 + i, false, thorough);
        s_check_blob (sizes [i], 0, true, false);
    }
    //  16 KiB * 2^k and one byte either side, up to 64 MiB; the largest
    //  sizes only in one content (each costs a few hashes of the blob).
    for (int k = 1; k <= 12; k++) {
        uint64_t size = (uint64_t) G << k;
        s_check_blob (size - 1, 2000 + k, false, false);
        s_check_blob (size, 3000 + k, k <= 8, false);
        s_check_blob (size + 1, 4000 + k, false, false);
    }
    //  Random sizes: any place in a chunk, group and tree shape.
    uint64_t state = 42;
    for (int i = 0; i < 60; i++) {
        uint64_t size = s_next (&state) % (i < 40 ? 40 * G : 600 * G);
        s_check_blob (size, 5000 + (uint64_t) i, false, false);
    }
    //  Misuse: no bytes to hash, nowhere to put the root.
    uint8_t root [32], cv [CV];
    assert (irh_outboard_compute (NULL, 10, NULL, 0, root) == -1);
    assert (irh_outboard_compute ((const uint8_t *) "x", 1, NULL, 0, NULL) == -1);
    assert (irh_outboard_compute (NULL, 0, NULL, 0, root) == 0);
    irh_blake3 ("", 0, cv);
    assert (memcmp (root, cv, 32) == 0);
    assert (irh_outboard_check_group (NULL, 0, root, 0, NULL, 0) == 0);
    assert (irh_outboard_check_group (NULL, 0, root, 0, NULL, 1) == -1);
    assert (irh_outboard_group_cv (NULL, G, 0, 3 * G, cv) == -1);
    if (verbose)
        printf ("OK\n");
}
