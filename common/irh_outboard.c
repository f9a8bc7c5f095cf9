/*  irh_outboard.c: group chaining values of a blob (its "outboard") and the
    checks a receiver makes with them, on BLAKE3's own tree (the contract is
    in irh_outboard.h, the choice in docs/transfer.md).

    We compute BLAKE3's inner nodes ourselves with the compression
    functions of Debian's official C sources (blake3_hash_many for many
    whole chunks or parents at once, blake3_compress_in_place for one
    block), which blake3.c keeps internal to its hasher. Their sources are
    used unchanged: only their internal header is included.

    Why the groups are nodes of BLAKE3's tree. BLAKE3 splits a node of n
    chunks (n > 1) into a left subtree of the largest power of two of
    chunks strictly below n and a right subtree of the rest; chunk i has
    counter i. Take a blob of more than one group (n > 16 chunks) and a
    node that starts on a group boundary (a multiple of 16 chunks; the root
    starts at 0). If n > 16, its left part p is a power of two >= 16, hence
    a multiple of 16: both children start on a group boundary. The left
    child (p chunks, a power of two >= 16) is a perfect subtree whose every
    node of 16 chunks is exactly one group; the right child either has more
    than 16 chunks (same argument, by induction) or at most 16 and ends at
    the blob's end, so it is the last group. Every group is therefore a
    node, and the tree above the groups follows the same rule counted in
    groups: with p = 16q, p < n iff q < ceil(n/16), so q is the largest
    power of two of groups strictly below the node's group count.

    The same rule, "left = largest power of two below the count", gives the
    same tree as pairing neighbours level by level and carrying an odd last
    node up unchanged; we use the pairing form where it lets
    blake3_hash_many compress many parents at once (SIMD).

    Costs: computing an outboard is BLAKE3 itself plus nothing (its parents
    are BLAKE3's own parents); verifying a list is one compression per
    group (65,535 for 1 GiB); checking a group is one BLAKE3 of 16 KiB. */
#include "irh_outboard.h"
#include "irh_hash.h"
#include <stdlib.h>
#include <string.h>
//  blake3_impl.h defines tables and helpers for blake3.c that we do not
//  all use; they are not ours to trim.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-const-variable"
#include "blake3_impl.h"
#pragma GCC diagnostic pop

#define S_GROUP      IRH_OUTBOARD_GROUP
#define S_CV         IRH_OUTBOARD_CV
#define S_CHUNKS     (IRH_OUTBOARD_GROUP / BLAKE3_CHUNK_LEN)    //  16 per group
//  Whole groups hashed per blake3_hash_many call when computing: 512
//  chunks (512 KiB), so SIMD lanes stay full through the parent levels
//  too; the stack holds 16 KiB of chunk values and 4 KiB of pointers.
#define S_BATCH      32
//  Parents compressed per blake3_hash_many call; its results go through a
//  local buffer, so a level can be reduced in place.
#define S_PARENTS    64
//  Group values a leaf of the list's tree reduces in a stack buffer; above
//  that we recurse on BLAKE3's split (at most 64 levels).
#define S_LEAF       256

_Static_assert (IRH_OUTBOARD_GROUP == 16 * BLAKE3_CHUNK_LEN, "a group is 16 BLAKE3 chunks");
_Static_assert (IRH_OUTBOARD_CV == BLAKE3_OUT_LEN, "a group value is a BLAKE3 chaining value");

struct _irh_outboard_builder_t {
    uint64_t blob_size;         //  Bytes the blob has
    uint64_t fed;               //  Bytes fed so far (whole groups, or all)
    uint8_t *out;               //  Caller's outboard buffer
    size_t cap;                 //  Its size
    blake3_hasher hasher;       //  For a blob of one group: its plain hash
};

uint64_t
irh_outboard_groups (uint64_t size)
{
    //  Written so that no size near 2^64 overflows.
    return size / S_GROUP + (size % S_GROUP != 0);
}

uint64_t
irh_outboard_size (uint64_t size)
{
    return size <= S_GROUP ? 0 : irh_outboard_groups (size) * S_CV;
}

//  Length of group `index` of a blob, 0 if there is no such group.
static uint64_t
s_group_len (uint64_t blob_size, uint64_t index)
{
    if (index >= irh_outboard_groups (blob_size))
        return 0;
    uint64_t rest = blob_size - index * S_GROUP;
    return rest < S_GROUP ? rest : S_GROUP;
}

//  Compress `pairs` parents whose children are the consecutive values at
//  cvs (2 * pairs of them) into out (pairs values). out may equal cvs:
//  each batch is read whole before its results are copied out, and batch
//  k's results end before batch k + 1's children begin.
static void
s_parents (const uint8_t *cvs, size_t pairs, uint8_t *out)
{
    const uint8_t *inputs [S_PARENTS];
    uint8_t results [S_PARENTS * S_CV];
    while (pairs > 0) {
        size_t count = pairs < S_PARENTS ? pairs : S_PARENTS;
        for (size_t i = 0; i < count; i++)
            inputs [i] = cvs + 2 * i * S_CV;
        blake3_hash_many (inputs, count, 1, IV, 0, false, PARENT, 0, 0, results);
        memcpy (out, results, count * S_CV);
        cvs += 2 * count * S_CV;
        out += count * S_CV;
        pairs -= count;
    }
}

//  One parent of two values, the root one when flags has ROOT.
static void
s_parent (const uint8_t left [S_CV], const uint8_t right [S_CV], uint8_t flags,
          uint8_t out [S_CV])
{
    uint8_t block [BLAKE3_BLOCK_LEN];
    memcpy (block, left, S_CV);
    memcpy (block + S_CV, right, S_CV);
    uint32_t cv [8];
    memcpy (cv, IV, sizeof (cv));
    blake3_compress_in_place (cv, block, BLAKE3_BLOCK_LEN, 0, (uint8_t) (PARENT | flags));
    store_cv_words (out, cv);
}

//  The value of the subtree over count (1..S_LEAF) consecutive values by
//  pairing levels; the root's when root (count >= 2 then).
static void
s_leaf (const uint8_t *cvs, size_t count, bool root, uint8_t out [S_CV])
{
    if (count == 1) {
        memcpy (out, cvs, S_CV);
        return;
    }
    uint8_t level [(S_LEAF / 2) * S_CV];
    const uint8_t *src = cvs;
    while (count > 2) {
        size_t pairs = count / 2;
        s_parents (src, pairs, level);
        if (count % 2)              //  The odd last value goes up as it is
            memmove (level + pairs * S_CV, src + 2 * pairs * S_CV, S_CV);
        count = pairs + count % 2;
        src = level;
    }
    s_parent (src, src + S_CV, root ? ROOT : 0, out);
}

//  The value of the subtree over count >= 1 group values (the root's when
//  root, count >= 2 then), on BLAKE3's split in groups (top comment).
static void
s_subtree (const uint8_t *cvs, uint64_t count, bool root, uint8_t out [S_CV])
{
    if (count <= S_LEAF) {
        s_leaf (cvs, (size_t) count, root, out);
        return;
    }
    uint64_t left = round_down_to_power_of_2 (count - 1);
    uint8_t values [2 * S_CV];
    s_subtree (cvs, left, false, values);
    s_subtree (cvs + left * S_CV, count - left, false, values + S_CV);
    s_parent (values, values + S_CV, root ? ROOT : 0, out);
}

//  Chaining value of one chunk of 1..1024 bytes, block by block (for the
//  short last chunk of a blob; whole chunks go through blake3_hash_many).
static void
s_chunk (const uint8_t *data, size_t size, uint64_t counter, uint8_t out [S_CV])
{
    uint32_t cv [8];
    memcpy (cv, IV, sizeof (cv));
    size_t blocks = (size + BLAKE3_BLOCK_LEN - 1) / BLAKE3_BLOCK_LEN;
    for (size_t b = 0; b < blocks; b++) {
        uint8_t block [BLAKE3_BLOCK_LEN] = { 0 };
        size_t len = b + 1 < blocks ? BLAKE3_BLOCK_LEN : size - b * BLAKE3_BLOCK_LEN;
        memcpy (block, data + b * BLAKE3_BLOCK_LEN, len);
        uint8_t flags = (uint8_t) ((b == 0 ? CHUNK_START : 0) | (b + 1 == blocks ? CHUNK_END : 0));
        blake3_compress_in_place (cv, block, (uint8_t) len, counter, flags);
    }
    store_cv_words (out, cv);
}

//  Values of `count` (1..S_BATCH) whole groups starting at group `first`.
static void
s_whole_groups (const uint8_t *data, size_t count, uint64_t first, uint8_t *out)
{
    const uint8_t *chunks [S_BATCH * S_CHUNKS];
    uint8_t cvs [S_BATCH * S_CHUNKS * S_CV];
    size_t nchunks = count * S_CHUNKS;
    for (size_t i = 0; i < nchunks; i++)
        chunks [i] = data + i * BLAKE3_CHUNK_LEN;
    blake3_hash_many (chunks, nchunks, BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN, IV,
                      first * S_CHUNKS, true, 0, CHUNK_START, CHUNK_END, cvs);
    //  16 -> 8 -> 4 -> 2 values per group, then 1 straight into out; pairs
    //  never straddle two groups since every level has an even count.
    s_parents (cvs, nchunks / 2, cvs);
    s_parents (cvs, nchunks / 4, cvs);
    s_parents (cvs, nchunks / 8, cvs);
    s_parents (cvs, count, out);
}

//  Value of group `index` of size bytes (1..S_GROUP), in a blob of more
//  than one group.
static void
s_group (const uint8_t *data, size_t size, uint64_t index, uint8_t out [S_CV])
{
    if (size == S_GROUP) {
        s_whole_groups (data, 1, index, out);
        return;
    }
    const uint8_t *chunks [S_CHUNKS];
    uint8_t cvs [S_CHUNKS * S_CV];
    size_t whole = size / BLAKE3_CHUNK_LEN;
    for (size_t i = 0; i < whole; i++)
        chunks [i] = data + i * BLAKE3_CHUNK_LEN;
    if (whole)
        blake3_hash_many (chunks, whole, BLAKE3_CHUNK_LEN / BLAKE3_BLOCK_LEN, IV,
                          index * S_CHUNKS, true, 0, CHUNK_START, CHUNK_END, cvs);
    size_t count = whole;
    if (size % BLAKE3_CHUNK_LEN)
        s_chunk (data + whole * BLAKE3_CHUNK_LEN, size % BLAKE3_CHUNK_LEN,
                 index * S_CHUNKS + whole, cvs + count++ * S_CV);
    s_leaf (cvs, count, false, out);
}

//  Values of the groups in data (size bytes: whole groups, the last one
//  possibly short), the first being group `first`.
static void
s_groups (const uint8_t *data, uint64_t size, uint64_t first, uint8_t *out)
{
    uint64_t whole = size / S_GROUP;
    for (uint64_t g = 0; g < whole; g += S_BATCH) {
        size_t count = whole - g < S_BATCH ? (size_t) (whole - g) : S_BATCH;
        s_whole_groups (data + g * S_GROUP, count, first + g, out + g * S_CV);
    }
    if (size % S_GROUP)
        s_group (data + whole * S_GROUP, (size_t) (size % S_GROUP), first + whole,
                 out + whole * S_CV);
}

int
irh_outboard_group_cv (const uint8_t *data, size_t size, uint64_t index,
                       uint64_t blob_size, uint8_t cv [IRH_OUTBOARD_CV])
{
    if (!data || !cv || irh_outboard_groups (blob_size) < 2
    ||  size == 0 || size != s_group_len (blob_size, index))
        return -1;
    s_group (data, size, index, cv);
    return 0;
}

int
irh_outboard_compute (const uint8_t *data, size_t size, uint8_t *out, size_t cap,
                      uint8_t root [32])
{
    if (!root || (size && !data))
        return -1;
    if (size <= S_GROUP) {
        irh_blake3 (size ? data : (const uint8_t *) "", size, root);
        return 0;
    }
    if (!out || cap < irh_outboard_size (size))
        return -1;
    s_groups (data, size, 0, out);
    s_subtree (out, irh_outboard_groups (size), true, root);
    return 0;
}

irh_outboard_builder_t *
irh_outboard_builder_new (uint64_t blob_size, uint8_t *out, size_t cap)
{
    uint64_t need = irh_outboard_size (blob_size);
    if (cap < need || (need && !out))
        return NULL;
    irh_outboard_builder_t *self = calloc (1, sizeof (irh_outboard_builder_t));
    if (!self)
        return NULL;
    self->blob_size = blob_size;
    self->out = out;
    self->cap = cap;
    blake3_hasher_init (&self->hasher);
    return self;
}

int
irh_outboard_builder_feed (irh_outboard_builder_t *self, const uint8_t *data, size_t size)
{
    assert (self);
    if (size == 0)
        return 0;
    //  self->fed is a whole number of groups until the blob is complete.
    if (!data || size > self->blob_size - self->fed
    ||  (size % S_GROUP && self->fed + size != self->blob_size))
        return -1;
    if (self->blob_size <= S_GROUP)
        blake3_hasher_update (&self->hasher, data, size);
    else
        s_groups (data, size, self->fed / S_GROUP, self->out + self->fed / S_GROUP * S_CV);
    self->fed += size;
    return 0;
}

int
irh_outboard_builder_finish (irh_outboard_builder_t *self, uint8_t root [32])
{
    assert (self);
    if (self->fed != self->blob_size)
        return -1;
    if (self->blob_size <= S_GROUP)
        blake3_hasher_finalize (&self->hasher, root, 32);
    else
        s_subtree (self->out, irh_outboard_groups (self->blob_size), true, root);
    return 0;
}

void
irh_outboard_builder_destroy (irh_outboard_builder_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

int
irh_outboard_verify_list (const uint8_t *list, size_t size, uint64_t blob_size,
                          const uint8_t root [32])
{
    //  A list of the wrong length is refused before anything is read.
    //  Within the last group the size is not in the list (a group's value
    //  does not say how long the group is, only what it holds): the last
    //  group's check refuses bytes of any other length.
    if (!root || (uint64_t) size != irh_outboard_size (blob_size))
        return -1;
    if (size == 0)
        return 0;       //  One group or none: its bytes are checked against root
    if (!list)
        return -1;
    uint8_t mine [S_CV];
    s_subtree (list, irh_outboard_groups (blob_size), true, mine);
    return irh_hash_equal (mine, root) ? 0 : -1;
}

int
irh_outboard_check_group (const uint8_t *list, uint64_t blob_size, const uint8_t root [32],
                          uint64_t index, const uint8_t *data, size_t size)
{
    if (!root || (size && !data))
        return -1;
    uint8_t mine [S_CV];
    if (blob_size <= S_GROUP) {
        //  The whole blob is the group (an empty blob: group 0, no bytes).
        if (index != 0 || size != blob_size)
            return -1;
        irh_blake3 (size ? data : (const uint8_t *) "", size, mine);
        return irh_hash_equal (mine, root) ? 0 : -1;
    }
    if (!list || size == 0 || size != s_group_len (blob_size, index))
        return -1;
    s_group (data, size, index, mine);
    return irh_hash_equal (mine, list + index * S_CV) ? 0 : -1;
}
