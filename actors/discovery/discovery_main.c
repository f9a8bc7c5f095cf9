/*  discovery_main.c: irohds-discovery, the actor behind service
    "discovery": how a node finds its first peers.

    usage: irohds-discovery [--home DIR] (--broker EP | --bind EP) [-v]
           irohds-discovery [--home DIR] --check-sandbox

    LAN: a zbeacon (UDP broadcast, port DISCOVERY_BEACON_PORT) sends
    exactly the peer_beacon of proto/peer.def (magic, version, node id,
    gossip port) every second and listens for others'. A valid beacon
    (size, magic, version, not our own) becomes a `gossip_join` through the
    broker with the sender's IP, port and node id. Off with IROHDS_LAN=0
    (wins) or discovery.lan = false: then no beacon socket exists at all.

    Bootstrap: every peers.bootstrap entry (tcp://HOST:PORT[#NODEID]) is
    joined, retried with backoff (1 s doubling to 60 s) until gossip holds
    that node (or, without #NODEID, a node at that address) alive. Without
    #NODEID gossip fetches the node id and pins it on first use. So is
    every peer named by a joined namespace's token (<home>/peers/
    ns_bootstrap, written by irohds-ctl ns join; docs/namespaces.md).

    Least privilege: discovery reads only the PUBLIC node id
    (identity/node.cert, never the secret), then enters the network-actor
    sandbox before any socket or thread exists: no access to identity/,
    store/ or blobs/ at all. --check-sandbox enters the same sandbox, tries
    what it must not be able to do, prints the outcome and exits (0: all
    refused).

    Every beacon is outside input: one that does not fit is dropped and
    counted (discovery_stats), never trusted. docs/peers.md.
*/
#include "gossip.h"
#include "irh_actor.h"
#include "irh_client.h"
#include "irh_file.h"
#include "irh_log.h"
#include "irh_msgs.h"
#include "irh_sandbox.h"
#include "irh_table.h"
#include "irh_worker.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#ifndef IROHDS_VERSION
#define IROHDS_VERSION "0.0.0"
#endif
#define DISCOVERY_BEACON_PORT 47461
#define S_BEACON_MAGIC     0x49524842u     //  "IRHB"
#define S_BEACON_MS        1000
#define S_REJOIN_MS        5000            //  one join per heard node per 5 s
#define S_BACKOFF_MIN_MS   1000
#define S_BACKOFF_MAX_MS   60000
#define S_CALL_MS          500             //  gossip answers at once; never block long
#define S_BOOTSTRAP_MAX    64

typedef struct {
    char address [65];
    char node_id [IRH_NODE_ID_HEX + 1];
    int64_t due_ms;
    int64_t backoff_ms;
    bool joined;
} s_bootstrap_t;

typedef struct {
    uint64_t beacons_sent, beacons_heard, bad_size, bad_decode, bad_magic, bad_version;
    uint64_t from_self, joins_asked, joins_failed, bootstrap_attempts, bootstrap_joined;
    uint64_t bootstrap_bad, bad_requests;
} s_counters_t;

typedef struct {
    irh_worker_t *worker;
    irh_client_t *client;           //  to the broker: gossip_join, gossip_peers
    zactor_t *beacon;               //  NULL when LAN discovery is off
    uint8_t id [IRH_KEY_BYTES];
    char node_id [IRH_NODE_ID_HEX + 1];
    int gossip_port;                //  0 until gossip told us
    zhashx_t *heard;                //  node id hex -> last join time (int64_t *)
    s_bootstrap_t bootstrap [S_BOOTSTRAP_MAX];
    size_t bootstraps;
    bool lan;
    int64_t started_ms;
    s_counters_t counters;
    irh_sandbox_status_t sandbox;
} s_discovery_t;

//  One call to service gossip; 0 with the reply body, else -1.
static int
s_call_gossip (s_discovery_t *self, zframe_t *frame, zmsg_t **reply_p)
{
    if (!self->client || !frame) {
        zframe_destroy (&frame);
        return -1;
    }
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    return irh_client_call (self->client, "gossip", &body, S_CALL_MS, reply_p);
}

static int
s_join (s_discovery_t *self, const char *address, const char *node_id)
{
    irh_gossip_join_t join;
    memset (&join, 0, sizeof join);
    snprintf (join.address, sizeof join.address, "%s", address);
    snprintf (join.node_id, sizeof join.node_id, "%s", node_id);
    zmsg_t *reply = NULL;
    self->counters.joins_asked++;
    int rc = s_call_gossip (self, irh_gossip_join_encode (&join), &reply);
    zmsg_destroy (&reply);
    if (rc != 0) {
        self->counters.joins_failed++;
        irh_debug ("join %s failed: %s", address,
                   self->client ? irh_client_error_text (self->client) : "no broker");
    }
    return rc;
}

//  The TCP port gossip listens on (row "port" of gossip_stats), 0 if
//  gossip does not answer yet.
static int
s_gossip_port (s_discovery_t *self)
{
    irh_gossip_stats_t request = { 0 };
    zmsg_t *reply = NULL;
    if (s_call_gossip (self, irh_gossip_stats_encode (&request), &reply) != 0)
        return 0;
    irh_table_t *table = irh_table_decode (reply);
    zmsg_destroy (&reply);
    int port = 0;
    for (size_t row = 0; table && row < irh_table_rows (table); row++) {
        const char *name = irh_table_cell (table, row, 0);
        const char *value = irh_table_cell (table, row, 1);
        if (name && value && streq (name, "port"))
            port = atoi (value);
    }
    irh_table_destroy (&table);
    return port > 0 && port <= 65535 ? port : 0;
}

//  ---------------------------------------------------------------------
//  LAN beacons

static void
s_beacon_start (s_discovery_t *self)
{
    self->beacon = zactor_new (zbeacon, NULL);
    if (!self->beacon) {
        irh_warn ("LAN discovery: cannot create the beacon");
        return;
    }
    zsock_send (self->beacon, "si", "CONFIGURE", DISCOVERY_BEACON_PORT);
    char *hostname = zstr_recv (self->beacon);
    if (!hostname || !*hostname) {
        irh_warn ("LAN discovery: no broadcast interface, beacons off");
        zstr_free (&hostname);
        zactor_destroy (&self->beacon);
        return;
    }
    irh_peer_beacon_t beacon;
    memset (&beacon, 0, sizeof beacon);
    beacon.magic = S_BEACON_MAGIC;
    beacon.version = SWIM_PROTOCOL_VERSION;
    memcpy (beacon.node_id, self->id, IRH_KEY_BYTES);
    beacon.port = (uint16_t) self->gossip_port;
    uint8_t buf [64];
    size_t size = irh_peer_beacon_encode_buf (&beacon, buf, sizeof buf);
    assert (size > 0);
    zsock_send (self->beacon, "sbi", "PUBLISH", buf, size, S_BEACON_MS);
    zsock_send (self->beacon, "sb", "SUBSCRIBE", "", 0);
    irh_info ("LAN discovery on %s (UDP %d), gossip port %d", hostname,
              DISCOVERY_BEACON_PORT, self->gossip_port);
    zstr_free (&hostname);
}

static void
s_beacon_heard (s_discovery_t *self)
{
    char *ip = zstr_recv (self->beacon);
    zframe_t *frame = ip ? zframe_recv (self->beacon) : NULL;
    self->counters.beacons_heard++;
    irh_peer_beacon_t beacon;
    irh_peer_beacon_t empty = { 0 };
    if (!frame || zframe_size (frame) != irh_peer_beacon_encoded_size (&empty))
        self->counters.bad_size++;
    else
    if (irh_peer_beacon_decode (frame, &beacon) != 0)
        self->counters.bad_decode++;
    else
    if (beacon.magic != S_BEACON_MAGIC)
        self->counters.bad_magic++;
    else
    if (beacon.version != SWIM_PROTOCOL_VERSION)
        self->counters.bad_version++;
    else
    if (memcmp (beacon.node_id, self->id, IRH_KEY_BYTES) == 0)
        self->counters.from_self++;
    else
    if (beacon.port == 0 || strlen (ip) > 45)
        self->counters.bad_decode++;
    else {
        char id [IRH_NODE_ID_HEX + 1];
        irh_identity_id_from_key (beacon.node_id, id);
        int64_t now = zclock_mono ();
        int64_t *last = (int64_t *) zhashx_lookup (self->heard, id);
        if (!last || now - *last >= S_REJOIN_MS) {
            if (!last) {
                if (zhashx_size (self->heard) >= 4096)
                    zhashx_purge (self->heard);
                last = (int64_t *) zmalloc (sizeof (int64_t));
                zhashx_insert (self->heard, id, last);
            }
            *last = now;
            char address [80];
            snprintf (address, sizeof address, "tcp://%s:%u", ip, beacon.port);
            if (gossip_address_valid (address))
                s_join (self, address, id);
            else
                self->counters.bad_decode++;
        }
    }
    zframe_destroy (&frame);
    zstr_free (&ip);
}

//  ---------------------------------------------------------------------
//  Bootstrap

//  One bootstrap entry "tcp://HOST:PORT[#NODEID]" from source (for the
//  warning); a bad one is counted and ignored.
static void
s_bootstrap_add (s_discovery_t *self, const char *item, const char *source)
{
    const char *hash = item ? strchr (item, '#') : NULL;
    uint8_t key [IRH_KEY_BYTES];
    size_t len = hash ? (size_t) (hash - item) : (item ? strlen (item) : 0);
    char address [sizeof self->bootstrap [0].address];
    if (!item || len >= sizeof address
    ||  (hash && irh_identity_key_from_id (hash + 1, key) != 0)) {
        irh_warn ("%s: '%s' is not tcp://HOST:PORT[#NODEID]: ignored", source, item ? item : "");
        self->counters.bootstrap_bad++;
        return;
    }
    memcpy (address, item, len);        //  no node id: trusted on first use
    address [len] = 0;
    if (!gossip_address_valid (address) || self->bootstraps == S_BOOTSTRAP_MAX) {
        irh_warn ("%s: '%s' ignored (bad address or too many)", source, item);
        self->counters.bootstrap_bad++;
        return;
    }
    for (size_t i = 0; i < self->bootstraps; i++)
        if (streq (self->bootstrap [i].address, address)
        &&  streq (self->bootstrap [i].node_id, hash ? hash + 1 : ""))
            return;                     //  named twice (config and a token)
    s_bootstrap_t *entry = &self->bootstrap [self->bootstraps];
    memcpy (entry->address, address, len + 1);
    snprintf (entry->node_id, sizeof entry->node_id, "%s", hash ? hash + 1 : "");
    entry->backoff_ms = S_BACKOFF_MIN_MS;
    self->bootstraps++;
}

static void
s_bootstrap_load (s_discovery_t *self, irh_config_t *config)
{
    size_t count = irh_config_list_size (config, "peers.bootstrap");
    for (size_t i = 0; i < count; i++)
        s_bootstrap_add (self, irh_config_list_item (config, "peers.bootstrap", i),
                         "peers.bootstrap");
}

//  The peers named by joined namespace tokens (irohds-ctl ns join writes
//  <home>/peers/ns_bootstrap, one tcp://HOST:PORT#NODEID a line, no
//  secret), read before the sandbox closes the home to us.
static void
s_bootstrap_load_ns (s_discovery_t *self, irh_paths_t *paths)
{
    char *text = NULL, *err = NULL;
    size_t size = 0;
    int rc = irh_file_read (paths->ns_peers, 64 * 1024, false, &text, &size, &err);
    if (rc < 0) {
        irh_warn ("%s; its peers are not contacted", err ? err : paths->ns_peers);
        self->counters.bootstrap_bad++;
    }
    if (rc == 0) {
        char *line = text, *next = NULL;
        for (; line && *line; line = next) {
            next = strchr (line, '\n');
            if (next)
                *next++ = 0;
            if (*line && *line != '#')
                s_bootstrap_add (self, line, paths->ns_peers);
        }
    }
    free (text);
    free (err);
}

//  True if gossip holds the entry's node alive: by node id, or by address
//  for an entry without one (its id is gossip's pin, not ours to read).
static bool
s_alive (irh_table_t *table, const s_bootstrap_t *entry)
{
    for (size_t row = 0; table && row < irh_table_rows (table); row++) {
        const char *id = irh_table_get (table, row, "id");
        const char *address = irh_table_get (table, row, "address");
        const char *state = irh_table_get (table, row, "state");
        bool same = *entry->node_id ? id && streq (id, entry->node_id)
                                    : address && streq (address, entry->address);
        if (same && state && streq (state, "alive"))
            return true;
    }
    return false;
}

static void
s_bootstrap_tick (s_discovery_t *self)
{
    int64_t now = zclock_mono ();
    irh_table_t *peers = NULL;
    bool asked = false;
    for (size_t i = 0; i < self->bootstraps; i++) {
        s_bootstrap_t *entry = &self->bootstrap [i];
        if (entry->joined || now < entry->due_ms)
            continue;
        if (!asked) {
            asked = true;
            irh_gossip_peers_t request = { 0 };
            zmsg_t *reply = NULL;
            if (s_call_gossip (self, irh_gossip_peers_encode (&request), &reply) == 0)
                peers = irh_table_decode (reply);
            zmsg_destroy (&reply);
        }
        if (s_alive (peers, entry)) {
            entry->joined = true;
            self->counters.bootstrap_joined++;
            irh_info ("bootstrap %s: joined", entry->address);
            continue;
        }
        self->counters.bootstrap_attempts++;
        s_join (self, entry->address, entry->node_id);
        entry->due_ms = now + entry->backoff_ms;
        entry->backoff_ms = entry->backoff_ms * 2 > S_BACKOFF_MAX_MS
                          ? S_BACKOFF_MAX_MS : entry->backoff_ms * 2;
    }
    irh_table_destroy (&peers);
}

//  ---------------------------------------------------------------------
//  Broker requests

static void
s_handle (s_discovery_t *self, irh_request_t *request)
{
    zframe_t *frame = zmsg_first (request->body);
    int id = irh_msgs_id (frame);
    zmsg_t *reply = zmsg_new ();
    if (id == IRH_MSG_PING) {
        irh_pong_t pong;
        memset (&pong, 0, sizeof pong);
        snprintf (pong.service, sizeof pong.service, "discovery");
        snprintf (pong.version, sizeof pong.version, "%s", IROHDS_VERSION);
        pong.pid = (uint32_t) getpid ();
        pong.uptime_ms = (uint64_t) (zclock_mono () - self->started_ms);
        zframe_t *encoded = irh_pong_encode (&pong);
        zmsg_append (reply, &encoded);
        irh_worker_reply (self->worker, request, &reply);
    }
    else
    if (id == IRH_MSG_DISCOVERY_STATS) {
        s_counters_t *c = &self->counters;
        struct { const char *name; uint64_t value; } rows [] = {
            { "lan", self->beacon != NULL }, { "gossip_port", (uint64_t) self->gossip_port },
            { "sandbox_landlock_abi",
              self->sandbox.landlock ? (uint64_t) self->sandbox.landlock_used_abi : 0 },
            { "sandbox_seccomp", self->sandbox.seccomp },
            { "beacons_heard", c->beacons_heard }, { "bad_size", c->bad_size },
            { "bad_decode", c->bad_decode }, { "bad_magic", c->bad_magic },
            { "bad_version", c->bad_version }, { "from_self", c->from_self },
            { "joins_asked", c->joins_asked }, { "joins_failed", c->joins_failed },
            { "bootstrap_peers", self->bootstraps }, { "bootstrap_bad", c->bootstrap_bad },
            { "bootstrap_attempts", c->bootstrap_attempts },
            { "bootstrap_joined", c->bootstrap_joined }, { "bad_requests", c->bad_requests },
        };
        irh_table_t *table = irh_table_new ("name:s\tvalue:u");
        for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
            irh_table_row (table);
            irh_table_str (table, rows [i].name);
            irh_table_u64 (table, rows [i].value);
        }
        irh_table_append (table, reply);
        irh_table_destroy (&table);
        irh_worker_reply (self->worker, request, &reply);
    }
    else {
        self->counters.bad_requests++;
        irh_worker_error (self->worker, request, id < 0 ? "bad-request" : "unknown-command",
                          "discovery does not know message %d (%s)", id, irh_msgs_name (id));
    }
    zmsg_destroy (&reply);
    irh_request_destroy (&request);
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

//  The public node id from identity/node.cert: the daemon makes the
//  identity before starting actors; a moment's wait covers a race with a
//  fresh home. Never opens the secret. 0, or -1 (logged).
static int
s_load_node_id (const char *home, uint8_t *key)
{
    char *err = NULL;
    int rc = 1;
    for (int attempt = 0; attempt < 100 && rc == 1; attempt++) {
        rc = irh_identity_load_public (home, key, &err);
        if (rc == 1)
            zclock_sleep (100);
    }
    if (rc != 0)
        irh_error ("cannot load the node id: %s", rc == 1 ? "identity/node.cert does not exist "
                   "(irohds-daemon or irohds-ctl info makes it)" : err ? err : "?");
    free (err);
    return rc == 0 ? 0 : -1;
}

//  One forbidden operation; true if the sandbox refused it.
static bool
s_refused (const char *what, const char *dir, const char *name, int flags)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    int fd = open (path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    int saved = errno;
    if (fd >= 0) {
        close (fd);
        if (flags & O_CREAT)
            unlink (path);
    }
    printf ("%s %s: %s\n", what, path, fd >= 0 ? "ALLOWED" : strerror (saved));
    return fd < 0 && (saved == EACCES || saved == EPERM);
}

//  --check-sandbox: what this actor must not do, tried under its sandbox.
static int
s_check_sandbox (irh_paths_t *paths, irh_sandbox_status_t *status)
{
    printf ("sandbox %s\n", status->summary);
    char identity [4096];
    snprintf (identity, sizeof identity, "%s/identity", paths->home);
    bool ok = status->landlock;
    ok &= s_refused ("read", identity, "node.cert_secret", O_RDONLY);
    ok &= s_refused ("read", identity, "sign.key", O_RDONLY);
    ok &= s_refused ("read", identity, "node.cert", O_RDONLY);
    ok &= s_refused ("create", identity, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL);
    ok &= s_refused ("create", paths->store, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL);
    ok &= s_refused ("create", paths->blobs, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL);
    //  Gossip's grants for sharing results are not discovery's.
    ok &= s_refused ("list", paths->blobs, ".", O_RDONLY | O_DIRECTORY);
    ok &= s_refused ("create", paths->fetch, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL);
    ok &= s_refused ("create", paths->home, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL);
    //  Namespace secrets are gossip's alone (docs/namespaces.md).
    ok &= s_refused ("list", paths->ns, ".", O_RDONLY | O_DIRECTORY);
    ok &= s_refused ("create", paths->ns, "check-sandbox", O_WRONLY | O_CREAT | O_EXCL);
    printf ("%s\n", ok ? "confined" : "NOT CONFINED");
    fflush (stdout);
    return ok ? 0 : 1;
}

int
main (int argc, char *argv [])
{
    //  --check-sandbox is ours; the rest is every actor's command line
    //  (which wants an endpoint: the check makes no socket, so any will do).
    bool check_sandbox = false;
    char **args = (char **) calloc ((size_t) argc + 3, sizeof (char *));
    assert (args);
    int count = 0;
    bool endpoint = false;
    for (int i = 0; i < argc; i++) {
        if (streq (argv [i], "--check-sandbox"))
            check_sandbox = true;
        else
            args [count++] = argv [i];
        if (streq (argv [i], "--bind") || streq (argv [i], "--broker"))
            endpoint = true;
    }
    if (check_sandbox && !endpoint) {
        args [count++] = "--bind";
        args [count++] = "inproc://check-sandbox";
    }
    args [count] = NULL;
    irh_actor_t actor;
    int status = irh_actor_init (&actor, "discovery", "discovery", false, count, args);
    free (args);                //  init keeps pointers into argv's strings, not args
    if (status >= 0) {
        irh_actor_cleanup (&actor);
        return status;
    }
    s_discovery_t self;
    memset (&self, 0, sizeof self);
    self.started_ms = zclock_mono ();
    if (s_load_node_id (actor.paths->home, self.id) != 0) {
        irh_actor_cleanup (&actor);
        return 1;
    }
    irh_identity_id_from_key (self.id, self.node_id);
    //  Least privilege from here on: the node id is loaded, no socket or
    //  thread exists yet (docs/security.md).
    s_bootstrap_load_ns (&self, actor.paths);
    irh_sandbox_enter_network_actor (actor.paths, false, &self.sandbox);
    if (check_sandbox) {
        status = s_check_sandbox (actor.paths, &self.sandbox);
        irh_actor_cleanup (&actor);
        return status;
    }
    //  IROHDS_LAN wins over the config, both ways.
    const char *env = getenv ("IROHDS_LAN");
    self.lan = env && *env ? !streq (env, "0") && !streq (env, "false")
                           : irh_config_bool (actor.config, "discovery.lan", true);
    s_bootstrap_load (&self, actor.config);
    self.heard = zhashx_new ();
    zhashx_set_destructor (self.heard, s_free_item);
    if (actor.broker)
        self.client = irh_client_new (actor.broker);
    else
        irh_warn ("standalone: no broker, so no gossip to hand peers to");
    self.worker = irh_worker_new ("discovery", actor.broker, actor.bind);
    irh_actor_cleanup (&actor);
    if (!self.worker) {
        irh_error ("cannot start the discovery worker");
        return 1;
    }
    irh_info ("discovery: LAN %s, %zu bootstrap peer(s)", self.lan ? "on" : "off (no beacon socket)",
              self.bootstraps);
    zpoller_t *poller = zpoller_new (irh_worker_sock (self.worker), NULL);
    int64_t next_try = 0;
    while (!zsys_interrupted) {
        int timeout = irh_worker_tick (self.worker);
        if (timeout < 0 || timeout > 250)
            timeout = 250;
        int64_t now = zclock_mono ();
        if (now >= next_try) {
            next_try = now + 1000;
            //  The beacon carries gossip's real port: ask it first.
            if (self.lan && !self.beacon && self.client) {
                self.gossip_port = s_gossip_port (&self);
                if (self.gossip_port) {
                    s_beacon_start (&self);
                    if (self.beacon)
                        zpoller_add (poller, self.beacon);
                    else
                        self.lan = false;
                }
            }
            s_bootstrap_tick (&self);
        }
        void *which = zpoller_wait (poller, timeout);
        if (zpoller_terminated (poller))
            break;
        if (which == irh_worker_sock (self.worker)) {
            irh_request_t *request = irh_worker_recv (self.worker);
            if (request)
                s_handle (&self, request);
        }
        else
        if (self.beacon && which == self.beacon)
            s_beacon_heard (&self);
    }
    irh_info ("stopping");
    zpoller_destroy (&poller);
    if (self.beacon) {
        zstr_sendx (self.beacon, "SILENCE", NULL);
        zactor_destroy (&self.beacon);
    }
    zhashx_destroy (&self.heard);
    irh_client_destroy (&self.client);
    irh_worker_destroy (&self.worker);
    irh_log_close ();
    return 0;
}
