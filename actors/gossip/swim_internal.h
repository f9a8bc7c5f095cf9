/*  swim_internal.h: pieces of the swim library shared between its files
    (record pool, broadcast queue); not for hosts.
*/
#ifndef SWIM_INTERNAL_H_INCLUDED
#define SWIM_INTERNAL_H_INCLUDED
#include "swim.h"

//  Record pool (swim_pool.c). A member's identity and metadata are
//  interned process-wide and reference-counted: every instance that knows
//  the same version of a node shares one copy. One instance (the daemon)
//  gains nothing, but 10,000 simulated instances of 10,000 members each
//  would otherwise hold 10^8 copies of ~300 bytes.
uint32_t swim_pool_intern (const swim_node_t *node);
void swim_pool_retain (uint32_t ref);
void swim_pool_release (uint32_t ref);
const swim_node_t *swim_pool_get (uint32_t ref);
//  Records in the pool (for tests).
size_t swim_pool_size (void);

//  Broadcast queue (swim_queue.c): encoded gossip messages, each about one
//  node, sent fewest-transmissions first and dropped after the limit. A
//  newer message about a node replaces the older one.
typedef struct _swim_queue_t swim_queue_t;
#define SWIM_QUEUE_MAX 1024     //  items; the most-sent is dropped beyond
swim_queue_t *swim_queue_new (void);
void swim_queue_destroy (swim_queue_t **self_p);
void swim_queue_push (swim_queue_t *self, const uint8_t *about, const uint8_t *msg, size_t size);
//  Append as many messages as fit into buf (each as u16 length + bytes)
//  starting at *used, up to cap; counts one transmission for each and drops
//  those that reached limit. Returns how many were added.
size_t swim_queue_fill (swim_queue_t *self, uint8_t *buf, size_t *used, size_t cap,
                        uint32_t limit);
size_t swim_queue_size (swim_queue_t *self);
//  Items dropped because the queue was full.
uint64_t swim_queue_dropped (swim_queue_t *self);

#endif
