/*  irh_digest.c: per-namespace Bloom digests of held keys: our counting
    filter with its flip log, and peers' plain bit arrays (irh_digest.h,
    docs/digests.md).

    Bit indexes come straight from the key. Keys are BLAKE3 outputs, so
    their bytes are already uniform and independent: hashing them again
    would cost time and add nothing. Two 64-bit words of the key, XORed with
    the filter's seed, give h1 and h2, and the k indexes are
    g_i = h1 + i * h2 (double hashing, Kirsch and Mitzenmacher 2006: as good
    as k independent hashes for a Bloom filter), each reduced to
    [0, nbits) by multiplying its top 32 bits by nbits (Lemire's
    multiply-shift, no division). Words are read little-endian explicitly,
    so every host computes the same indexes.

    Attacker-chosen keys: a key is the hash of a function and its arguments,
    so whoever can make us store results (a local caller choosing arguments)
    can grind arguments until keys land on bits of their choice. The seed
    is random per filter generation, so nothing ground before it was known
    helps; once known (peers receive it) grinding only makes keys share
    counters, which saturate and stay set: more false positives for peers
    (each costs them one lookup round trip), never a false negative, and a
    rebuild picks a new seed. A peer's digest is whatever the peer says; a
    lying digest only makes us ask that peer in vain, so remote digests are
    checked for shape (sizes, limits, order), not for content.
*/
#include "irh_digest.h"
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

//  4-bit counters: Fan et al. (Summary Cache, 2000) show a counter of a
//  filter at its optimal k exceeds 15 with probability below 1.4e-15 per
//  counter, so four bits lose nothing in practice and halve the memory of
//  8-bit counters (7.2 MB instead of 14.4 MB for 1 M keys). A counter
//  that does reach 15 saturates (see s_bump).
#define COUNTER_MAX 15

//  The shape every filter shares, local or remote: what turns a key into
//  bit indexes.
typedef struct {
    uint64_t seed;
    uint32_t nbits;
    uint8_t k;
} s_shape_t;

struct _irh_digest_t {
    s_shape_t shape;
    size_t design;              //  keys the filter was sized for
    size_t count;               //  keys added minus removed
    size_t saturated;           //  counters at COUNTER_MAX
    uint8_t *counters;          //  nbits nibbles, two per byte
    uint64_t *words;            //  the plain bit array: bit set = counter > 0
    //  Flip log, a ring: its entry j (from log_first) took the epoch from
    //  log_start + j to log_start + j + 1.
    uint32_t *log;
    size_t log_len;
    size_t log_cap;
    size_t log_first;
    uint64_t log_start;
    bool building;              //  in irh_digest_rebuild: flips are not logged
};

struct _irh_digest_remote_t {
    s_shape_t shape;
    uint64_t epoch;
    uint64_t *words;            //  NULL until the first whole digest
    uint64_t ones;              //  bits set, for the fill ratio
    char error [96];
    uint64_t stale;
    uint64_t malformed;
};

//  --------------------------------------------------------------------------
//  Shared index derivation

static inline uint64_t
s_le64 (const uint8_t *p)
{
    return (uint64_t) p [0] | (uint64_t) p [1] << 8 | (uint64_t) p [2] << 16
         | (uint64_t) p [3] << 24 | (uint64_t) p [4] << 32 | (uint64_t) p [5] << 40
         | (uint64_t) p [6] << 48 | (uint64_t) p [7] << 56;
}

//  h1 and h2 of a key under a seed; h2 is odd so the g_i never repeat
//  modulo 2^64.
static inline void
s_probe_start (const s_shape_t *shape, const uint8_t *key, uint64_t *h1, uint64_t *h2)
{
    uint64_t seed2 = (shape->seed << 32) | (shape->seed >> 32);
    *h1 = s_le64 (key) ^ shape->seed;
    *h2 = (s_le64 (key + 8) ^ seed2) | 1;
}

static inline uint32_t
s_index (const s_shape_t *shape, uint64_t g)
{
    return (uint32_t) (((g >> 32) * (uint64_t) shape->nbits) >> 32);
}

static inline bool
s_bit (const uint64_t *words, uint32_t index)
{
    return (words [index >> 6] >> (index & 63)) & 1;
}

static inline void
s_toggle (uint64_t *words, uint32_t index)
{
    words [index >> 6] ^= (uint64_t) 1 << (index & 63);
}

//  The bit array as bytes: bit i is bit (i mod 8) of byte i / 8.
static void
s_words_to_bytes (const uint64_t *words, size_t nwords, uint8_t *out)
{
    for (size_t w = 0; w < nwords; w++)
        for (int b = 0; b < 8; b++)
            out [w * 8 + b] = (uint8_t) (words [w] >> (8 * b));
}

//  The first two probes are tested together, without a branch between
//  them: a key in neither of them (three misses in four at the design
//  fill of one half) costs one predictable branch, and on a big digest the
//  two cache misses overlap instead of queueing.
static bool
s_words_contain (const s_shape_t *shape, const uint64_t *words, const uint8_t *key)
{
    uint64_t h1, h2;
    s_probe_start (shape, key, &h1, &h2);
    uint64_t g = h1;
    uint8_t i = 0;
    if (shape->k >= 2) {
        //  & rather than &&: both words are loaded before either is
        //  tested, so their two cache misses overlap.
        unsigned both = (unsigned) s_bit (words, s_index (shape, h1))
                      & (unsigned) s_bit (words, s_index (shape, h1 + h2));
        if (!both)
            return false;
        i = 2;
        g = h1 + 2 * h2;
    }
    for (; i < shape->k; i++, g += h2)
        if (!s_bit (words, s_index (shape, g)))
            return false;
    return true;
}

//  A remote digest's bit array. Lookups touch one random cache line per
//  probe in every peer's digest; with 50 digests of 2 MB each, 4 KiB pages
//  would add a TLB miss to most of them, so digests of 1 MiB or more live
//  on transparent huge pages when the kernel offers them (the size is
//  rounded up to whole 2 MiB pages: at most 2 MiB more per digest).
#define HUGE_PAGE (2U << 20)

static uint64_t *
s_words_new (size_t bytes)
{
    void *words = NULL;
    if (bytes >= (1U << 20)) {
        size_t rounded = (bytes + HUGE_PAGE - 1) & ~(size_t) (HUGE_PAGE - 1);
        words = aligned_alloc (HUGE_PAGE, rounded);
        //  Only a hint: without huge pages the digest works the same.
        if (words)
            madvise (words, rounded, MADV_HUGEPAGE);
    }
    if (!words)
        words = malloc (bytes);
    assert (words);
    return (uint64_t *) words;
}

static uint64_t
s_random_seed (void)
{
    uint64_t seed = 0;
    //  0 is reserved ("no digest" in peer_digest_want).
    while (seed == 0) {
        ssize_t got = getrandom (&seed, sizeof (seed), 0);
        if (got != (ssize_t) sizeof (seed)) {
            //  Only if getrandom is unavailable: any changing value will do,
            //  the seed is a generation name, not a secret.
            seed = (uint64_t) zclock_usecs () * 0x9E3779B97F4A7C15ULL;
        }
    }
    return seed;
}

void
irh_digest_size_for (size_t expected, uint32_t *nbits, uint8_t *k)
{
    assert (nbits && k);
    double keys = (double) (expected < IRH_DIGEST_MIN_KEYS ? IRH_DIGEST_MIN_KEYS : expected);
    //  Optimal Bloom filter: m = -n ln p / (ln 2)^2 bits, k = (m / n) ln 2.
    double bits = ceil (-keys * log (IRH_DIGEST_FP_TARGET) / (M_LN2 * M_LN2));
    if (bits > IRH_DIGEST_MAX_BITS)
        bits = IRH_DIGEST_MAX_BITS;
    //  Whole cache lines; IRH_DIGEST_MAX_BITS is one too.
    uint32_t m = (uint32_t) bits;
    m = (m + 511) & ~(uint32_t) 511;
    double best_k = round ((double) m / keys * M_LN2);
    *k = (uint8_t) (best_k < 1 ? 1 : best_k > 16 ? 16 : best_k);
    *nbits = m;
}

//  --------------------------------------------------------------------------
//  Our own digest

static void
s_digest_alloc (irh_digest_t *self, size_t expected)
{
    if (expected < IRH_DIGEST_MIN_KEYS)
        expected = IRH_DIGEST_MIN_KEYS;
    irh_digest_size_for (expected, &self->shape.nbits, &self->shape.k);
    self->shape.seed = s_random_seed ();
    //  Design size: the keys this many bits hold at the target rate (less
    //  than expected only when the size was capped).
    double fits = (double) self->shape.nbits * M_LN2 * M_LN2 / -log (IRH_DIGEST_FP_TARGET);
    self->design = fits < (double) expected ? (size_t) fits : expected;
    self->counters = (uint8_t *) zmalloc (self->shape.nbits / 2);
    self->words = (uint64_t *) zmalloc (self->shape.nbits / 8);
    self->count = 0;
    self->saturated = 0;
    free (self->log);
    self->log = NULL;
    self->log_cap = 0;
    self->log_len = 0;
    self->log_first = 0;
    self->log_start = 0;
}

irh_digest_t *
irh_digest_new (size_t expected)
{
    irh_digest_t *self = (irh_digest_t *) zmalloc (sizeof (irh_digest_t));
    s_digest_alloc (self, expected);
    return self;
}

void
irh_digest_destroy (irh_digest_t **self_p)
{
    assert (self_p);
    irh_digest_t *self = *self_p;
    if (self) {
        free (self->counters);
        free (self->words);
        free (self->log);
        free (self);
        *self_p = NULL;
    }
}

static inline uint8_t
s_counter (const irh_digest_t *self, uint32_t index)
{
    return (self->counters [index >> 1] >> ((index & 1) * 4)) & 0x0F;
}

static inline void
s_counter_set (irh_digest_t *self, uint32_t index, uint8_t value)
{
    unsigned shift = (index & 1) * 4;
    uint8_t *cell = &self->counters [index >> 1];
    *cell = (uint8_t) ((*cell & ~(0x0F << shift)) | (value << shift));
}

//  Record that bit index flipped, in a ring of the last nbits / 16 flips.
//  A delta is sent only when it has fewer than nbits / 32 positions (one
//  u32 each, fewer bytes than the array), so a peer more flips behind than
//  that almost always gets the whole array anyway; twice that leaves room
//  for flips that cancel out. The ring grows as needed up to that size.
static void
s_log_flip (irh_digest_t *self, uint32_t index)
{
    size_t limit = self->shape.nbits / 16;
    if (self->log_len == self->log_cap && self->log_cap < limit) {
        //  Not wrapped yet (the ring only wraps at the limit): entries are
        //  in order from log [0].
        assert (self->log_first == 0);
        size_t cap = self->log_cap ? self->log_cap * 2 : 1024;
        if (cap > limit)
            cap = limit;
        uint32_t *log = (uint32_t *) realloc (self->log, cap * sizeof (uint32_t));
        assert (log);
        self->log = log;
        self->log_cap = cap;
    }
    if (self->log_len < self->log_cap)
        self->log [(self->log_first + self->log_len++) % self->log_cap] = index;
    else {
        //  Full: the oldest flip makes room.
        self->log [self->log_first] = index;
        self->log_first = (self->log_first + 1) % self->log_cap;
        self->log_start++;
    }
}

//  One more key on this counter. A counter at COUNTER_MAX stays there: we
//  no longer know how many keys it counts, and decrementing a count we
//  undercounted could reach zero while keys still map to it, a false
//  negative. A stuck counter only keeps a bit set (a false positive at
//  worst) until the next rebuild.
static void
s_bump (irh_digest_t *self, uint32_t index)
{
    uint8_t value = s_counter (self, index);
    if (value == COUNTER_MAX)
        return;
    if (value == 0) {
        s_toggle (self->words, index);
        if (!self->building)
            s_log_flip (self, index);
    }
    if (value + 1 == COUNTER_MAX)
        self->saturated++;
    s_counter_set (self, index, (uint8_t) (value + 1));
}

void
irh_digest_add (irh_digest_t *self, const uint8_t *key)
{
    assert (self && key);
    uint64_t h1, h2;
    s_probe_start (&self->shape, key, &h1, &h2);
    uint64_t g = h1;
    for (uint8_t i = 0; i < self->shape.k; i++, g += h2)
        s_bump (self, s_index (&self->shape, g));
    self->count++;
}

int
irh_digest_remove (irh_digest_t *self, const uint8_t *key)
{
    assert (self && key);
    if (!irh_digest_contains (self, key))
        return -1;
    uint64_t h1, h2;
    s_probe_start (&self->shape, key, &h1, &h2);
    uint64_t g = h1;
    for (uint8_t i = 0; i < self->shape.k; i++, g += h2) {
        uint32_t index = s_index (&self->shape, g);
        uint8_t value = s_counter (self, index);
        //  value 0 here: a key never added whose indexes repeat; never
        //  go below zero.
        if (value == COUNTER_MAX || value == 0)
            continue;
        s_counter_set (self, index, (uint8_t) (value - 1));
        if (value == 1) {
            s_toggle (self->words, index);
            s_log_flip (self, index);
        }
    }
    if (self->count > 0)
        self->count--;
    return 0;
}

bool
irh_digest_contains (irh_digest_t *self, const uint8_t *key)
{
    assert (self && key);
    return s_words_contain (&self->shape, self->words, key);
}

size_t
irh_digest_count (irh_digest_t *self)
{
    assert (self);
    return self->count;
}

size_t
irh_digest_design (irh_digest_t *self)
{
    assert (self);
    return self->design;
}

bool
irh_digest_needs_rebuild (irh_digest_t *self)
{
    assert (self);
    return self->count > self->design && self->shape.nbits < IRH_DIGEST_MAX_BITS;
}

size_t
irh_digest_saturated (irh_digest_t *self)
{
    assert (self);
    return self->saturated;
}

void
irh_digest_rebuild (irh_digest_t *self, size_t expected, irh_digest_next_fn *next, void *arg)
{
    assert (self && next);
    if (expected == 0)
        expected = self->count * 2;
    free (self->counters);
    free (self->words);
    s_digest_alloc (self, expected);
    //  The flips of building from empty are no delta anyone can use
    //  (peers get a new generation whole), so they are not logged: the
    //  generation starts at epoch 0.
    self->building = true;
    const uint8_t *key;
    while ((key = next (arg)))
        irh_digest_add (self, key);
    self->building = false;
}

uint64_t
irh_digest_seed (irh_digest_t *self)
{
    assert (self);
    return self->shape.seed;
}

uint64_t
irh_digest_epoch (irh_digest_t *self)
{
    assert (self);
    return self->log_start + self->log_len;
}

uint32_t
irh_digest_nbits (irh_digest_t *self)
{
    assert (self);
    return self->shape.nbits;
}

uint8_t
irh_digest_k (irh_digest_t *self)
{
    assert (self);
    return self->shape.k;
}

zframe_t *
irh_digest_encode_full (irh_digest_t *self, const char *ns)
{
    assert (self && ns && strlen (ns) <= IRH_PEER_DIGEST_FULL_NS_MAX);
    size_t size = self->shape.nbits / 8;
    uint8_t *bits = (uint8_t *) malloc (size);
    assert (bits);
    s_words_to_bytes (self->words, size / 8, bits);
    irh_peer_digest_full_t msg;
    memset (&msg, 0, sizeof (msg));
    snprintf (msg.ns, sizeof (msg.ns), "%s", ns);
    msg.seed = self->shape.seed;
    msg.epoch = irh_digest_epoch (self);
    msg.k = self->shape.k;
    msg.nbits = self->shape.nbits;
    msg.bits = bits;
    msg.bits_size = size;
    zframe_t *frame = irh_peer_digest_full_encode (&msg);
    free (bits);
    return frame;
}

static int
s_compare_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return (x > y) - (x < y);
}

zframe_t *
irh_digest_encode_delta (irh_digest_t *self, const char *ns, uint64_t seed, uint64_t base_epoch)
{
    assert (self && ns && strlen (ns) <= IRH_PEER_DIGEST_DELTA_NS_MAX);
    uint64_t epoch = irh_digest_epoch (self);
    if (seed != self->shape.seed || base_epoch < self->log_start || base_epoch > epoch)
        return NULL;
    size_t from = (size_t) (base_epoch - self->log_start);
    size_t count = self->log_len - from;
    //  Toggle semantics: a bit that flipped an even number of times since
    //  base_epoch is where it was, so pairs cancel after sorting.
    uint32_t *positions = (uint32_t *) malloc ((count ? count : 1) * sizeof (uint32_t));
    assert (positions);
    for (size_t i = 0; i < count; i++)
        positions [i] = self->log [(self->log_first + from + i) % self->log_cap];
    qsort (positions, count, sizeof (uint32_t), s_compare_u32);
    size_t kept = 0;
    for (size_t i = 0; i < count; ) {
        size_t j = i;
        while (j < count && positions [j] == positions [i])
            j++;
        if ((j - i) % 2)
            positions [kept++] = positions [i];
        i = j;
    }
    zframe_t *frame = NULL;
    //  Summary Cache: the changes only when smaller than the whole array.
    if (kept * 4 < self->shape.nbits / 8) {
        uint8_t *bytes = (uint8_t *) malloc (kept * 4 + 1);
        assert (bytes);
        for (size_t i = 0; i < kept; i++) {
            bytes [i * 4] = (uint8_t) (positions [i] >> 24);
            bytes [i * 4 + 1] = (uint8_t) (positions [i] >> 16);
            bytes [i * 4 + 2] = (uint8_t) (positions [i] >> 8);
            bytes [i * 4 + 3] = (uint8_t) positions [i];
        }
        irh_peer_digest_delta_t msg;
        memset (&msg, 0, sizeof (msg));
        snprintf (msg.ns, sizeof (msg.ns), "%s", ns);
        msg.seed = seed;
        msg.base_epoch = base_epoch;
        msg.epoch = epoch;
        msg.positions = bytes;
        msg.positions_size = kept * 4;
        frame = irh_peer_digest_delta_encode (&msg);
        free (bytes);
    }
    free (positions);
    return frame;
}

//  --------------------------------------------------------------------------
//  A peer's digest

irh_digest_remote_t *
irh_digest_remote_new (void)
{
    irh_digest_remote_t *self = (irh_digest_remote_t *) zmalloc (sizeof (irh_digest_remote_t));
    return self;
}

void
irh_digest_remote_destroy (irh_digest_remote_t **self_p)
{
    assert (self_p);
    irh_digest_remote_t *self = *self_p;
    if (self) {
        free (self->words);
        free (self);
        *self_p = NULL;
    }
}

static int
s_refuse (irh_digest_remote_t *self, bool stale, const char *why)
{
    if (stale)
        self->stale++;
    else
        self->malformed++;
    snprintf (self->error, sizeof (self->error), "%s%s", stale ? "" : "malformed: ", why);
    return -1;
}

int
irh_digest_remote_apply_full (irh_digest_remote_t *self, const irh_peer_digest_full_t *msg)
{
    assert (self && msg);
    if (msg->k < 1 || msg->k > IRH_DIGEST_MAX_K)
        return s_refuse (self, false, "k out of range");
    if (msg->nbits < 64 || msg->nbits > IRH_DIGEST_MAX_BITS || msg->nbits % 64)
        return s_refuse (self, false, "nbits out of range or not a multiple of 64");
    if (msg->bits_size != msg->nbits / 8)
        return s_refuse (self, false, "bits size is not nbits / 8");
    if (msg->seed == 0)
        return s_refuse (self, false, "seed 0");
    if (!self->words || self->shape.nbits != msg->nbits) {
        uint64_t *words = s_words_new (msg->nbits / 8);
        free (self->words);
        self->words = words;
    }
    self->ones = 0;
    for (size_t w = 0; w < msg->nbits / 64; w++) {
        self->words [w] = s_le64 (msg->bits + w * 8);
        self->ones += (uint64_t) __builtin_popcountll (self->words [w]);
    }
    self->shape.seed = msg->seed;
    self->shape.nbits = msg->nbits;
    self->shape.k = msg->k;
    self->epoch = msg->epoch;
    self->error [0] = 0;
    return 0;
}

static uint32_t
s_be32 (const uint8_t *p)
{
    return (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16 | (uint32_t) p [2] << 8 | p [3];
}

int
irh_digest_remote_apply_delta (irh_digest_remote_t *self, const irh_peer_digest_delta_t *msg)
{
    assert (self && msg);
    if (msg->positions_size % 4)
        return s_refuse (self, false, "positions not a whole number of u32");
    if (msg->epoch < msg->base_epoch)
        return s_refuse (self, false, "epoch before base epoch");
    //  Each epoch is one flip, and cancelled flips are left out.
    if (msg->positions_size / 4 > msg->epoch - msg->base_epoch)
        return s_refuse (self, false, "more positions than flips");
    if (!self->words || msg->seed != self->shape.seed || msg->base_epoch != self->epoch)
        return s_refuse (self, true, "stale");
    size_t count = msg->positions_size / 4;
    //  Check everything before changing anything.
    for (size_t i = 0; i < count; i++) {
        uint32_t index = s_be32 (msg->positions + i * 4);
        if (index >= self->shape.nbits)
            return s_refuse (self, false, "position beyond nbits");
        if (i > 0 && index <= s_be32 (msg->positions + (i - 1) * 4))
            return s_refuse (self, false, "positions not strictly increasing");
    }
    for (size_t i = 0; i < count; i++) {
        uint32_t index = s_be32 (msg->positions + i * 4);
        if (s_bit (self->words, index))
            self->ones--;
        else
            self->ones++;
        s_toggle (self->words, index);
    }
    self->epoch = msg->epoch;
    self->error [0] = 0;
    return 0;
}

int
irh_digest_remote_apply (irh_digest_remote_t *self, const uint8_t *buf, size_t size)
{
    assert (self);
    switch (irh_msgs_id_buf (buf, size)) {
        case IRH_MSG_PEER_DIGEST_FULL: {
            irh_peer_digest_full_t msg;
            if (irh_peer_digest_full_decode_buf (buf, size, &msg))
                return s_refuse (self, false, irh_msgs_error ());
            return irh_digest_remote_apply_full (self, &msg);
        }
        case IRH_MSG_PEER_DIGEST_DELTA: {
            irh_peer_digest_delta_t msg;
            if (irh_peer_digest_delta_decode_buf (buf, size, &msg))
                return s_refuse (self, false, irh_msgs_error ());
            return irh_digest_remote_apply_delta (self, &msg);
        }
        default:
            return s_refuse (self, false, "not a digest message");
    }
}

const char *
irh_digest_remote_error (irh_digest_remote_t *self)
{
    assert (self);
    return self->error;
}

uint64_t
irh_digest_remote_stale (irh_digest_remote_t *self)
{
    assert (self);
    return self->stale;
}

uint64_t
irh_digest_remote_malformed (irh_digest_remote_t *self)
{
    assert (self);
    return self->malformed;
}

bool
irh_digest_remote_contains (irh_digest_remote_t *self, const uint8_t *key)
{
    assert (self && key);
    return self->words && s_words_contain (&self->shape, self->words, key);
}

size_t
irh_digest_remote_candidates (irh_digest_remote_t **remotes, size_t count, const uint8_t *key,
                              bool *hits)
{
    assert (key && (count == 0 || (remotes && hits)));
    for (size_t i = 0; i < count; i++) {
        irh_digest_remote_t *remote = remotes [i];
        if (remote && remote->words) {
            uint64_t h1, h2;
            s_probe_start (&remote->shape, key, &h1, &h2);
            //  The two probes s_words_contain tests first.
            __builtin_prefetch (&remote->words [s_index (&remote->shape, h1) >> 6]);
            __builtin_prefetch (&remote->words [s_index (&remote->shape, h1 + h2) >> 6]);
        }
    }
    size_t found = 0;
    for (size_t i = 0; i < count; i++) {
        hits [i] = remotes [i] && irh_digest_remote_contains (remotes [i], key);
        found += hits [i];
    }
    return found;
}

bool
irh_digest_remote_ready (irh_digest_remote_t *self)
{
    assert (self);
    return self->words != NULL;
}

uint64_t
irh_digest_remote_seed (irh_digest_remote_t *self)
{
    assert (self);
    return self->words ? self->shape.seed : 0;
}

uint64_t
irh_digest_remote_epoch (irh_digest_remote_t *self)
{
    assert (self);
    return self->epoch;
}

uint32_t
irh_digest_remote_nbits (irh_digest_remote_t *self)
{
    assert (self);
    return self->words ? self->shape.nbits : 0;
}

size_t
irh_digest_remote_copy_bits (irh_digest_remote_t *self, uint8_t *out, size_t cap)
{
    assert (self);
    if (!self->words)
        return 0;
    size_t size = self->shape.nbits / 8;
    if (out && cap >= size)
        s_words_to_bytes (self->words, size / 8, out);
    return size;
}

double
irh_digest_remote_fill (irh_digest_remote_t *self)
{
    assert (self);
    return self->words ? (double) self->ones / self->shape.nbits : 0;
}
