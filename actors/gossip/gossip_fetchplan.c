/*  gossip_fetchplan.c: range planner, .have codec and holder bookkeeping
    of a verified multi-source fetch (gossip_fetchplan.h, docs/transfer.md).
    No I/O, no clock: the caller passes the time. */
#include "gossip_fetchplan.h"
#include "irh_hash.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_GROUP 16384                   //  IRH_XFER_GROUP
#define S_HAVE_SEED 0x6972687668617665ULL   //  "irhvhave"

struct _gossip_plan_t {
    uint64_t count;
    uint64_t done_count;
    uint64_t cursor;            //  where the next search starts
    uint8_t *done;              //  verified
    uint8_t *busy;              //  asked, not answered yet
};

static inline bool
s_bit (const uint8_t *bits, uint64_t i)
{
    return (bits [i >> 3] >> (i & 7)) & 1;
}

static inline void
s_set (uint8_t *bits, uint64_t i, bool on)
{
    if (on)
        bits [i >> 3] |= (uint8_t) (1u << (i & 7));
    else
        bits [i >> 3] &= (uint8_t) ~(1u << (i & 7));
}

gossip_plan_t *
gossip_plan_new (uint64_t count)
{
    if (count == 0 || count > (GOSSIP_HAVE_SIZE_MAX / S_GROUP) + 1)
        return NULL;
    gossip_plan_t *self = (gossip_plan_t *) calloc (1, sizeof (gossip_plan_t));
    if (!self)
        return NULL;
    size_t bytes = (size_t) ((count + 7) / 8);
    self->count = count;
    self->done = (uint8_t *) calloc (1, bytes);
    self->busy = (uint8_t *) calloc (1, bytes);
    if (!self->done || !self->busy)
        gossip_plan_destroy (&self);
    return self;
}

void
gossip_plan_destroy (gossip_plan_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->done);
        free ((*self_p)->busy);
        free (*self_p);
        *self_p = NULL;
    }
}

uint64_t
gossip_plan_count (gossip_plan_t *self)
{
    return self->count;
}

uint64_t
gossip_plan_done_count (gossip_plan_t *self)
{
    return self->done_count;
}

bool
gossip_plan_complete (gossip_plan_t *self)
{
    return self->done_count == self->count;
}

bool
gossip_plan_is_done (gossip_plan_t *self, uint64_t item)
{
    assert (item < self->count);
    return s_bit (self->done, item);
}

void
gossip_plan_mark_done (gossip_plan_t *self, uint64_t item)
{
    assert (item < self->count);
    if (!s_bit (self->done, item)) {
        s_set (self->done, item, true);
        self->done_count++;
    }
    s_set (self->busy, item, false);
}

void
gossip_plan_clear_done (gossip_plan_t *self, uint64_t item)
{
    assert (item < self->count);
    if (s_bit (self->done, item)) {
        s_set (self->done, item, false);
        self->done_count--;
    }
}

void
gossip_plan_release (gossip_plan_t *self, uint64_t first, uint64_t n)
{
    assert (first <= self->count && n <= self->count - first);
    for (uint64_t i = first; i < first + n; i++)
        s_set (self->busy, i, false);
    //  Holes go back to the front of the queue: the next search starts
    //  there, so a re-queued range is not left for the end.
    if (n && first < self->cursor)
        self->cursor = first;
}

int
gossip_plan_next (gossip_plan_t *self, uint64_t max, uint64_t *first, uint64_t *n)
{
    assert (max > 0);
    //  Two passes: from the cursor to the end, then from 0 (wrap). Whole
    //  bytes of the two bitmaps both set are skipped 8 items at a time.
    for (int pass = 0; pass < 2; pass++) {
        uint64_t i = pass == 0 ? self->cursor : 0;
        uint64_t end = pass == 0 ? self->count : self->cursor;
        while (i < end) {
            if ((i & 7) == 0 && (self->done [i >> 3] | self->busy [i >> 3]) == 0xff) {
                i += 8;
                continue;
            }
            if (s_bit (self->done, i) || s_bit (self->busy, i)) {
                i++;
                continue;
            }
            uint64_t run = 0;
            while (i + run < self->count && run < max
               &&  !s_bit (self->done, i + run) && !s_bit (self->busy, i + run)) {
                s_set (self->busy, i + run, true);
                run++;
            }
            *first = i;
            *n = run;
            self->cursor = i + run;
            return 0;
        }
    }
    return -1;
}

const uint8_t *
gossip_plan_bits (gossip_plan_t *self)
{
    return self->done;
}

int
gossip_plan_load (gossip_plan_t *self, const uint8_t *bits, size_t size)
{
    size_t bytes = (size_t) ((self->count + 7) / 8);
    if (size != bytes)
        return -1;
    for (uint64_t i = self->count; i < bytes * 8; i++)
        if (s_bit (bits, i))
            return -1;
    memcpy (self->done, bits, bytes);
    self->done_count = 0;
    for (uint64_t i = 0; i < self->count; i++)
        self->done_count += s_bit (self->done, i);
    memset (self->busy, 0, bytes);
    self->cursor = 0;
    return 0;
}

//  ---------------------------------------------------------------------
//  .have codec

static void
s_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p [i] = (uint8_t) v;
        v >>= 8;
    }
}

static uint64_t
s_get64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p [i];
    return v;
}

static uint64_t
s_groups (uint64_t size)
{
    return size == 0 ? 0 : (size + S_GROUP - 1) / S_GROUP;
}

size_t
gossip_have_size (uint64_t size)
{
    if (size > GOSSIP_HAVE_SIZE_MAX)
        return 0;
    return GOSSIP_HAVE_HEADER + (size_t) ((s_groups (size) + 7) / 8) + 8;
}

size_t
gossip_have_encode (const uint8_t blob [32], uint64_t size, const uint8_t *bits,
                    uint8_t *out, size_t cap)
{
    size_t total = gossip_have_size (size);
    if (total == 0 || cap < total)
        return 0;
    size_t bitmap = total - GOSSIP_HAVE_HEADER - 8;
    memcpy (out, "IRHV", 4);
    out [4] = 0; out [5] = 0; out [6] = 0; out [7] = GOSSIP_HAVE_VERSION;
    memcpy (out + 8, blob, 32);
    s_put64 (out + 40, size);
    s_put64 (out + 48, s_groups (size));
    if (bitmap)
        memcpy (out + GOSSIP_HAVE_HEADER, bits, bitmap);
    s_put64 (out + total - 8, irh_xxh64 (out, total - 8, S_HAVE_SEED));
    return total;
}

int
gossip_have_decode (const uint8_t *buf, size_t len, uint8_t blob [32], uint64_t *size,
                    uint8_t *bits, size_t bits_cap, const char **why)
{
    const char *reason = NULL;
    uint64_t blob_size = 0, groups = 0;
    if (len < GOSSIP_HAVE_HEADER + 8)
        reason = "short";
    else
    if (memcmp (buf, "IRHV", 4) != 0)
        reason = "bad magic";
    else
    if (buf [4] || buf [5] || buf [6] || buf [7] != GOSSIP_HAVE_VERSION)
        reason = "unknown version";
    else {
        blob_size = s_get64 (buf + 40);
        groups = s_get64 (buf + 48);
        if (blob_size > GOSSIP_HAVE_SIZE_MAX || groups != s_groups (blob_size))
            reason = "size and groups disagree";
        else
        if (len != gossip_have_size (blob_size))
            reason = "wrong length";
        else
        if ((groups + 7) / 8 > bits_cap)
            reason = "bitmap larger than expected";
        else
        if (s_get64 (buf + len - 8) != irh_xxh64 (buf, len - 8, S_HAVE_SEED))
            reason = "bad checksum";
    }
    if (!reason) {
        const uint8_t *map = buf + GOSSIP_HAVE_HEADER;
        size_t bytes = (size_t) ((groups + 7) / 8);
        for (uint64_t i = groups; i < bytes * 8; i++)
            if (s_bit (map, i))
                reason = "padding bits set";
        if (!reason) {
            memcpy (blob, buf + 8, 32);
            *size = blob_size;
            if (bytes)
                memcpy (bits, map, bytes);
        }
    }
    if (why)
        *why = reason;
    return reason ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  Holders

void
gossip_holders_init (gossip_holders_t *self)
{
    memset (self, 0, sizeof *self);
}

int
gossip_holders_find (gossip_holders_t *self, const uint8_t id [32])
{
    for (size_t i = 0; i < self->count; i++)
        if (memcmp (self->list [i].id, id, 32) == 0)
            return (int) i;
    return -1;
}

int
gossip_holders_add (gossip_holders_t *self, const uint8_t id [32])
{
    int found = gossip_holders_find (self, id);
    if (found >= 0)
        return found;
    if (self->count == GOSSIP_HOLDERS_MAX)
        return -1;
    gossip_holder_t *holder = &self->list [self->count];
    memset (holder, 0, sizeof *holder);
    memcpy (holder->id, id, 32);
    holder->state = GOSSIP_HOLDER_LIVE;
    holder->window = GOSSIP_WINDOW_START;
    return (int) self->count++;
}

int
gossip_holders_pick (gossip_holders_t *self)
{
    for (size_t step = 0; step < self->count; step++) {
        size_t i = (self->next + step) % self->count;
        gossip_holder_t *holder = &self->list [i];
        if (holder->state == GOSSIP_HOLDER_LIVE && holder->outstanding < holder->window) {
            self->next = (i + 1) % self->count;
            return (int) i;
        }
    }
    return -1;
}

void
gossip_holders_sent (gossip_holders_t *self, int i)
{
    assert (i >= 0 && (size_t) i < self->count);
    self->list [i].outstanding++;
}

static void
s_answered (gossip_holder_t *holder)
{
    if (holder->outstanding)
        holder->outstanding--;
}

void
gossip_holders_good (gossip_holders_t *self, int i, uint64_t bytes)
{
    assert (i >= 0 && (size_t) i < self->count);
    gossip_holder_t *holder = &self->list [i];
    s_answered (holder);
    holder->timeouts = 0;
    holder->bytes += bytes;
    if (holder->window < GOSSIP_WINDOW_MAX)
        holder->window++;
}

bool
gossip_holders_timeout (gossip_holders_t *self, int i)
{
    assert (i >= 0 && (size_t) i < self->count);
    gossip_holder_t *holder = &self->list [i];
    s_answered (holder);
    holder->window = holder->window > 1 ? holder->window / 2 : 1;
    if (++holder->timeouts >= GOSSIP_TIMEOUTS_DROP && holder->state == GOSSIP_HOLDER_LIVE) {
        holder->state = GOSSIP_HOLDER_DOWN;
        return true;
    }
    return false;
}

void
gossip_holders_ban (gossip_holders_t *self, int i, int64_t now, int64_t ms)
{
    assert (i >= 0 && (size_t) i < self->count);
    gossip_holder_t *holder = &self->list [i];
    holder->state = GOSSIP_HOLDER_BANNED;
    holder->banned_until = now + ms;
    holder->bad++;
}

void
gossip_holders_down (gossip_holders_t *self, int i)
{
    assert (i >= 0 && (size_t) i < self->count);
    if (self->list [i].state == GOSSIP_HOLDER_LIVE)
        self->list [i].state = GOSSIP_HOLDER_DOWN;
}

void
gossip_holders_up (gossip_holders_t *self, int i)
{
    assert (i >= 0 && (size_t) i < self->count);
    gossip_holder_t *holder = &self->list [i];
    if (holder->state == GOSSIP_HOLDER_BANNED)
        return;                         //  a ban runs its time out
    holder->state = GOSSIP_HOLDER_LIVE;
    holder->timeouts = 0;
    holder->window = GOSSIP_WINDOW_START;
}

size_t
gossip_holders_live (gossip_holders_t *self, int64_t now)
{
    size_t live = 0;
    for (size_t i = 0; i < self->count; i++) {
        gossip_holder_t *holder = &self->list [i];
        if (holder->state == GOSSIP_HOLDER_BANNED && now >= holder->banned_until)
            holder->state = GOSSIP_HOLDER_DOWN;
        live += holder->state == GOSSIP_HOLDER_LIVE;
    }
    return live;
}

bool
gossip_holders_all_banned (gossip_holders_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->list [i].state != GOSSIP_HOLDER_BANNED)
            return false;
    return self->count > 0;
}
