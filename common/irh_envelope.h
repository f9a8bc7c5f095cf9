/*  irh_envelope.h: constants and the pure decoder of the broker envelope
    (proto/README.md §1), shared by the broker, irh_worker and irh_client.

    The decoder works on plain (pointer, size) frame views, with no socket
    involved, so the broker, the libraries and the fuzz target all run the
    same checks on outside input.
*/
#ifndef IRH_ENVELOPE_H_INCLUDED
#define IRH_ENVELOPE_H_INCLUDED
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "irh_msgs.h"

//  The wire constants (IRH_PROTO_CLIENT / _WORKER, the worker commands
//  IRH_CMD_*, IRH_STATUS_OK / _ERR, IRH_SERVICE_MAX, IRH_RID_MAX,
//  IRH_MESSAGE_MAX, IRH_TOKEN_SIZE, IRH_HEARTBEAT_MS and _LIVENESS) are
//  defined once, in proto/envelope.def, and come from irh_msgs.h. A peer
//  silent for IRH_HEARTBEAT_LIVENESS intervals is dead.

//  Limits of this implementation, not of the wire.
#define IRH_ROUTING_ID_MAX      255
#define IRH_FRAMES_MAX          4096        //  frames in one message
#define IRH_QUEUE_MAX           10000       //  requests queued per service
#define IRH_QUEUE_WAIT_MS       2000        //  wait for a restarting actor
#define IRH_ERROR_TEXT_MAX      512

typedef struct {
    const uint8_t *data;
    size_t size;
} irh_frame_view_t;

typedef enum {
    IRH_ENV_INVALID = 0,
    IRH_ENV_CLIENT_REQUEST,     //  IRC1 service rid body...
    IRH_ENV_CLIENT_REPLY,       //  IRC1 service rid status ...
    IRH_ENV_WORKER              //  IRW1 cmd ...
} irh_env_kind_t;

typedef struct {
    irh_env_kind_t kind;
    int command;                //  IRW1 command byte
    irh_frame_view_t service;   //  client request/reply, READY
    irh_frame_view_t rid;       //  client request/reply, REQUEST, REPLY (size 0 if unreadable)
    irh_frame_view_t client;    //  REQUEST, REPLY: client routing id
    bool status_ok;             //  client reply, REPLY
    uint32_t pid;               //  READY
    irh_frame_view_t token;     //  READY: registration token (size 0 if none)
    irh_frame_view_t text;      //  REFUSED: why
    size_t body;                //  index of the first body frame (status frame excluded)
    size_t frames;              //  frame count
    uint64_t bytes;             //  total bytes of all frames
    const char *error_code;     //  on failure: "malformed", "version", "too-big"
    char error_text [128];
} irh_envelope_t;

//  Decode the frames of one message as they arrive at a broker or a
//  standalone actor (routing id already removed): a client request or any
//  worker command. max_bytes is the size limit (0 = IRH_MESSAGE_MAX).
//  Returns 0, or -1 with env->error_code/error_text set; env->rid and
//  env->service are still filled when they could be read, so the caller
//  can address an error reply.
int irh_envelope_decode (const irh_frame_view_t *frames, size_t count, uint64_t max_bytes,
                         irh_envelope_t *env);
//  Decode a reply as a client sees it (IRC1 service rid status ...).
int irh_envelope_decode_reply (const irh_frame_view_t *frames, size_t count,
                               irh_envelope_t *env);
//  The process id of the peer that sent a message, from the ZeroMQ
//  "Peer-Address" property (libzmq appends ":uid:gid:pid" from
//  SO_PEERCRED on ipc:// connections). 0 if address is NULL or has none.
uint32_t irh_envelope_peer_pid (const char *address);
//  The parent pid from the text of /proc/PID/stat ("pid (comm) state ppid
//  ..."; comm is the process's own choice, may hold spaces and parens).
//  -1 if the text does not parse (0 is a real answer: a parent outside
//  our pid namespace).
int64_t irh_envelope_stat_ppid (const char *text, size_t size);
//  True if service is 1..32 bytes of [a-z0-9_.-].
bool irh_envelope_service_valid (const uint8_t *data, size_t size);
//  Fill views from the first capacity frames of msg (frames stay owned by
//  msg). Returns the number of views filled; frames past capacity are not
//  looked at (a caller that must refuse them compares zmsg_size).
size_t irh_envelope_views (zmsg_t *msg, irh_frame_view_t *views, size_t capacity);
//  Append an IRC1 error reply to msg: IRC1 service rid ERR code text. An
//  unreadable rid (size 0) goes out as "?", so the client still sees a reply.
void irh_envelope_add_error (zmsg_t *msg, const irh_frame_view_t *service,
                             const irh_frame_view_t *rid, const char *code, const char *text);
void irh_envelope_test (bool verbose);

#endif
