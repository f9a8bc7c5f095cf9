/*  fuzz_msgs.c: libFuzzer target for every generated message decoder
    (the proto .def files, via irh_msgs.c). The input goes to each irh_*_decode_buf
    (and to the one its first byte names, with that byte forced, so every
    decoder sees well-formed prefixes often). Whatever decodes must encode
    back to exactly the same bytes: the encoding is canonical, so a decoder
    that accepts anything else is lax.

    The table below lists the messages by hand; at start-up it is checked
    against irh_msgs_name () for all 256 ids, so a message added to a .def
    file without a line here stops the fuzzer at once with a clear message
    instead of silently going unfuzzed.
*/
#include "irh_msgs.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (s_check_fn) (const uint8_t *data, size_t size);

//  Decode; on success, encode again and insist on the same bytes.
#define S_MSG(name, NAME) { IRH_MSG_##NAME, #name, s_check_##name }
#define S_CHECK(name) \
static int \
s_check_##name (const uint8_t *data, size_t size) \
{ \
    irh_##name##_t msg; \
    if (irh_##name##_decode_buf (data, size, &msg)) \
        return 0; \
    size_t need = irh_##name##_encoded_size (&msg); \
    assert (need == size); \
    uint8_t *back = malloc (need); \
    assert (back); \
    assert (irh_##name##_encode_buf (&msg, back, need) == size); \
    assert (memcmp (back, data, size) == 0); \
    free (back); \
    return 1; \
}

#ifdef IRH_MSG_OK
S_CHECK (ok)
#endif
#ifdef IRH_MSG_PONG
S_CHECK (pong)
#endif
#ifdef IRH_MSG_PING
S_CHECK (ping)
#endif
#ifdef IRH_MSG_STATUS
S_CHECK (status)
#endif
#ifdef IRH_MSG_DOWN
S_CHECK (down)
#endif
#ifdef IRH_MSG_BROKER_STATS
S_CHECK (broker_stats)
#endif
#ifdef IRH_MSG_MANIFEST
S_CHECK (manifest)
#endif
#ifdef IRH_MSG_BLOB
S_CHECK (blob)
#endif
#ifdef IRH_MSG_CLAIM_REC
S_CHECK (claim_rec)
#endif
#ifdef IRH_MSG_PUT
S_CHECK (put)
#endif
#ifdef IRH_MSG_PUT_OK
S_CHECK (put_ok)
#endif
#ifdef IRH_MSG_GET
S_CHECK (get)
#endif
#ifdef IRH_MSG_HIT
S_CHECK (hit)
#endif
#ifdef IRH_MSG_MISS
S_CHECK (miss)
#endif
#ifdef IRH_MSG_HAS
S_CHECK (has)
#endif
#ifdef IRH_MSG_HAS_REPLY
S_CHECK (has_reply)
#endif
#ifdef IRH_MSG_TOUCH
S_CHECK (touch)
#endif
#ifdef IRH_MSG_LS
S_CHECK (ls)
#endif
#ifdef IRH_MSG_STATS
S_CHECK (stats)
#endif
#ifdef IRH_MSG_INFO
S_CHECK (info)
#endif
#ifdef IRH_MSG_EVICT
S_CHECK (evict)
#endif
#ifdef IRH_MSG_EVICTED
S_CHECK (evicted)
#endif
#ifdef IRH_MSG_GC
S_CHECK (gc)
#endif
#ifdef IRH_MSG_GC_REPLY
S_CHECK (gc_reply)
#endif
#ifdef IRH_MSG_CLAIM
S_CHECK (claim)
#endif
#ifdef IRH_MSG_CLAIM_REPLY
S_CHECK (claim_reply)
#endif
#ifdef IRH_MSG_RELEASE
S_CHECK (release)
#endif
#ifdef IRH_MSG_WAIT
S_CHECK (wait)
#endif
#ifdef IRH_MSG_WAIT_REPLY
S_CHECK (wait_reply)
#endif
#ifdef IRH_MSG_MACHCAP
S_CHECK (machcap)
#endif
#ifdef IRH_MSG_MACHCAP_INFO
S_CHECK (machcap_info)
#endif
#ifdef IRH_MSG_VERDICT
S_CHECK (verdict)
#endif
#ifdef IRH_MSG_VERDICT_INFO
S_CHECK (verdict_info)
#endif
#ifdef IRH_MSG_REMEASURE
S_CHECK (remeasure)
#endif
#ifdef IRH_MSG_MACHCAP_CACHE
S_CHECK (machcap_cache)
#endif

static const struct {
    int id;
    const char *name;
    s_check_fn *check;
} s_msgs [] = {
#ifdef IRH_MSG_OK
    S_MSG (ok, OK),
#endif
#ifdef IRH_MSG_PONG
    S_MSG (pong, PONG),
#endif
#ifdef IRH_MSG_PING
    S_MSG (ping, PING),
#endif
#ifdef IRH_MSG_STATUS
    S_MSG (status, STATUS),
#endif
#ifdef IRH_MSG_DOWN
    S_MSG (down, DOWN),
#endif
#ifdef IRH_MSG_BROKER_STATS
    S_MSG (broker_stats, BROKER_STATS),
#endif
#ifdef IRH_MSG_MANIFEST
    S_MSG (manifest, MANIFEST),
#endif
#ifdef IRH_MSG_BLOB
    S_MSG (blob, BLOB),
#endif
#ifdef IRH_MSG_CLAIM_REC
    S_MSG (claim_rec, CLAIM_REC),
#endif
#ifdef IRH_MSG_PUT
    S_MSG (put, PUT),
#endif
#ifdef IRH_MSG_PUT_OK
    S_MSG (put_ok, PUT_OK),
#endif
#ifdef IRH_MSG_GET
    S_MSG (get, GET),
#endif
#ifdef IRH_MSG_HIT
    S_MSG (hit, HIT),
#endif
#ifdef IRH_MSG_MISS
    S_MSG (miss, MISS),
#endif
#ifdef IRH_MSG_HAS
    S_MSG (has, HAS),
#endif
#ifdef IRH_MSG_HAS_REPLY
    S_MSG (has_reply, HAS_REPLY),
#endif
#ifdef IRH_MSG_TOUCH
    S_MSG (touch, TOUCH),
#endif
#ifdef IRH_MSG_LS
    S_MSG (ls, LS),
#endif
#ifdef IRH_MSG_STATS
    S_MSG (stats, STATS),
#endif
#ifdef IRH_MSG_INFO
    S_MSG (info, INFO),
#endif
#ifdef IRH_MSG_EVICT
    S_MSG (evict, EVICT),
#endif
#ifdef IRH_MSG_EVICTED
    S_MSG (evicted, EVICTED),
#endif
#ifdef IRH_MSG_GC
    S_MSG (gc, GC),
#endif
#ifdef IRH_MSG_GC_REPLY
    S_MSG (gc_reply, GC_REPLY),
#endif
#ifdef IRH_MSG_CLAIM
    S_MSG (claim, CLAIM),
#endif
#ifdef IRH_MSG_CLAIM_REPLY
    S_MSG (claim_reply, CLAIM_REPLY),
#endif
#ifdef IRH_MSG_RELEASE
    S_MSG (release, RELEASE),
#endif
#ifdef IRH_MSG_WAIT
    S_MSG (wait, WAIT),
#endif
#ifdef IRH_MSG_WAIT_REPLY
    S_MSG (wait_reply, WAIT_REPLY),
#endif
#ifdef IRH_MSG_MACHCAP
    S_MSG (machcap, MACHCAP),
#endif
#ifdef IRH_MSG_MACHCAP_INFO
    S_MSG (machcap_info, MACHCAP_INFO),
#endif
#ifdef IRH_MSG_VERDICT
    S_MSG (verdict, VERDICT),
#endif
#ifdef IRH_MSG_VERDICT_INFO
    S_MSG (verdict_info, VERDICT_INFO),
#endif
#ifdef IRH_MSG_REMEASURE
    S_MSG (remeasure, REMEASURE),
#endif
#ifdef IRH_MSG_MACHCAP_CACHE
    S_MSG (machcap_cache, MACHCAP_CACHE),
#endif
};
#define S_COUNT (sizeof (s_msgs) / sizeof (s_msgs [0]))

static void
s_check_table (void)
{
    for (int id = 0; id < 256; id++) {
        if (strcmp (irh_msgs_name (id), "?") == 0)
            continue;
        size_t i;
        for (i = 0; i < S_COUNT && s_msgs [i].id != id; i++)
            ;
        if (i == S_COUNT) {
            fprintf (stderr, "fuzz_msgs: message %s (id %d) has no entry in fuzz/fuzz_msgs.c\n",
                     irh_msgs_name (id), id);
            abort ();
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static int checked = 0;
    if (!checked) {
        s_check_table ();
        checked = 1;
    }
    for (size_t i = 0; i < S_COUNT; i++)
        s_msgs [i].check (data, size);
    //  Again with the id byte of the message the input selects, so field
    //  parsing (not the id check) gets most of the inputs.
    if (size > 1) {
        uint8_t *copy = malloc (size);
        assert (copy);
        memcpy (copy, data, size);
        size_t pick = data [0] % S_COUNT;
        copy [0] = (uint8_t) s_msgs [pick].id;
        s_msgs [pick].check (copy, size);
        free (copy);
    }
    return 0;
}
