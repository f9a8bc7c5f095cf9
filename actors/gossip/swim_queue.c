/*  swim_queue.c: the broadcast queue of piggybacked gossip (memberlist's
    transmit-limited queue): messages that went out least often go first,
    each is dropped after the retransmit limit, and a newer message about a
    node replaces the older one. See swim_internal.h.
*/
#include "swim_internal.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t about [SWIM_ID_SIZE];
    uint32_t transmits;
    uint16_t size;
    uint8_t *msg;
} s_item_t;

struct _swim_queue_t {
    s_item_t *items;        //  ascending transmits; ties: newest first
    size_t count, cap;
    uint64_t dropped;
};

swim_queue_t *
swim_queue_new (void)
{
    swim_queue_t *self = calloc (1, sizeof (swim_queue_t));
    assert (self);
    return self;
}

void
swim_queue_destroy (swim_queue_t **self_p)
{
    assert (self_p);
    swim_queue_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++)
        free (self->items [i].msg);
    free (self->items);
    free (self);
    *self_p = NULL;
}

void
swim_queue_push (swim_queue_t *self, const uint8_t *about, const uint8_t *msg, size_t size)
{
    assert (self && about && msg && size > 0 && size <= SWIM_PACKET_MAX);
    for (size_t i = 0; i < self->count; i++) {
        if (memcmp (self->items [i].about, about, SWIM_ID_SIZE) == 0) {
            free (self->items [i].msg);
            memmove (&self->items [i], &self->items [i + 1],
                     (self->count - i - 1) * sizeof (s_item_t));
            self->count--;
            break;
        }
    }
    //  Full: the most-sent item goes (it is at the tail). Beyond this,
    //  updates arrive faster than gossip can carry them; push-pull
    //  repairs what is dropped, and memory stays bounded.
    if (self->count == SWIM_QUEUE_MAX) {
        free (self->items [self->count - 1].msg);
        self->count--;
        self->dropped++;
    }
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 16;
        self->items = realloc (self->items, self->cap * sizeof (s_item_t));
        assert (self->items);
    }
    memmove (&self->items [1], &self->items [0], self->count * sizeof (s_item_t));
    s_item_t *item = &self->items [0];
    memcpy (item->about, about, SWIM_ID_SIZE);
    item->transmits = 0;
    item->size = (uint16_t) size;
    item->msg = malloc (size);
    assert (item->msg);
    memcpy (item->msg, msg, size);
    self->count++;
}

size_t
swim_queue_fill (swim_queue_t *self, uint8_t *buf, size_t *used, size_t cap, uint32_t limit)
{
    assert (self && buf && used);
    size_t added = 0;
    size_t i = 0;
    while (i < self->count && *used + 2 + 32 <= cap) {
        s_item_t *item = &self->items [i];
        if (*used + 2 + item->size > cap) {
            i++;
            continue;
        }
        buf [*used] = (uint8_t) (item->size >> 8);
        buf [*used + 1] = (uint8_t) item->size;
        memcpy (buf + *used + 2, item->msg, item->size);
        *used += 2 + item->size;
        added++;
        if (++item->transmits >= limit) {
            free (item->msg);
            memmove (item, item + 1, (self->count - i - 1) * sizeof (s_item_t));
            self->count--;
        }
        else
            i++;
    }
    //  Transmit counts only went up by one: one insertion-sort pass
    //  restores the order (stable, so newer items stay ahead of ties).
    for (size_t j = 1; j < self->count; j++) {
        s_item_t item = self->items [j];
        size_t k = j;
        while (k > 0 && self->items [k - 1].transmits > item.transmits) {
            self->items [k] = self->items [k - 1];
            k--;
        }
        self->items [k] = item;
    }
    return added;
}

size_t
swim_queue_size (swim_queue_t *self)
{
    assert (self);
    return self->count;
}

uint64_t
swim_queue_dropped (swim_queue_t *self)
{
    assert (self);
    return self->dropped;
}
