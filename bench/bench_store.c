/*  bench_store.c: the store's put+get round trip through the broker, and
    its anchor, a bare ZeroMQ DEALER<->ROUTER echo of the same bytes over
    ipc, so bench/run.py can report one as a ratio of the other.

    usage: irohds-bench-store echo IPC_PATH SIZE ITERS
           irohds-bench-store store ENDPOINT SIZE ITERS
           irohds-bench-store staged ENDPOINT HOME SIZE ITERS

    "store" sends content as a frame and gets it back as a frame; "staged"
    is what the Python client does past the inline threshold: write the
    content to <home>/run/staging/, put it by path (the store hashes it and
    renames it into place), get the path back, map the file and verify
    its BLAKE3 on the client side.
    prints: median and best seconds per round trip (put+get for the store).

    Every store round uses fresh content (the first bytes carry a counter
    and a per-run nonce), so deduplication never turns a put into a no-op. */
#include "irh_client.h"
#include "bench_util.h"
#include "irh_hash.h"
#include "irh_msgs.h"
#include <zmq.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
s_report (double *times, int iters)
{
    double median, best;
    bench_summary (times, iters, &median, &best);
    printf ("%.9f %.9f\n", median, best);
}

//  Echo server (in its own process, see s_echo): a ROUTER that sends every
//  message straight back, until a STOP message (echoed too).
static void
s_echo_server (void *router)
{
    while (true) {
        zmq_msg_t id, body;
        zmq_msg_init (&id);
        zmq_msg_init (&body);
        if (zmq_msg_recv (&id, router, 0) < 0)
            break;
        if (zmq_msg_recv (&body, router, 0) < 0)
            break;
        bool stop = zmq_msg_size (&body) == 4 && memcmp (zmq_msg_data (&body), "STOP", 4) == 0;
        zmq_msg_send (&id, router, ZMQ_SNDMORE);
        zmq_msg_send (&body, router, 0);
        if (stop)
            break;
    }
}

//  The echo server runs in its own process, like the store: a hop between
//  processes (and their wake-ups) is what the store path pays, so that is
//  what the anchor must pay too. Forked before any ZeroMQ context exists.
static int
s_echo (const char *path, size_t size, int iters, double *times)
{
    char endpoint [256];
    snprintf (endpoint, sizeof (endpoint), "ipc://%s", path);
    int ready [2];
    if (pipe (ready))
        return -1;
    pid_t server = fork ();
    if (server == 0) {
        close (ready [0]);
        void *ctx = zmq_ctx_new ();
        void *router = zmq_socket (ctx, ZMQ_ROUTER);
        int rc = zmq_bind (router, endpoint);
        if (write (ready [1], rc ? "E" : "K", 1) != 1 || rc)
            _exit (1);
        s_echo_server (router);
        zmq_close (router);
        zmq_ctx_term (ctx);
        _exit (0);
    }
    close (ready [1]);
    char status = 'E';
    if (server < 0 || read (ready [0], &status, 1) != 1 || status != 'K') {
        fprintf (stderr, "echo: cannot start the server on %s\n", endpoint);
        return -1;
    }
    close (ready [0]);
    void *ctx = zmq_ctx_new ();
    void *dealer = zmq_socket (ctx, ZMQ_DEALER);
    if (zmq_connect (dealer, endpoint)) {
        fprintf (stderr, "echo: %s: %s\n", endpoint, zmq_strerror (zmq_errno ()));
        return -1;
    }
    uint8_t *data = malloc (size);
    memset (data, 0x5a, size);
    int rc = 0;
    for (int i = 0; i < iters && rc == 0; i++) {
        memcpy (data, &i, sizeof (i) < size ? sizeof (i) : size);
        double start = bench_now ();
        zmq_send (dealer, data, size, 0);
        zmq_msg_t reply;
        zmq_msg_init (&reply);
        zmq_msg_recv (&reply, dealer, 0);
        times [i] = bench_now () - start;
        if (zmq_msg_size (&reply) != size) {
            fprintf (stderr, "echo: short reply\n");
            rc = -1;
        }
        zmq_msg_close (&reply);
    }
    zmq_send (dealer, "STOP", 4, 0);
    zmq_msg_t last;
    zmq_msg_init (&last);
    zmq_msg_recv (&last, dealer, 0);
    zmq_msg_close (&last);
    int wstatus;
    waitpid (server, &wstatus, 0);
    free (data);
    zmq_close (dealer);
    zmq_ctx_term (ctx);
    return rc;
}

//  One store request: the encoded message frame, then extra content if
//  given. Returns the reply body, or NULL (reason printed).
static zmsg_t *
s_store_call (irh_client_t *client, const char *what, zframe_t *message,
              const void *content, size_t size)
{
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &message);
    if (content)
        zmsg_addmem (body, content, size);
    zmsg_t *reply = NULL;
    if (irh_client_call (client, "store", &body, 60000, &reply)) {
        fprintf (stderr, "%s: %s: %s\n", what, irh_client_error_code (client),
                 irh_client_error_text (client));
        return NULL;
    }
    return reply;
}

//  A get request for key; want_path asks for the blob file's path.
static zframe_t *
s_get_frame (const uint8_t *key, bool want_path)
{
    irh_get_t get;
    memset (&get, 0, sizeof (get));
    memcpy (get.key, key, 32);
    get.want_path = want_path;
    return irh_get_encode (&get);
}

//  Make round i's content unique (so deduplication never skips a put) and
//  fill a put for it under a key derived from the same stamp.
static void
s_fresh_put (uint8_t *data, size_t size, uint64_t nonce, int i, const char *fn,
             irh_put_t *put)
{
    uint64_t stamp [2] = { nonce, (uint64_t) i };
    memcpy (data, stamp, sizeof (stamp) < size ? sizeof (stamp) : size);
    memset (put, 0, sizeof (*put));
    irh_blake3 (stamp, sizeof (stamp), put->key);
    snprintf (put->codec, sizeof (put->codec), "raw");
    snprintf (put->fn, sizeof (put->fn), "%s", fn);
    put->result_bytes = size;
}

static int
s_store (const char *endpoint, size_t size, int iters, double *times)
{
    irh_client_t *client = irh_client_new (endpoint);
    if (!client)
        return -1;
    uint8_t *data = malloc (size);
    memset (data, 0xa5, size);
    uint64_t nonce = (uint64_t) time (NULL) ^ ((uint64_t) getpid () << 32);
    for (int i = 0; i < iters; i++) {
        irh_put_t put;
        s_fresh_put (data, size, nonce, i, "bench.store", &put);

        double start = bench_now ();
        zmsg_t *reply = s_store_call (client, "put", irh_put_encode (&put), data, size);
        if (!reply)
            return -1;
        zmsg_destroy (&reply);
        reply = s_store_call (client, "get", s_get_frame (put.key, false), NULL, 0);
        if (!reply)
            return -1;
        times [i] = bench_now () - start;
        zframe_t *first = zmsg_first (reply);
        zframe_t *content = zmsg_last (reply);
        if (irh_msgs_id (first) != IRH_MSG_HIT || zmsg_size (reply) != 3
        ||  zframe_size (content) != size || memcmp (zframe_data (content), data, size)) {
            fprintf (stderr, "get: unexpected reply (%s, %zu frames)\n",
                     irh_msgs_name (irh_msgs_id (first)), zmsg_size (reply));
            return -1;
        }
        zmsg_destroy (&reply);
    }
    free (data);
    irh_client_destroy (&client);
    return 0;
}

static int
s_write_file (const char *path, const uint8_t *data, size_t size)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write (fd, data + done, size - done);
        if (n <= 0) {
            close (fd);
            return -1;
        }
        done += (size_t) n;
    }
    return close (fd);
}

static int
s_staged (const char *endpoint, const char *home, size_t size, int iters, double *times)
{
    irh_client_t *client = irh_client_new (endpoint);
    if (!client)
        return -1;
    uint8_t *data = malloc (size);
    memset (data, 0xc3, size);
    uint64_t nonce = (uint64_t) time (NULL) ^ ((uint64_t) getpid () << 32);
    for (int i = 0; i < iters; i++) {
        irh_put_t put;
        s_fresh_put (data, size, nonce, i, "bench.staged", &put);
        put.src = 1;
        snprintf (put.path, sizeof (put.path), "%s/run/staging/bench-%d-%d", home,
                  (int) getpid (), i);

        double start = bench_now ();
        if (s_write_file (put.path, data, size)) {
            perror (put.path);
            return -1;
        }
        zmsg_t *reply = s_store_call (client, "put", irh_put_encode (&put), NULL, 0);
        if (!reply)
            return -1;
        irh_put_ok_t ok;
        if (irh_put_ok_decode (zmsg_first (reply), &ok)) {
            fprintf (stderr, "put: bad reply\n");
            return -1;
        }
        zmsg_destroy (&reply);

        reply = s_store_call (client, "get", s_get_frame (put.key, true), NULL, 0);
        if (!reply)
            return -1;
        irh_hit_t hit;
        if (irh_hit_decode (zmsg_first (reply), &hit) || !hit.path [0]) {
            fprintf (stderr, "get: expected a hit with a path\n");
            return -1;
        }
        int fd = open (hit.path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat (fd, &st) || (size_t) st.st_size != size) {
            fprintf (stderr, "get: %s: bad file\n", hit.path);
            return -1;
        }
        uint8_t *map = mmap (NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        close (fd);
        uint8_t hash [IRH_HASH_SIZE];
        irh_blake3 (map, size, hash);
        times [i] = bench_now () - start;
        if (!irh_hash_equal (hash, ok.blob) || memcmp (map, data, size)) {
            fprintf (stderr, "get: content does not verify\n");
            return -1;
        }
        munmap (map, size);
        zmsg_destroy (&reply);
    }
    free (data);
    irh_client_destroy (&client);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc == 6 && streq (argv [1], "staged")) {
        size_t size = strtoull (argv [4], NULL, 10);
        int iters = atoi (argv [5]);
        if (size == 0 || iters < 1 || iters > 1000000) {
            fprintf (stderr, "irohds-bench-store: bad SIZE or ITERS\n");
            return 2;
        }
        double *times = calloc ((size_t) iters, sizeof (double));
        int rc = s_staged (argv [2], argv [3], size, iters, times);
        if (rc == 0)
            s_report (times, iters);
        free (times);
        return rc ? 1 : 0;
    }

    if (argc != 5 || (strcmp (argv [1], "echo") && strcmp (argv [1], "store"))) {
        fprintf (stderr, "usage: irohds-bench-store echo IPC_PATH SIZE ITERS\n"
                         "       irohds-bench-store store ENDPOINT SIZE ITERS\n"
                         "       irohds-bench-store staged ENDPOINT HOME SIZE ITERS\n");
        return 2;
    }
    size_t size = strtoull (argv [3], NULL, 10);
    int iters = atoi (argv [4]);
    if (size == 0 || iters < 1 || iters > 1000000) {
        fprintf (stderr, "irohds-bench-store: bad SIZE or ITERS\n");
        return 2;
    }
    double *times = calloc ((size_t) iters, sizeof (double));
    int rc = streq (argv [1], "echo") ? s_echo (argv [2], size, iters, times)
                                      : s_store (argv [2], size, iters, times);
    if (rc == 0)
        s_report (times, iters);
    free (times);
    return rc ? 1 : 0;
}
