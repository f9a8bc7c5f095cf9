/*  swim_pool.c: process-wide, reference-counted interning of member
    records (node id + address + name + heartbeat), so that many swim
    instances in one process (the simulator) share one copy of each
    version of a node. See swim_internal.h.
*/
#include "swim_internal.h"
#include "irh_hash.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    swim_node_t node;
    uint64_t hash;
    uint32_t refs;
    uint32_t next;          //  bucket chain, or free list; index + 1, 0 = end
} s_record_t;

static s_record_t *s_records;
static uint32_t s_count, s_cap, s_free, s_used;
static uint32_t *s_buckets;     //  index + 1, 0 = empty
static uint32_t s_nbuckets;

static void
s_copy (char *dst, size_t cap, const char *src)
{
    size_t len = strnlen (src, cap - 1);
    memcpy (dst, src, len);
    dst [len] = 0;
}

//  Copy node into a zeroed record so equal nodes are equal bytes (padding
//  and string tails included), then hash those bytes.
static void
s_normalize (const swim_node_t *node, swim_node_t *out)
{
    memset (out, 0, sizeof (*out));
    memcpy (out->id, node->id, SWIM_ID_SIZE);
    s_copy (out->address, sizeof (out->address), node->address);
    s_copy (out->name, sizeof (out->name), node->name);
    out->hb.cpu_idle_ppm = node->hb.cpu_idle_ppm;
    out->hb.ram_free = node->hb.ram_free;
    out->hb.load1_milli = node->hb.load1_milli;
    s_copy (out->hb.gpu_model, sizeof (out->hb.gpu_model), node->hb.gpu_model);
    out->hb.gpu_mem_free = node->hb.gpu_mem_free;
    out->hb.status = node->hb.status;
    out->hb.results = node->hb.results;
    s_copy (out->hb.version, sizeof (out->hb.version), node->hb.version);
}

static void
s_rehash (uint32_t nbuckets)
{
    free (s_buckets);
    s_buckets = calloc (nbuckets, sizeof (uint32_t));
    assert (s_buckets);
    s_nbuckets = nbuckets;
    for (uint32_t i = 0; i < s_count; i++) {
        s_record_t *rec = &s_records [i];
        if (rec->refs == 0)
            continue;
        uint32_t b = (uint32_t) (rec->hash & (s_nbuckets - 1));
        rec->next = s_buckets [b];
        s_buckets [b] = i + 1;
    }
}

uint32_t
swim_pool_intern (const swim_node_t *node)
{
    swim_node_t norm;
    s_normalize (node, &norm);
    uint64_t hash = irh_xxh64 (&norm, sizeof (norm), 0);
    if (s_nbuckets) {
        for (uint32_t i = s_buckets [hash & (s_nbuckets - 1)]; i; i = s_records [i - 1].next) {
            s_record_t *rec = &s_records [i - 1];
            if (rec->hash == hash && memcmp (&rec->node, &norm, sizeof (norm)) == 0) {
                rec->refs++;
                return i - 1;
            }
        }
    }
    uint32_t index;
    if (s_free) {
        index = s_free - 1;
        s_free = s_records [index].next;
    }
    else {
        if (s_count == s_cap) {
            s_cap = s_cap ? s_cap * 2 : 64;
            s_records = realloc (s_records, s_cap * sizeof (s_record_t));
            assert (s_records);
        }
        index = s_count++;
    }
    s_record_t *rec = &s_records [index];
    rec->node = norm;
    rec->hash = hash;
    rec->refs = 1;
    s_used++;
    if (s_used > s_nbuckets)
        s_rehash (s_nbuckets ? s_nbuckets * 4 : 256);
    else {
        uint32_t b = (uint32_t) (hash & (s_nbuckets - 1));
        rec->next = s_buckets [b];
        s_buckets [b] = index + 1;
    }
    return index;
}

void
swim_pool_retain (uint32_t ref)
{
    assert (ref < s_count && s_records [ref].refs);
    s_records [ref].refs++;
}

void
swim_pool_release (uint32_t ref)
{
    assert (ref < s_count && s_records [ref].refs);
    s_record_t *rec = &s_records [ref];
    if (--rec->refs)
        return;
    //  Unlink from its bucket, then onto the free list.
    uint32_t *link = &s_buckets [rec->hash & (s_nbuckets - 1)];
    while (*link != ref + 1)
        link = &s_records [*link - 1].next;
    *link = rec->next;
    rec->next = s_free;
    s_free = ref + 1;
    s_used--;
    if (s_used == 0) {
        //  Last instance gone: give everything back (tests, leak checkers).
        free (s_records);
        free (s_buckets);
        s_records = NULL;
        s_buckets = NULL;
        s_count = s_cap = s_free = s_nbuckets = 0;
    }
}

const swim_node_t *
swim_pool_get (uint32_t ref)
{
    assert (ref < s_count && s_records [ref].refs);
    return &s_records [ref].node;
}

size_t
swim_pool_size (void)
{
    return s_used;
}
