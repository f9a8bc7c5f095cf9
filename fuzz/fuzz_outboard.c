/*  fuzz_outboard.c: libFuzzer target for the checks a receiver makes on
    outside bytes with the outboard (common/irh_outboard.c).

    Input: mode (1 byte), claimed blob size (u32 LE), group index (u32
    LE), root (32 bytes), list length (u16 LE), then the list and the
    group's bytes. These go as they are to verify_list, check_group (with
    no list, and with the list when its length fits the claim, as a
    caller that skipped verification would), group_cv and a builder: none
    may crash or read out of bounds (ASan).

    Then the whole input is taken as a blob: its outboard must verify and
    every group check, and a bit flipped where the input says, in the list
    or in a group, must be refused. */
#include "irh_outboard.h"
#include "irh_hash.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define HEAD 43

static uint32_t
s_u32 (const uint8_t *p)
{
    return (uint32_t) p [0] | (uint32_t) p [1] << 8 | (uint32_t) p [2] << 16 | (uint32_t) p [3] << 24;
}

//  Outside bytes, as a peer would send them.
static void
s_hostile (const uint8_t *data, size_t size)
{
    uint8_t mode = data [0];
    //  Mode bit 0 keeps the claim small enough for the list to match it.
    uint64_t blob_size = s_u32 (data + 1);
    if (mode & 1)
        blob_size %= (uint64_t) (size - HEAD + 1) * IRH_OUTBOARD_GROUP / IRH_OUTBOARD_CV + 1;
    uint64_t index = s_u32 (data + 5);
    const uint8_t *root = data + 9;
    size_t rest = size - HEAD;
    size_t list_size = ((size_t) data [41] | (size_t) data [42] << 8) % (rest + 1);
    //  Copies, so ASan sees reads past the exact extent of each part.
    uint8_t *list = malloc (list_size ? list_size : 1);
    uint8_t *group = malloc (rest - list_size ? rest - list_size : 1);
    assert (list && group);
    memcpy (list, data + HEAD, list_size);
    memcpy (group, data + HEAD + list_size, rest - list_size);
    size_t group_size = rest - list_size;

    int verified = irh_outboard_verify_list (list, list_size, blob_size, root);
    assert (verified == 0 || verified == -1);
    assert (verified == -1 || list_size == irh_outboard_size (blob_size));
    irh_outboard_check_group (NULL, blob_size, root, index, group, group_size);
    if (list_size == irh_outboard_size (blob_size))
        irh_outboard_check_group (list_size ? list : NULL, blob_size, root, index,
                                  group, group_size);
    uint8_t cv [IRH_OUTBOARD_CV];
    irh_outboard_group_cv (group, group_size, index, blob_size, cv);

    //  A builder for a claimed size, fed the group bytes in pieces.
    uint64_t claim = blob_size % (2 * group_size + 1);
    size_t out_size = (size_t) irh_outboard_size (claim);
    uint8_t *out = malloc (out_size ? out_size : 1);
    assert (out);
    irh_outboard_builder_t *builder = irh_outboard_builder_new (claim, out, out_size);
    assert (builder);
    size_t piece = (size_t) (mode >> 1) * 1024 + 1;
    for (size_t at = 0; at < group_size; at += piece)
        irh_outboard_builder_feed (builder, group + at,
                                   group_size - at < piece ? group_size - at : piece);
    uint8_t built [32];
    irh_outboard_builder_finish (builder, built);
    irh_outboard_builder_destroy (&builder);
    free (out);
    free (list);
    free (group);
}

//  The input as a blob: what is true verifies, a flipped bit does not.
static void
s_round_trip (const uint8_t *data, size_t size)
{
    size_t list_size = (size_t) irh_outboard_size (size);
    uint8_t *list = malloc (list_size ? list_size : 1);
    uint8_t *blob = malloc (size ? size : 1);
    assert (list && blob);
    memcpy (blob, data, size);
    uint8_t root [32], expect [32];
    assert (irh_outboard_compute (blob, size, list, list_size, root) == 0);
    irh_blake3 (blob, size, expect);
    assert (memcmp (root, expect, 32) == 0);
    assert (irh_outboard_verify_list (list, list_size, size, root) == 0);
    uint64_t groups = irh_outboard_groups (size);
    for (uint64_t g = 0; g < groups; g++) {
        size_t len = size - g * IRH_OUTBOARD_GROUP;
        if (len > IRH_OUTBOARD_GROUP)
            len = IRH_OUTBOARD_GROUP;
        assert (irh_outboard_check_group (list_size ? list : NULL, size, root, g,
                                          blob + g * IRH_OUTBOARD_GROUP, len) == 0);
    }
    uint32_t where = size >= 9 ? s_u32 (data + 5) : 0;
    if (list_size) {
        uint64_t bit = where % (list_size * 8);
        list [bit / 8] ^= (uint8_t) (1u << (bit % 8));
        assert (irh_outboard_verify_list (list, list_size, size, root) == -1);
        list [bit / 8] ^= (uint8_t) (1u << (bit % 8));
    }
    if (size) {
        uint64_t bit = where % ((uint64_t) size * 8);
        uint64_t g = bit / 8 / IRH_OUTBOARD_GROUP;
        size_t len = size - g * IRH_OUTBOARD_GROUP;
        if (len > IRH_OUTBOARD_GROUP)
            len = IRH_OUTBOARD_GROUP;
        blob [bit / 8] ^= (uint8_t) (1u << (bit % 8));
        assert (irh_outboard_check_group (list_size ? list : NULL, size, root, g,
                                          blob + g * IRH_OUTBOARD_GROUP, len) == -1);
    }
    free (list);
    free (blob);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size >= HEAD)
        s_hostile (data, size);
    s_round_trip (data, size);
    return 0;
}
