/*  irh_loop_test.c: self-test of the actor loop (irh_loop.c) with a real
    standalone worker and a DEALER client over inproc: requests dispatch,
    timers fire the times asked and never once ended, tickers run at start,
    when due and after input, extra sockets and file descriptors dispatch
    and can be ended from their own handler, a handler's -1 ends run, and
    SIGTERM ends it after the request in hand. Kept apart from irh_loop.c
    to keep each file a readable size. */
#include "irh_loop.h"
#include <assert.h>
#include <signal.h>
#include <unistd.h>

#define S_ENDPOINT "inproc://irh-loop-test"

typedef struct {
    int requests;               //  requests answered
    int stop_after;             //  request handler returns -1 at this count (0: never)
    bool raise_term;            //  request handler raises SIGTERM after replying
    int repeat, forever, ended_by_peer, spent;
    int killer_id, victim_id;
    int ticks, ticks_stop;
    zsock_t *client;
    int sock_reads, fd_reads;
    int readies, heartbeats, replies;   //  seen by the fake broker
} s_test_t;

static int
s_on_request (irh_loop_t *loop, irh_request_t *request, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    zmsg_t *body = request->body;
    request->body = NULL;
    assert (irh_worker_reply (irh_loop_worker (loop), request, &body) == 0);
    irh_request_destroy (&request);
    test->requests++;
    if (test->raise_term)
        raise (SIGTERM);
    return test->stop_after && test->requests == test->stop_after ? -1 : 0;
}

static void
s_send (zsock_t *client, const char *rid)
{
    assert (zsock_send (client, "ssss", "IRC1", "echo", rid, rid) == 0);
}

//  Replies for count requests, in any order.
static void
s_expect_replies (zsock_t *client, int count)
{
    zpoller_t *poller = zpoller_new (client, NULL);
    for (int index = 0; index < count; index++) {
        assert (zpoller_wait (poller, 2000) == client);
        zmsg_t *reply = zmsg_recv (client);
        assert (reply && zmsg_size (reply) == 5);
        zmsg_destroy (&reply);
    }
    zpoller_destroy (&poller);
}

static int
s_on_repeat (irh_loop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    ((s_test_t *) arg)->repeat++;
    return 0;
}

//  Forever, until the 3-times timer is spent and it ran 5 times itself.
static int
s_on_forever (irh_loop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_test_t *test = (s_test_t *) arg;
    test->forever++;
    return test->repeat == 3 && test->forever >= 5 ? -1 : 0;
}

static int
s_on_never (irh_loop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id; (void) arg;
    assert (!"an ended timer fired");
    return -1;
}

//  Ends the victim, due at the same time or just after it.
static int
s_on_killer (irh_loop_t *loop, int timer_id, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    assert (timer_id == test->killer_id);
    assert (irh_loop_timer_end (loop, test->victim_id) == 0);
    assert (irh_loop_timer_end (loop, test->victim_id) == -1);
    //  And itself: a forever timer that never comes back.
    assert (irh_loop_timer_end (loop, timer_id) == 0);
    test->ended_by_peer++;
    return 0;
}

static int
s_on_stop (irh_loop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id; (void) arg;
    return -1;
}

//  Made by a timer: counts, and the stop timer ends the run.
static int
s_on_spent (irh_loop_t *loop, int timer_id, void *arg)
{
    (void) timer_id;
    s_test_t *test = (s_test_t *) arg;
    if (test->spent++ == 0)
        //  A timer made in a handler works like any other.
        assert (irh_loop_timer (loop, 1, 1, s_on_spent, arg) > 0);
    return 0;
}

//  A request that arrives while the loop runs.
static int
s_on_send (irh_loop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    s_send (((s_test_t *) arg)->client, "t");
    return 0;
}

static int
s_on_tick (irh_loop_t *loop, void *arg)
{
    (void) loop;
    ((s_test_t *) arg)->ticks++;
    return 60000;                   //  only at start and after input
}

static int
s_on_tick_stop (irh_loop_t *loop, void *arg)
{
    (void) loop;
    s_test_t *test = (s_test_t *) arg;
    return ++test->ticks_stop == 3 ? -1 : 5;
}

static int
s_on_sock (irh_loop_t *loop, zsock_t *sock, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    char *text = zstr_recv (sock);
    assert (text && streq (text, "hello"));
    zstr_free (&text);
    test->sock_reads++;
    irh_loop_reader_end (loop, sock);      //  its own reader, from inside
    return 0;
}

static int
s_on_fd (irh_loop_t *loop, int fd, void *arg)
{
    (void) loop;
    s_test_t *test = (s_test_t *) arg;
    char byte;
    assert (read (fd, &byte, 1) == 1 && byte == 'x');
    test->fd_reads++;
    return -1;
}

//  A fake broker (ROUTER) polled by the same loop: counts what the worker
//  sends and, on its first READY, hands it one request.
static int
s_on_broker (irh_loop_t *loop, zsock_t *broker, void *arg)
{
    (void) loop;
    s_test_t *test = (s_test_t *) arg;
    zmsg_t *msg = zmsg_recv (broker);
    assert (msg && zmsg_size (msg) >= 3);
    zframe_t *identity = zmsg_pop (msg);
    char *proto = zmsg_popstr (msg);
    assert (streq (proto, "IRW1"));
    zstr_free (&proto);
    zframe_t *command = zmsg_pop (msg);
    assert (zframe_size (command) == 1);
    uint8_t cmd = zframe_data (command) [0];
    if (cmd == IRH_CMD_READY && test->readies++ == 0) {
        uint8_t request = IRH_CMD_REQUEST;
        zmsg_t *out = zmsg_new ();
        zmsg_append (out, &(zframe_t *) { zframe_dup (identity) });
        zmsg_addstr (out, "IRW1");
        zmsg_addmem (out, &request, 1);
        zmsg_addstr (out, "CLIENT");
        zmsg_addstr (out, "rid");
        zmsg_addstr (out, "body");
        assert (zmsg_send (&out, broker) == 0);
    }
    else
    if (cmd == IRH_CMD_HEARTBEAT)
        test->heartbeats++;
    else
    if (cmd == IRH_CMD_REPLY)
        test->replies++;
    zframe_destroy (&command);
    zframe_destroy (&identity);
    zmsg_destroy (&msg);
    return 0;
}

void
irh_loop_test (bool verbose)
{
    if (verbose)
        printf (" * irh_loop: ");
    irh_worker_t *worker = irh_worker_new ("echo", NULL, S_ENDPOINT);
    assert (worker);
    zsock_t *client = zsock_new_dealer (">" S_ENDPOINT);
    assert (client);
    s_test_t test;
    memset (&test, 0, sizeof test);
    irh_loop_t *loop = irh_loop_new (worker, s_on_request, &test);
    assert (loop);
    assert (irh_loop_worker (loop) == worker);
    assert (irh_loop_zloop (loop));

    //  Requests dispatch; a request handler's -1 ends run
    test.stop_after = 3;
    for (int index = 0; index < 3; index++)
        s_send (client, "r");
    assert (irh_loop_run (loop) == 0);
    assert (test.requests == 3);
    s_expect_replies (client, 3);

    //  Timers: a number of times, forever, ended before and while due, and
    //  one made by a handler. Tickers: at start and after input only.
    test.stop_after = 0;
    assert (irh_loop_timer (loop, 2, 3, s_on_repeat, &test) > 0);
    int forever = irh_loop_timer (loop, 5, 0, s_on_forever, &test);
    assert (forever > 0);
    int never = irh_loop_timer (loop, 1, 1, s_on_never, &test);
    assert (never > 0);
    assert (irh_loop_timer_end (loop, never) == 0);
    assert (irh_loop_timer_end (loop, never) == -1);
    test.killer_id = irh_loop_timer (loop, 3, 0, s_on_killer, &test);
    test.victim_id = irh_loop_timer (loop, 3, 0, s_on_never, &test);
    assert (test.killer_id > 0 && test.victim_id > test.killer_id);
    assert (irh_loop_timer (loop, 1, 1, s_on_spent, &test) > 0);
    assert (irh_loop_ticker (loop, s_on_tick, &test) == 0);
    test.client = client;
    assert (irh_loop_timer (loop, 10, 1, s_on_send, &test) > 0);
    assert (irh_loop_run (loop) == 0);
    assert (test.repeat == 3);
    assert (test.forever >= 5);
    assert (test.ended_by_peer == 1);
    assert (test.spent == 2);
    assert (test.requests == 4);
    //  Once at start, once after the request (due only in a minute).
    assert (test.ticks == 2);
    s_expect_replies (client, 1);
    assert (irh_loop_timer_end (loop, forever) == 0);

    //  A ticker's -1 ends run; it is called again at the time it asked
    assert (irh_loop_ticker (loop, s_on_tick_stop, &test) == 0);
    assert (irh_loop_run (loop) == 0);
    assert (test.ticks_stop == 3);
    irh_loop_destroy (&loop);
    assert (loop == NULL);

    //  Extra readers: a socket that ends itself after one message, a file
    //  descriptor whose handler stops the loop.
    loop = irh_loop_new (worker, s_on_request, &test);
    assert (loop);
    zsock_t *pair_out = zsock_new_pair ("@inproc://irh-loop-pair");
    zsock_t *pair_in = zsock_new_pair (">inproc://irh-loop-pair");
    assert (pair_out && pair_in);
    assert (irh_loop_reader (loop, pair_in, s_on_sock, &test) == 0);
    zstr_send (pair_out, "hello");
    zstr_send (pair_out, "hello");
    int pipe_fds [2];
    assert (pipe (pipe_fds) == 0);
    assert (irh_loop_fd (loop, pipe_fds [0], s_on_fd, &test) == 0);
    //  The pipe is written only once the socket had time to be read twice.
    assert (irh_loop_timer (loop, 50, 1, s_on_stop, &test) > 0);
    assert (irh_loop_run (loop) == 0);
    assert (test.sock_reads == 1 && test.fd_reads == 0);
    assert (write (pipe_fds [1], "x", 1) == 1);
    assert (irh_loop_run (loop) == 0);
    assert (test.sock_reads == 1 && test.fd_reads == 1);
    //  Ended: the next byte is not read
    irh_loop_fd_end (loop, pipe_fds [0]);
    assert (write (pipe_fds [1], "x", 1) == 1);
    assert (irh_loop_timer (loop, 20, 1, s_on_stop, &test) > 0);
    assert (irh_loop_run (loop) == 0);
    assert (test.fd_reads == 1);

    //  SIGTERM: the request in hand is answered, the next one waits
    test.raise_term = true;
    test.requests = 0;
    s_send (client, "s1");
    s_send (client, "s2");
    //  Both are queued before the loop looks.
    zclock_sleep (50);
    assert (irh_loop_run (loop) == 0);
    assert (zsys_interrupted);
    assert (test.requests == 1);
    zsys_interrupted = 0;
    zctx_interrupted = 0;
    test.raise_term = false;
    test.stop_after = 2;
    assert (irh_loop_run (loop) == 0);
    assert (test.requests == 2);
    s_expect_replies (client, 2);

    irh_loop_destroy (&loop);
    assert (loop == NULL);
    irh_loop_destroy (&loop);             //  twice is harmless

    //  Broker mode: the loop sends heartbeats, and registers again once
    //  the broker has been silent for IRH_HEARTBEAT_LIVENESS intervals.
    zsock_t *broker = zsock_new_router ("@inproc://irh-loop-broker");
    assert (broker);
    irh_worker_t *broker_worker = irh_worker_new ("echo", "inproc://irh-loop-broker", NULL);
    assert (broker_worker);
    memset (&test, 0, sizeof test);
    loop = irh_loop_new (broker_worker, s_on_request, &test);
    assert (loop);
    assert (irh_loop_reader (loop, broker, s_on_broker, &test) == 0);
    int silence = IRH_HEARTBEAT_MS * IRH_HEARTBEAT_LIVENESS;
    assert (irh_loop_timer (loop, silence + IRH_HEARTBEAT_MS, 1, s_on_stop, &test) > 0);
    assert (irh_loop_run (loop) == 0);
    assert (test.requests == 1 && test.replies == 1);
    assert (test.heartbeats >= IRH_HEARTBEAT_LIVENESS - 1);
    assert (test.readies == 2);
    irh_loop_destroy (&loop);
    irh_worker_destroy (&broker_worker);
    zsock_destroy (&broker);
    close (pipe_fds [0]);
    close (pipe_fds [1]);
    zsock_destroy (&pair_in);
    zsock_destroy (&pair_out);
    zsock_destroy (&client);
    irh_worker_destroy (&worker);
    if (verbose)
        printf ("OK\n");
}
