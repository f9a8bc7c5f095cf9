/*  trust.h: the trust zones of the broker (docs/security.md).

    The supervisor tells the broker, for every actor process it starts,
    which row of the actor table it is, its pid, a fresh registration token
    and the (service, command) pairs the row may call. With that:

    - a worker may register a service only with the token of a running row
      for that service, sent from that row's process (the kernel-checked
      peer pid of an ipc:// connection, when there is one);
    - a request whose peer pid is a started actor's may only call what that
      actor's row lists; any other process is a local client and keeps full
      access (the 0700 home is its guard).

    Kept apart from broker.c, which routes; this only decides.
*/
#ifndef TRUST_H_INCLUDED
#define TRUST_H_INCLUDED
#include "irh_envelope.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _trust_t trust_t;

//  Any command of a service ("store/*").
#define TRUST_ANY_COMMAND   -1
//  Calls one actor row may list.
#define TRUST_CALLS_MAX     32

//  One (service, command) pair an actor may call; command is the message
//  id of the request's first body frame, or TRUST_ANY_COMMAND.
typedef struct {
    char service [IRH_SERVICE_MAX + 1];
    int command;
} trust_call_t;

//  Parse a policy text, pairs "service/command" separated by spaces or
//  '+' (command: a message name from proto/*.def, or '*'). Fills calls
//  (at most TRUST_CALLS_MAX) and *count. Returns 0, or -1 with a one-line
//  reason in error.
int trust_calls_parse (const char *text, trust_call_t *calls, size_t *count,
                       char *error, size_t error_size);

trust_t *trust_new (void);
void trust_destroy (trust_t **self_p);
//  Actor row name now runs as pid with token (IRH_TOKEN_SIZE hex chars),
//  registers service and may call calls[0..count). Replaces what the row
//  had before (the token of an earlier process is void from now on).
void trust_set (trust_t *self, const char *name, const char *service, uint32_t pid,
                const char *token, const trust_call_t *calls, size_t count);
//  The process pid is gone: its row's token is void, its pid nobody's.
void trust_forget_pid (trust_t *self, uint32_t pid);
//  May a READY for service, declaring pid, from a connection whose peer
//  pid is peer_pid (0: unknown, not ipc://), carrying token (size 0: none),
//  register? 0 yes; -1 no, with the reason in why.
int trust_register_check (trust_t *self, const char *service, uint32_t pid,
                          uint32_t peer_pid, const irh_frame_view_t *token,
                          char *why, size_t why_size);
//  A caller that descends from the daemon but from no actor (an orphan of
//  a process an actor forked, reparented to the daemon as subreaper), or
//  whose ancestry cannot be read: it may call nothing.
#define TRUST_STRANGER      UINT32_MAX
//  Who the process peer_pid (the kernel's pid of a connection, not 0) is
//  for trust_call_check: the pid of the actor row it is or descends from
//  (a process an actor forks stays in the actor's zone), TRUST_STRANGER
//  (above), or 0 for a local client. Walks /proc/PID/stat up to pid 1 or
//  root_pid (the daemon's own pid): cache the answer per connection.
uint32_t trust_caller (trust_t *self, uint32_t peer_pid, uint32_t root_pid);
//  May caller (from trust_caller; 0 = local client) call command of
//  service? 0 yes; -1 no, with the reason in why. A caller that is no
//  running row's pid any more (its actor exited) may call nothing.
int trust_call_check (trust_t *self, uint32_t caller, const char *service, int command,
                      char *why, size_t why_size);
void trust_test (bool verbose);

#endif
