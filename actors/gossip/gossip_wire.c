/*  gossip_wire.c: the pure checks of the data plane (gossip_wire.h).
    Every frame a peer sends on the data socket goes through
    gossip_wire_classify before anything else looks at it.
*/
#include "gossip_wire.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
gossip_wire_classify (const uint8_t *data, size_t size, gossip_wire_t *out, const char **why)
{
    static const char *unused;
    if (!why)
        why = &unused;
    memset (out, 0, sizeof *out);
    if (!data || size == 0) {
        *why = "empty frame";
        return -1;
    }
    if (size > GOSSIP_WIRE_FRAME_MAX) {
        *why = "oversize frame";
        return -1;
    }
    out->id = data [0];
    int rc = -1;
    //  Decoding checks every length against the frame and every field
    //  against its limit; the decoded structs borrow from data, no copy.
    switch (out->id) {
        case IRH_MSG_PEER_MANIFEST_WANT: {
            irh_peer_manifest_want_t msg;
            out->kind = GOSSIP_WIRE_REQUEST;
            rc = irh_peer_manifest_want_decode_buf (data, size, &msg);
            break;
        }
        case IRH_MSG_PEER_READ_WANT: {
            irh_peer_read_want_t msg;
            out->kind = GOSSIP_WIRE_REQUEST;
            rc = irh_peer_read_want_decode_buf (data, size, &msg);
            break;
        }
        case IRH_MSG_PEER_DIGEST_WANT: {
            irh_peer_digest_want_t msg;
            out->kind = GOSSIP_WIRE_REQUEST;
            rc = irh_peer_digest_want_decode_buf (data, size, &msg);
            break;
        }
        case IRH_MSG_PEER_DIGESTS_WANT: {
            irh_peer_digests_want_t msg;
            out->kind = GOSSIP_WIRE_REQUEST;
            rc = irh_peer_digests_want_decode_buf (data, size, &msg);
            break;
        }
        case IRH_MSG_PEER_CLAIM_WANT: {
            irh_peer_claim_want_t msg;
            out->kind = GOSSIP_WIRE_REQUEST;
            rc = irh_peer_claim_want_decode_buf (data, size, &msg);
            break;
        }
        case IRH_MSG_PEER_CLAIM: {
            irh_peer_claim_t msg;
            out->kind = GOSSIP_WIRE_ANSWER;
            rc = irh_peer_claim_decode_buf (data, size, &msg);
            out->req = rc == 0 ? msg.req : 0;
            break;
        }
        case IRH_MSG_PEER_MANIFEST: {
            irh_peer_manifest_t msg;
            out->kind = GOSSIP_WIRE_ANSWER;
            rc = irh_peer_manifest_decode_buf (data, size, &msg);
            out->req = rc == 0 ? msg.req : 0;
            break;
        }
        case IRH_MSG_PEER_READ: {
            irh_peer_read_t msg;
            out->kind = GOSSIP_WIRE_ANSWER;
            rc = irh_peer_read_decode_buf (data, size, &msg);
            out->req = rc == 0 ? msg.req : 0;
            break;
        }
        case IRH_MSG_PEER_DIGEST_FULL: {
            irh_peer_digest_full_t msg;
            out->kind = GOSSIP_WIRE_PUSH;
            rc = irh_peer_digest_full_decode_buf (data, size, &msg);
            break;
        }
        case IRH_MSG_PEER_DIGEST_DELTA: {
            irh_peer_digest_delta_t msg;
            out->kind = GOSSIP_WIRE_PUSH;
            rc = irh_peer_digest_delta_decode_buf (data, size, &msg);
            break;
        }
        default:
            *why = "not a data-plane message";
            out->kind = 0;
            return -1;
    }
    if (rc != 0) {
        *why = "malformed message";
        out->kind = 0;
        return -1;
    }
    return 0;
}

int
gossip_wire_read_check (const irh_peer_read_want_t *want, uint64_t total, uint32_t *length)
{
    *length = 0;
    if (want->what > 1 || want->length == 0 || want->length > IRH_XFER_READ_MAX)
        return 3;
    uint64_t align = want->what == 0 ? IRH_XFER_GROUP : 32;
    if (want->offset % align != 0 || want->offset >= total)
        return 3;
    uint64_t left = total - want->offset;
    *length = left < want->length ? (uint32_t) left : want->length;
    return 0;
}

uint64_t
gossip_wire_estimate (uint64_t set, uint32_t nbits, uint8_t k)
{
    if (nbits == 0 || k == 0 || set == 0)
        return 0;
    double m = (double) nbits;
    double x = set >= nbits ? m - 1 : (double) set;
    double n = -(m / k) * log (1.0 - x / m);
    return n > 0 ? (uint64_t) (n + 0.5) : 0;
}

int
gossip_wire_data_endpoint (const char *address, char *out, size_t size)
{
    if (!address || strncmp (address, "tcp://", 6) != 0)
        return -1;
    const char *colon = strrchr (address + 6, ':');
    if (!colon || colon == address + 6)
        return -1;
    char *end = NULL;
    long port = strtol (colon + 1, &end, 10);
    if (!end || *end || end == colon + 1 || port < 1 || port + IRH_XFER_PORT_OFFSET > 65535)
        return -1;
    int written = snprintf (out, size, "%.*s:%ld", (int) (colon - address), address,
                            port + IRH_XFER_PORT_OFFSET);
    return written > 0 && (size_t) written < size ? 0 : -1;
}
