/*  gossip_wire.h: the pure checks of the data plane (gossip_data.h),
    socket-free so the C self-test and the fuzz target (fuzz/fuzz_xfer.c)
    run exactly what the data socket runs on every frame a peer sends.
*/
#ifndef GOSSIP_WIRE_H_INCLUDED
#define GOSSIP_WIRE_H_INCLUDED
#include "irh_msgs.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Largest frame on the data socket: a whole digest (4 MiB of bits) and
//  its header. libzmq drops a connection that sends more (ZMQ_MAXMSGSIZE).
#define GOSSIP_WIRE_FRAME_MAX   ((4u << 20) + 1024)

typedef enum {
    GOSSIP_WIRE_REQUEST = 1,    //  144, 146, 143, 148, 149: answer it on its route
    GOSSIP_WIRE_ANSWER,         //  145, 147, 150: answers our request req
    GOSSIP_WIRE_PUSH            //  141, 142: a digest, pushed or answering our want
} gossip_wire_kind_t;

typedef struct {
    int id;                     //  IRH_MSG_PEER_*
    gossip_wire_kind_t kind;
    uint32_t req;               //  answers only
} gossip_wire_t;

//  Classify one frame a peer sent on the data socket: size, id (a data
//  plane message) and a full decode with the generated codec. 0, or -1
//  with *why (static text) when the frame must be dropped and counted.
int gossip_wire_classify (const uint8_t *data, size_t size, gossip_wire_t *out,
                          const char **why);

//  Check a peer_read_want against the blob (what 0: content) or outboard
//  (what 1) of total bytes: 0 ok and *length the bytes to send (the tail
//  may be shorter than asked), or the peer_read status to answer: 3 (bad
//  request: what, length, alignment, offset past the end).
int gossip_wire_read_check (const irh_peer_read_want_t *want, uint64_t total,
                            uint32_t *length);

//  Keys in a Bloom filter of nbits with k bits per key and set bits set:
//  n = -(m/k) ln(1 - X/m) (Swamidass & Baldi). 0 for an empty filter;
//  a full one counts as m - 1 bits set (the estimate is unbounded there).
uint64_t gossip_wire_estimate (uint64_t set, uint32_t nbits, uint8_t k);

//  The data socket's endpoint for a member's gossip address
//  (tcp://HOST:PORT -> tcp://HOST:PORT+2). -1 if address is not that form
//  or the port would leave 1..65535.
int gossip_wire_data_endpoint (const char *address, char *out, size_t size);

#endif
