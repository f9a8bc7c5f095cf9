/*  irh_worker.h: the actor side of the broker protocol (proto/README.md §1).

    An actor creates one worker for its service, polls irh_worker_sock ()
    together with its other sockets, and calls irh_worker_recv () when it is
    readable. Heartbeats, READY, reconnects after a broker restart and
    DISCONNECT are handled inside; only requests come out. Requests may be
    kept and answered later, in any order (asynchronous worker).

    Standalone mode (bind != NULL): the worker binds a ROUTER and speaks
    the client envelope (IRC1) itself, so the actor runs without a broker.
*/
#ifndef IRH_WORKER_H_INCLUDED
#define IRH_WORKER_H_INCLUDED
#include <czmq.h>
#include <stdbool.h>
#include "irh_envelope.h"

typedef struct _irh_worker_t irh_worker_t;

typedef struct {
    zframe_t *client;      //  routing id of the client (opaque)
    zframe_t *rid;         //  request id chosen by the client
    zmsg_t *body;          //  frame 0: message of the service schema, then extras
} irh_request_t;

//  Exactly one of broker (connect, e.g. ipc://.../broker.ipc) and bind.
//  Returns NULL (logged) if the endpoint is invalid.
irh_worker_t *irh_worker_new (const char *service, const char *broker, const char *bind);
//  The registration token every READY of this process carries (at most
//  IRH_TOKEN_SIZE characters; NULL or "" for none). irh_actor_init sets it
//  from what the supervisor passed; call before irh_worker_new.
void irh_worker_set_token (const char *token);
void irh_worker_destroy (irh_worker_t **self_p);
//  Socket to poll for input.
zsock_t *irh_worker_sock (irh_worker_t *self);
//  Read one message; returns a request, or NULL when the message was
//  protocol traffic (heartbeat, ...) or malformed (counted). Never blocks
//  if the socket was readable.
irh_request_t *irh_worker_recv (irh_worker_t *self);
//  Call at least every IRH_HEARTBEAT_MS/4: sends heartbeats, notices a
//  silent broker and reconnects. Returns ms until it wants calling again.
int irh_worker_tick (irh_worker_t *self);
//  Reply OK with body (taken, may be NULL for no body frames).
int irh_worker_reply (irh_worker_t *self, irh_request_t *request, zmsg_t **body_p);
//  Reply ERR code + text.
int irh_worker_error (irh_worker_t *self, irh_request_t *request, const char *code,
                      const char *format, ...) __attribute__ ((format (printf, 4, 5)));
//  Counters (malformed input from the broker side, replies sent, ...).
uint64_t irh_worker_malformed (irh_worker_t *self);
//  True while the broker refuses our registration (REFUSED, not yet retried).
bool irh_worker_refused (irh_worker_t *self);
void irh_request_destroy (irh_request_t **self_p);
void irh_worker_test (bool verbose);

#endif
