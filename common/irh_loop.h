/*  irh_loop.h: the one event loop every actor runs (on CZMQ's zloop).

    An actor makes its irh_worker, hands it to irh_loop_new with a request
    handler, adds what else it waits for, and calls irh_loop_run:

      - the worker's socket: requests come out one by one to the handler,
        which owns each (reply now, or keep it and reply later); broker
        heartbeats, READY again after a broker restart and malformed
        traffic are dealt with inside (irh_worker_tick, irh_worker_recv);
      - extra readers: any zsock_t or zactor_t (a CURVE ROUTER, a zbeacon
        pipe, a measuring thread), or a raw file descriptor;
      - timers: fixed delay, a number of times or forever; and tickers,
        periodic work whose next call time the work itself decides (it
        returns ms until it wants calling again); tickers are also called
        after each dispatched batch of input, which may have brought
        nearer work (a short wait, a held request);
      - SIGTERM/SIGINT: the request in hand is finished, then run returns
        0. CZMQ's handler is relied on (zsys_interrupted); an actor must
        not disable it with zsys_handler_set (NULL).

    Every handler returns 0 to go on or -1 to stop the loop (run returns 0).
    Handlers may add and end readers and timers, their own included.
    Modules written against zloop itself (gossip's links) get the zloop
    with irh_loop_zloop and register their sockets on it directly.
*/
#ifndef IRH_LOOP_H_INCLUDED
#define IRH_LOOP_H_INCLUDED
#include <czmq.h>
#include "irh_worker.h"

typedef struct _irh_loop_t irh_loop_t;

//  A request from the worker (taken: the handler must reply or keep it).
typedef int (irh_loop_request_fn) (irh_loop_t *loop, irh_request_t *request, void *arg);
//  An extra socket (or actor) has input.
typedef int (irh_loop_reader_fn) (irh_loop_t *loop, zsock_t *sock, void *arg);
//  An extra file descriptor is readable (or has an error to collect).
typedef int (irh_loop_fd_fn) (irh_loop_t *loop, int fd, void *arg);
//  A timer is due.
typedef int (irh_loop_timer_fn) (irh_loop_t *loop, int timer_id, void *arg);
//  Periodic work: returns ms until it wants calling again (0 = as soon as
//  possible), or -1 to stop the loop.
typedef int (irh_loop_tick_fn) (irh_loop_t *loop, void *arg);

//  worker stays owned by the caller and must outlive the loop. Returns
//  NULL (logged) if the loop's own resources cannot be made.
irh_loop_t *irh_loop_new (irh_worker_t *worker, irh_loop_request_fn *handler, void *arg);
//  Ends every reader and timer; sockets and pending requests stay the
//  caller's.
void irh_loop_destroy (irh_loop_t **self_p);
//  Poll sock (a zsock_t or zactor_t) for input. Returns 0, or -1.
int irh_loop_reader (irh_loop_t *self, void *sock, irh_loop_reader_fn *handler, void *arg);
//  Stop polling sock (every handler registered for it). Safe from the
//  handler itself, and before the socket is destroyed.
void irh_loop_reader_end (irh_loop_t *self, void *sock);
//  Poll a file descriptor for input. Returns 0, or -1.
int irh_loop_fd (irh_loop_t *self, int fd, irh_loop_fd_fn *handler, void *arg);
void irh_loop_fd_end (irh_loop_t *self, int fd);
//  Call handler every delay ms, times times (0 = until ended). Returns a
//  timer id (> 0) for irh_loop_timer_end.
int irh_loop_timer (irh_loop_t *self, size_t delay, size_t times,
                    irh_loop_timer_fn *handler, void *arg);
//  A timer ended never fires again, even if it was due in the same pass.
//  Returns 0, or -1 if there is no such timer (already ended or spent).
int irh_loop_timer_end (irh_loop_t *self, int timer_id);
//  Add periodic work, first called as soon as the loop runs. Returns 0.
int irh_loop_ticker (irh_loop_t *self, irh_loop_tick_fn *handler, void *arg);
//  Run until a handler returns -1 or SIGTERM/SIGINT arrives: 0. -1 if the
//  loop itself failed (logged).
int irh_loop_run (irh_loop_t *self);
//  The zloop underneath, for modules that register their own readers
//  (gossip's links). Use irh_loop timers, not zloop timers: after run
//  restarted zloop (a stray EINTR), CZMQ 4.2.1 frees an ended zloop timer
//  in place, under a timer handler's feet.
zloop_t *irh_loop_zloop (irh_loop_t *self);
irh_worker_t *irh_loop_worker (irh_loop_t *self);
void irh_loop_test (bool verbose);

#endif
