/*  gossip_fetch.c: the gossip_fetch module (gossip_data.h): the life of a
    transfer from the lookup that starts it to the store's ingest.

    One transfer per blob: lookups of the same blob wait on the same one.
    At most GF_TRANSFERS_MAX run at once, the rest wait queued. A running
    transfer stages its blob under fetch_dir:
      <blobhex>.part   the content, preallocated, written group by group
                       once each group is verified (gossip_transfer.c)
      <blobhex>.ob     the verified outboard (blobs over one group)
      <blobhex>.have   which groups are verified (gossip_fetchplan.h codec)
    so an interrupted transfer resumes: the .have is outside bytes on
    restart (decoded defensively), and every group it claims is checked
    again against the outboard before it counts, which makes a torn or
    edited staging file cost a re-fetch, never a wrong result. When every
    group is verified the store ingests the .part (store/ingest: it hashes
    the file again; no fsync here, the store syncs by its own policy),
    then every waiting lookup gets status 0. docs/transfer.md.
*/
#include "gossip_fetch_int.h"
#include "irh_file.h"
#include "irh_hash.h"
#include "irh_log.h"
#include "irh_outboard.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PEERS_MAX     4096        //  learned peer figures kept
#define S_INGEST_MS     600000      //  the store hashes the whole file again

void
gf_short_id (const uint8_t *id, char out [13])
{
    static const char digits [] = "0123456789abcdef";
    for (int i = 0; i < 6; i++) {
        out [2 * i] = digits [id [i] >> 4];
        out [2 * i + 1] = digits [id [i] & 15];
    }
    out [12] = 0;
}

//  ---------------------------------------------------------------------
//  Learned peer figures

static void
s_peer_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

gf_peer_t *
gf_peer (gossip_fetch_t *self, const uint8_t *id, bool create)
{
    char hex [IRH_HASH_HEX_SIZE];
    irh_hash_hex (id, hex);
    gf_peer_t *peer = (gf_peer_t *) zhashx_lookup (self->peers, hex);
    if (!peer && create && zhashx_size (self->peers) < S_PEERS_MAX) {
        peer = (gf_peer_t *) calloc (1, sizeof (gf_peer_t));
        if (peer)
            zhashx_insert (self->peers, hex, peer);
    }
    return peer;
}

uint64_t
gf_peer_rtt_us (gossip_fetch_t *self, const uint8_t *id)
{
    gf_peer_t *peer = gf_peer (self, id, false);
    if (peer && peer->rtt_us)
        return peer->rtt_us;
    swim_member_t member;
    if (swim_member_find (self->swim, id, &member) == 0)
        return member.rtt_us;
    return 0;
}

const char *
gf_peer_address (gossip_fetch_t *self, const uint8_t *id, char *out, size_t size)
{
    swim_member_t member;
    if (swim_member_find (self->swim, id, &member) != 0
    ||  (member.state != SWIM_ALIVE && member.state != SWIM_SUSPECT)
    ||  !member.node->address [0])
        return NULL;
    snprintf (out, size, "%s", member.node->address);
    return out;
}

//  Fold each holder's rate over the time it had reads outstanding into
//  that peer's bandwidth EWMA (weight 1/4: a few transfers settle it).
static void
s_learn (gf_transfer_t *t)
{
    int64_t now = zclock_usecs ();
    for (size_t i = 0; i < t->holders.count; i++) {
        uint64_t us = t->busy_us [i];
        if (t->holders.list [i].outstanding && t->busy_since [i])
            us += (uint64_t) (now - t->busy_since [i]);
        //  Under a MiB says more about latency than bandwidth.
        if (t->busy_bytes [i] < (1 << 20) || us == 0)
            continue;
        gf_peer_t *peer = gf_peer (t->fetch, t->holders.list [i].id, true);
        if (!peer)
            continue;
        uint64_t sample = (uint64_t) ((double) t->busy_bytes [i] * 1e6 / (double) us);
        peer->bw = peer->bw ? (peer->bw * 3 + sample) / 4 : sample;
        peer->transfers++;
    }
}

static void
s_start (gf_transfer_t *t)
{
    gossip_fetch_t *self = t->fetch;
    const char *why = NULL;
    t->started_ms = t->live_ms = zclock_mono ();
    self->transfers_started++;
    int opened = gf_staging_open_part (t, &why);
    if (opened < 0) {
        self->staging_errors++;
        char reason [128];
        snprintf (reason, sizeof reason, "staging: %s", why);
        gf_transfer_fail (t, reason);
        return;
    }
    uint64_t groups = irh_outboard_groups (t->manifest.size);
    t->ob_size = irh_outboard_size (t->manifest.size);
    t->ob_holder = -1;
    if (groups) {
        t->plan = gossip_plan_new (groups);
        if (!t->plan) {
            gf_transfer_fail (t, "out of memory");
            return;
        }
        if (opened == 1)
            gf_staging_load_have (t);
    }
    if (t->ob_size && opened == 1)
        gf_staging_load_outboard (t);
    if (t->resumed)
        self->transfers_resumed++;
    t->state = t->ob_size && !t->outboard ? GF_OUTBOARD : GF_CONTENT;
    char key [13];
    gf_short_id (t->key, key);
    irh_debug ("fetch %s: %" PRIu64 " bytes from %zu holders%s", key, t->manifest.size,
               t->holders.count, t->resumed ? " (resuming)" : "");
    gf_transfer_begin (t);
}

static void
s_transfer_free (gf_transfer_t **t_p)
{
    gf_transfer_t *t = *t_p;
    gossip_plan_destroy (&t->plan);
    gossip_plan_destroy (&t->ob_plan);
    free (t->outboard);
    free (t->part_path);
    free (t->ob_path);
    free (t->have_path);
    zlistx_destroy (&t->waiters);
    free (t);
    *t_p = NULL;
}

//  Answer every waiter and stop all I/O; freed by the next tick.
static void
s_end (gf_transfer_t *t, uint8_t status, const char *reason)
{
    if (t->ended)
        return;
    t->ended = true;
    gf_transfer_cancel_reads (t);
    gossip_calls_cancel (t->fetch->calls, t);
    if (t->state != GF_QUEUED)
        s_learn (t);
    if (t->fd >= 0) {
        close (t->fd);
        t->fd = -1;
    }
    gf_lookup_t *lookup;
    while ((lookup = (gf_lookup_t *) zlistx_first (t->waiters)))
        gf_lookup_finish (lookup, status, reason, t->received);
}

void
gf_transfer_fail (gf_transfer_t *t, const char *reason)
{
    if (t->ended)
        return;
    t->fetch->transfers_failed++;
    if (t->plan && t->state == GF_CONTENT)
        gf_transfer_persist (t);
    char key [13];
    gf_short_id (t->key, key);
    irh_info ("fetch %s failed: %s (%" PRIu64 " of %" PRIu64 " bytes verified)", key, reason,
              t->plan ? gossip_plan_done_count (t->plan) * IRH_XFER_GROUP : 0, t->manifest.size);
    char text [129];
    snprintf (text, sizeof text, "fetch failed: %s", reason);
    s_end (t, 4, text);
}

static void
s_on_ingest (void *arg, int rc, zmsg_t *body, const char *error_code)
{
    gf_transfer_t *t = (gf_transfer_t *) arg;
    gossip_fetch_t *self = t->fetch;
    irh_put_ok_t ok;
    zframe_t *frame = rc == 0 && body ? zmsg_first (body) : NULL;
    bool exists = rc != 0 && error_code && streq (error_code, "exists");
    if (!exists && (!frame || irh_put_ok_decode (frame, &ok) != 0)) {
        self->ingest_failed++;
        const char *code = rc == 0 ? "bad reply" : error_code ? error_code : "?";
        //  mismatch: the staged bytes are not the blob (cannot happen after
        //  verification unless the file changed under us): start clean.
        if (streq (code, "mismatch"))
            gf_staging_remove (t, true);
        char reason [96];
        snprintf (reason, sizeof reason, "ingest: %s", code);
        gf_transfer_fail (t, reason);
        return;
    }
    if (exists)
        self->ingest_exists++;
    else
        self->ingest_ok++;
    gf_staging_remove (t, true);         //  the store moved or copied the .part
    char reason [129];
    snprintf (reason, sizeof reason, "fetched %" PRIu64 " bytes from %zu holder%s%s",
              t->manifest.size, t->holders.count, t->holders.count == 1 ? "" : "s",
              t->resumed ? " (resumed)" : "");
    s_end (t, 0, reason);
}

int
gf_ingest_send (gossip_fetch_t *self, const uint8_t *key, const irh_manifest_t *holders_record,
                const uint8_t *holder, const char *path, const uint8_t *content,
                size_t content_size, int timeout_ms, gossip_call_fn *fn, void *arg)
{
    irh_manifest_t manifest = *holders_record;
    static const uint8_t zeros [32];
    if (memcmp (manifest.origin, zeros, 32) == 0)
        memcpy (manifest.origin, holder, 32);
    uint8_t record [IRH_PEER_MANIFEST_MANIFEST_MAX];
    size_t record_size = irh_manifest_encode_buf (&manifest, record, sizeof record);
    irh_ingest_t ingest;
    memset (&ingest, 0, sizeof ingest);
    snprintf (ingest.path, sizeof ingest.path, "%s", path ? path : "");
    memcpy (ingest.key, key, 32);
    ingest.manifest = record;
    ingest.manifest_size = record_size;
    ingest.content = content;
    ingest.content_size = content ? content_size : 0;
    zframe_t *frame = record_size ? irh_ingest_encode (&ingest) : NULL;
    if (!frame)
        return -1;
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    if (gossip_calls_send (self->calls, "store", &body, timeout_ms, fn, arg) != 0) {
        zmsg_destroy (&body);
        return -1;
    }
    return 0;
}

//  No fsync of the .part here: the store makes the file durable by its
//  own policy when it takes it over (fsync before the rename with
//  store.sync_interval 0, else its periodic syncfs, docs/config.md), and
//  a fetched result lost to a power cut is fetched again. Syncing here
//  cost a full write-back of the blob (seconds for a GiB) before the
//  store could even start.
void
gf_transfer_ingest (gf_transfer_t *t)
{
    gossip_fetch_t *self = t->fetch;
    t->state = GF_INGEST;
    gf_transfer_persist (t);
    char key [13];
    gf_short_id (t->key, key);
    irh_debug ("fetch %s: %" PRIu64 " bytes verified in %" PRId64 " ms, %" PRIu64
               " received; ingesting", key, t->manifest.size, zclock_mono () - t->started_ms,
               t->received);
    if (gf_ingest_send (self, t->key, &t->manifest, t->first_holder, t->part_path, NULL, 0,
                        S_INGEST_MS, s_on_ingest, t) != 0) {
        self->ingest_failed++;
        gf_transfer_fail (t, "ingest could not be sent to the store");
    }
}

//  ---------------------------------------------------------------------
//  Transfers

static gf_transfer_t *
s_transfer_new (gossip_fetch_t *self, const uint8_t *key, const irh_manifest_t *manifest)
{
    gf_transfer_t *t = (gf_transfer_t *) calloc (1, sizeof (gf_transfer_t));
    if (!t)
        return NULL;
    t->fetch = self;
    t->fd = -1;
    t->state = GF_QUEUED;
    memcpy (t->key, key, 32);
    t->manifest = *manifest;
    gossip_holders_init (&t->holders);
    t->waiters = zlistx_new ();
    char hex [IRH_HASH_HEX_SIZE];
    irh_hash_hex (manifest->blob, hex);
    t->part_path = zsys_sprintf ("%s/%s.part", self->fetch_dir, hex);
    t->ob_path = zsys_sprintf ("%s/%s.ob", self->fetch_dir, hex);
    t->have_path = zsys_sprintf ("%s/%s.have", self->fetch_dir, hex);
    if (!t->waiters || !t->part_path || !t->ob_path || !t->have_path)
        s_transfer_free (&t);
    return t;
}

gf_transfer_t *
gf_transfer_join (gossip_fetch_t *self, const uint8_t *key, const irh_manifest_t *manifest,
                  uint8_t (*holders) [32], size_t count)
{
    gf_transfer_t *t = NULL;
    for (t = (gf_transfer_t *) zlistx_first (self->transfers); t;
         t = (gf_transfer_t *) zlistx_next (self->transfers))
        if (!t->ended && memcmp (t->manifest.blob, manifest->blob, 32) == 0
        &&  t->manifest.size == manifest->size)
            break;
    if (!t) {
        t = s_transfer_new (self, key, manifest);
        if (!t)
            return NULL;
        memcpy (t->first_holder, holders [0], 32);
        zlistx_add_end (self->transfers, t);
        self->transfers_queued++;
    }
    for (size_t i = 0; i < count; i++) {
        int known = gossip_holders_find (&t->holders, holders [i]);
        int index = gossip_holders_add (&t->holders, holders [i]);
        //  A holder this transfer had given up on answered a new lookup.
        if (known >= 0 && t->state != GF_QUEUED)
            gf_transfer_member (t, index, true);
    }
    return t;
}

void
gf_fetch_kick (gossip_fetch_t *self)
{
    size_t running = 0;
    gf_transfer_t *t;
    for (t = (gf_transfer_t *) zlistx_first (self->transfers); t;
         t = (gf_transfer_t *) zlistx_next (self->transfers))
        running += !t->ended && t->state != GF_QUEUED;
    //  Starting may end a transfer (and answer lookups) but never frees
    //  one: the list stays valid while we walk it.
    for (t = (gf_transfer_t *) zlistx_first (self->transfers); t && running < GF_TRANSFERS_MAX;
         t = (gf_transfer_t *) zlistx_next (self->transfers))
        if (!t->ended && t->state == GF_QUEUED) {
            running++;
            s_start (t);
        }
}

//  Lookups whose own deadline passed stop waiting; a transfer nobody
//  waits for stops (its staging stays for the next lookup).
static void
s_expire_waiters (gf_transfer_t *t, int64_t now)
{
    bool again = true;
    while (again) {
        again = false;
        gf_lookup_t *lookup;
        for (lookup = (gf_lookup_t *) zlistx_first (t->waiters); lookup;
             lookup = (gf_lookup_t *) zlistx_next (t->waiters)) {
            int64_t deadline = gf_lookup_deadline (lookup);
            if (deadline && now >= deadline && t->state != GF_INGEST) {
                gf_lookup_finish (lookup, 4, "fetch timed out", t->received);
                again = true;
                break;
            }
        }
    }
    if (zlistx_size (t->waiters) == 0 && !t->ended) {
        if (t->plan && t->state == GF_CONTENT)
            gf_transfer_persist (t);
        s_end (t, 4, "abandoned");
    }
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_fetch_t *self = (gossip_fetch_t *) arg;
    int64_t now = zclock_mono ();
    gf_transfer_t *t = (gf_transfer_t *) zlistx_first (self->transfers);
    while (t) {
        if (!t->ended)
            s_expire_waiters (t, now);
        if (!t->ended && t->state != GF_QUEUED && t->state != GF_INGEST)
            gf_transfer_tick (t, now);
        t = (gf_transfer_t *) zlistx_next (self->transfers);
    }
    //  Free the ended ones (nothing refers to them any more).
    t = (gf_transfer_t *) zlistx_first (self->transfers);
    while (t) {
        void *cursor = zlistx_cursor (self->transfers);
        gf_transfer_t *next = (gf_transfer_t *) zlistx_next (self->transfers);
        if (t->ended) {
            zlistx_delete (self->transfers, cursor);
            s_transfer_free (&t);
        }
        t = next;
    }
    gf_fetch_kick (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  The module

gossip_fetch_t *
gossip_fetch_new (gossip_xfer_t *xfer, gossip_digests_t *digests, gossip_calls_t *calls,
                  swim_t *swim, irh_worker_t *worker, const char *fetch_dir, zloop_t *loop)
{
    assert (xfer && digests && calls && swim && worker && fetch_dir && loop);
    char *err = NULL;
    if (irh_file_private_dir (fetch_dir, &err) != 0) {
        irh_error ("fetch: %s", err ? err : fetch_dir);
        free (err);
        return NULL;
    }
    gossip_fetch_t *self = (gossip_fetch_t *) calloc (1, sizeof (gossip_fetch_t));
    if (!self)
        return NULL;
    self->xfer = xfer;
    self->digests = digests;
    self->calls = calls;
    self->swim = swim;
    self->worker = worker;
    self->loop = loop;
    self->fetch_dir = strdup (fetch_dir);
    gf_staging_sweep (fetch_dir, GF_STAGING_MAX_AGE_S);
    self->lookups = zlistx_new ();
    self->transfers = zlistx_new ();
    self->peers = zhashx_new ();
    if (self->peers)
        zhashx_set_destructor (self->peers, s_peer_free);
    self->timer_id = zloop_timer (loop, GF_TICK_MS, 0, s_on_tick, self);
    if (!self->fetch_dir || !self->lookups || !self->transfers || !self->peers
    ||  self->timer_id < 0)
        gossip_fetch_destroy (&self);
    return self;
}

void
gossip_fetch_trust (gossip_fetch_t *self, gossip_net_t *net, irh_config_t *config)
{
    assert (self);
    self->net = net;
    self->config = config;
}

void
gossip_fetch_set_ns (gossip_fetch_t *self, gossip_ns_t *ns)
{
    assert (self);
    self->ns = ns;
}

void
gossip_fetch_destroy (gossip_fetch_t **self_p)
{
    assert (self_p);
    gossip_fetch_t *self = *self_p;
    if (!self)
        return;
    if (self->timer_id >= 0 && self->loop)
        zloop_timer_end (self->loop, self->timer_id);
    if (self->transfers) {
        gf_transfer_t *t;
        for (t = (gf_transfer_t *) zlistx_first (self->transfers); t;
             t = (gf_transfer_t *) zlistx_next (self->transfers)) {
            if (!t->ended && t->plan && t->state == GF_CONTENT)
                gf_transfer_persist (t);
            s_end (t, 4, "gossip is stopping");
        }
    }
    if (self->lookups)
        gf_lookup_destroy_all (self);
    if (self->transfers) {
        gf_transfer_t *t;
        while ((t = (gf_transfer_t *) zlistx_first (self->transfers))) {
            zlistx_delete (self->transfers, zlistx_cursor (self->transfers));
            s_transfer_free (&t);
        }
    }
    zlistx_destroy (&self->transfers);
    zlistx_destroy (&self->lookups);
    zhashx_destroy (&self->peers);
    free (self->fetch_dir);
    free (self);
    *self_p = NULL;
}

void
gossip_fetch_member (gossip_fetch_t *self, const swim_member_t *member, bool alive)
{
    gf_transfer_t *t;
    for (t = (gf_transfer_t *) zlistx_first (self->transfers); t;
         t = (gf_transfer_t *) zlistx_next (self->transfers)) {
        if (t->ended || t->state == GF_QUEUED)
            continue;
        int i = gossip_holders_find (&t->holders, member->node->id);
        if (i >= 0)
            gf_transfer_member (t, i, alive);
    }
}

static const char *
s_state_name (gf_state_t state)
{
    return state == GF_OUTBOARD ? "outboard" : state == GF_CONTENT ? "content"
         : state == GF_INGEST ? "ingest" : "queued";
}

static bool
s_matches (gf_transfer_t *t, const uint8_t *key)
{
    static const uint8_t zeros [32];
    if (!key || memcmp (key, zeros, 32) == 0 || memcmp (key, t->key, 32) == 0)
        return true;
    gf_lookup_t *lookup;
    for (lookup = (gf_lookup_t *) zlistx_first (t->waiters); lookup;
         lookup = (gf_lookup_t *) zlistx_next (t->waiters))
        if (memcmp (gf_lookup_key (lookup), key, 32) == 0)
            return true;
    return false;
}

zmsg_t *
gossip_fetch_table (gossip_fetch_t *self, const uint8_t *key)
{
    irh_table_t *table = irh_table_new ("key:x\tblob:x\tns:s\tfn:s\tsize:u\treceived:u\t"
                                        "rate_bps:u\tsources:s\telapsed_ms:u\tstate:s");
    int64_t now = zclock_mono ();
    gf_transfer_t *t;
    for (t = (gf_transfer_t *) zlistx_first (self->transfers); t;
         t = (gf_transfer_t *) zlistx_next (self->transfers)) {
        if (t->ended || !s_matches (t, key))
            continue;
        uint64_t elapsed = t->started_ms ? (uint64_t) (now - t->started_ms) : 0;
        char sources [GOSSIP_HOLDERS_MAX * 13 + 1] = "";
        for (size_t i = 0; i < t->holders.count; i++) {
            if (t->holders.list [i].state != GOSSIP_HOLDER_LIVE)
                continue;
            char id [13];
            gf_short_id (t->holders.list [i].id, id);
            if (sources [0])
                strcat (sources, ",");
            strcat (sources, id);
        }
        //  received counts verified content (resumed groups too), so a
        //  progress bar ends at size.
        uint64_t received = t->plan ? gossip_plan_done_count (t->plan) * IRH_XFER_GROUP : 0;
        if (received > t->manifest.size)
            received = t->manifest.size;
        irh_table_row (table);
        irh_table_hex (table, t->key, 32);
        irh_table_hex (table, t->manifest.blob, 32);
        irh_table_str (table, t->manifest.ns);
        irh_table_str (table, t->manifest.fn);
        irh_table_u64 (table, t->manifest.size);
        irh_table_u64 (table, received);
        irh_table_u64 (table, elapsed ? t->received * 1000 / elapsed : 0);
        irh_table_str (table, sources);
        irh_table_u64 (table, elapsed);
        irh_table_str (table, s_state_name (t->state));
    }
    zmsg_t *msg = zmsg_new ();
    irh_table_append (table, msg);
    irh_table_destroy (&table);
    return msg;
}

void
gossip_fetch_stats (gossip_fetch_t *self, irh_table_t *table)
{
    uint64_t running = 0, queued = 0;
    gf_transfer_t *t;
    for (t = (gf_transfer_t *) zlistx_first (self->transfers); t;
         t = (gf_transfer_t *) zlistx_next (self->transfers)) {
        running += !t->ended && t->state != GF_QUEUED;
        queued += !t->ended && t->state == GF_QUEUED;
    }
    struct { const char *name; uint64_t value; } rows [] = {
        { "lookups", self->lookups_total },
        { "lookups_no_candidate", self->lookups_no_candidate },
        { "lookups_false_positive", self->lookups_false_positive },
        { "lookups_not_found", self->lookups_not_found },
        { "lookups_disagree", self->lookups_disagree },
        { "lookups_busy", self->lookups_busy },
        { "manifest_timeouts", self->manifest_timeouts },
        { "bad_manifests", self->bad_manifests },
        { "manifest_bad_signature", self->manifest_bad_signature },
        { "refused_producer", self->refused_producer },
        { "manifest_bad_ns", self->manifest_bad_ns },
        { "fetched", self->fetched },
        { "computed_instead", self->computed_verdict + self->computed_no_candidate
                              + self->computed_not_found + self->computed_failed },
        { "verdict_compute", self->computed_verdict },
        { "verdict_fetch", self->verdict_fetch },
        { "computed_no_candidate", self->computed_no_candidate },
        { "computed_not_found", self->computed_not_found },
        { "computed_failed", self->computed_failed },
        { "verdict_inf", self->verdict_inf },
        { "verdict_fallback", self->verdict_fallback },
        { "decide_only", self->decide_only },
        { "transfers_started", self->transfers_started },
        { "transfers_resumed", self->transfers_resumed },
        { "transfers_failed", self->transfers_failed },
        { "transfers_queued", self->transfers_queued },
        { "transfers_running", running },
        { "transfers_waiting", queued },
        { "fetch_bytes_received", self->bytes_received },
        { "groups_verified", self->groups_verified },
        { "groups_resumed", self->groups_resumed },
        { "bad_chunks", self->bad_chunks },
        { "bad_answers", self->bad_answers },
        { "bad_outboards", self->bad_outboards },
        { "read_timeouts", self->read_timeouts },
        { "endgame_reads", self->endgame_reads },
        { "holders_dropped", self->holders_dropped },
        { "holders_banned", self->holders_banned },
        { "holder_probes", self->probes_sent },
        { "ingest_ok", self->ingest_ok },
        { "ingest_exists", self->ingest_exists },
        { "ingest_failed", self->ingest_failed },
        { "have_refused", self->have_refused },
        { "staging_errors", self->staging_errors },
        { "fetched_inline", self->fetched_inline },
        { "bad_inline", self->bad_inline },
        { "verdict_carried", self->verdict_carried },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, rows [i].name);
        irh_table_u64 (table, rows [i].value);
    }
}
