/*  irh_client.h: the client side of the broker protocol, for irohds-ctl,
    tests and benchmarks (the Python client speaks the same envelope with
    pyzmq). Synchronous call with a timeout, plus send/recv for pipelining.
*/
#ifndef IRH_CLIENT_H_INCLUDED
#define IRH_CLIENT_H_INCLUDED
#include <czmq.h>
#include <stdbool.h>

typedef struct _irh_client_t irh_client_t;

//  Connect a DEALER to endpoint (broker, or a standalone actor's --bind).
irh_client_t *irh_client_new (const char *endpoint);
void irh_client_destroy (irh_client_t **self_p);
//  Send a request; body is taken. Returns 0/-1. *rid_out (if given) gets
//  the generated request id (valid until the next send).
int irh_client_send (irh_client_t *self, const char *service, zmsg_t **body_p,
                     const char **rid_out);
//  Receive the reply for rid (replies for other rids are buffered), waiting
//  at most timeout_ms. 0 = OK and *reply_p holds the body frames;
//  -1 = ERR, timeout or malformed reply: see irh_client_error_*.
int irh_client_recv (irh_client_t *self, const char *rid, int timeout_ms, zmsg_t **reply_p);
//  recv without waiting, for event loops (the socket is readable): reads
//  what arrived; 1 while rid's reply is still to come (rid stays
//  outstanding), else 0 or -1 as irh_client_recv. Abandon a request with
//  irh_client_recv (self, rid, 0, NULL).
int irh_client_try_recv (irh_client_t *self, const char *rid, zmsg_t **reply_p);
//  send + recv.
int irh_client_call (irh_client_t *self, const char *service, zmsg_t **body_p,
                     int timeout_ms, zmsg_t **reply_p);
//  Why the last call failed: code per proto/README.md ("timeout" when no
//  answer came) and a one-line text.
const char *irh_client_error_code (irh_client_t *self);
const char *irh_client_error_text (irh_client_t *self);
zsock_t *irh_client_sock (irh_client_t *self);
void irh_client_test (bool verbose);

#endif
