/*  gossip_lookup.c: the gossip_lookup request (proto/gossip.def) up to the
    decision. On a local miss the Python client asks whether a peer holds
    the key: the digests answer at once when nobody may (no network round
    trip: the common case costs a few Bloom probes); else every candidate
    is asked for its manifest in parallel with a short timeout, the answers
    are grouped by blob (a minority that disagrees is ignored and counted),
    "cap" gives the verdict for the best holder, and when fetching wins the
    lookup waits on the blob's transfer (gossip_fetch.c). A blob of at most
    one group (16 KiB) comes with its manifest answer: checked against the
    blob hash on arrival (a single group has no outboard: its hash is the
    blob's), it goes to the store's ingest as it is, without a transfer,
    a staging file or a read round trip. docs/transfer.md.
*/
#include "gossip_fetch_int.h"
#include "irh_hash.h"
#include "irh_log.h"
#include "irh_msign.h"
#include "gossip_ns.h"
#include <math.h>
#include <string.h>

#define S_ASK_MIN_MS        250     //  manifest timeout floor (4 x RTT above it)
#define S_VERDICT_MS        1000    //  cap's answer; a local estimate after that
#define S_DEFAULT_BW        100000000ULL    //  bytes/s when nothing is known (fallback only)
#define S_INLINE_INGEST_MS  30000   //  the store's ingest of a small result

typedef enum { S_ASKING, S_DECIDING, S_FETCHING } s_phase_t;

#define S_PENDING   -1
#define S_TIMEOUT   -2
#define S_BAD       -3
#define S_BAD_SIG   -4      //  unsigned, bad signature, or not the producer's key
#define S_PRODUCER  -5      //  a producer the namespace does not list

typedef struct {
    gf_lookup_t *lookup;
    uint8_t id [32];
    int64_t sent_us;
    int status;                     //  peer_manifest status, or S_* above
    irh_manifest_t manifest;
    uint8_t *content;               //  verified content that came with it, or NULL
} s_ask_t;

struct _gf_lookup_t {
    gossip_fetch_t *fetch;
    irh_request_t *request;
    irh_gossip_lookup_t q;
    s_phase_t phase;
    int64_t started_us;
    int64_t decided_us, acted_us;   //  manifests all in; verdict known (0: not yet)
    int64_t deadline_ms;            //  0 = none
    void *handle;                   //  in fetch->lookups
    size_t asked, answered;
    s_ask_t asks [GF_CANDIDATES_MAX];
    irh_manifest_t manifest;        //  the chosen blob's record
    s_ask_t *chosen;                //  the answer that record came from
    s_ask_t *carried;               //  an answer of that blob with its content, or NULL
    uint8_t holders [GF_CANDIDATES_MAX][32];
    size_t holder_count;
    double t_compute, t_fetch;      //  the verdict's figures (0: none)
    bool have_times;
    gf_transfer_t *transfer;        //  when fetching
    void *waiter_handle;            //  in transfer->waiters
};

static uint64_t
s_bits (double value)
{
    uint64_t bits;
    memcpy (&bits, &value, sizeof bits);
    return bits;
}

static double
s_double (uint64_t bits)
{
    double value;
    memcpy (&value, &bits, sizeof value);
    return value;
}

static void
s_lookup_free (gf_lookup_t **self_p)
{
    gf_lookup_t *self = *self_p;
    if (!self)
        return;
    gossip_fetch_t *fetch = self->fetch;
    for (size_t i = 0; i < self->asked; i++) {
        gossip_xfer_cancel (fetch->xfer, &self->asks [i]);
        free (self->asks [i].content);
    }
    gossip_calls_cancel (fetch->calls, self);
    if (self->transfer && self->waiter_handle)
        zlistx_delete (self->transfer->waiters, self->waiter_handle);
    if (self->handle)
        zlistx_delete (fetch->lookups, self->handle);
    irh_request_destroy (&self->request);
    free (self);
    *self_p = NULL;
}

//  Answer the client and forget the lookup.
void
gf_lookup_finish (gf_lookup_t *self, uint8_t status, const char *reason, uint64_t bytes)
{
    gossip_fetch_t *fetch = self->fetch;
    irh_gossip_lookup_reply_t reply;
    memset (&reply, 0, sizeof reply);
    reply.status = status;
    snprintf (reply.reason, sizeof reply.reason, "%s", reason ? reason : "");
    if (self->holder_count && (status == 0 || status == 3))
        memcpy (reply.source, self->holders [0], 32);
    reply.received = bytes;
    reply.elapsed_us = (uint64_t) (zclock_usecs () - self->started_us);
    if (self->have_times) {
        reply.t_compute = s_bits (self->t_compute);
        reply.t_fetch = s_bits (self->t_fetch);
    }
    if (status == 0 && !(self->q.flags & 1))
        fetch->fetched++;
    else
    if (status == 1)
        fetch->computed_no_candidate++;
    else
    if (status == 2)
        fetch->computed_not_found++;
    else
    if (status == 3)
        fetch->computed_verdict++;
    else
    if (status == 4)
        fetch->computed_failed++;
    char key [13];
    gf_short_id (self->q.key, key);
    //  Where the time went: manifests (the slowest candidate's round
    //  trip), verdict (cap), fetch (transfer or inline ingest).
    int64_t now = zclock_usecs ();
    int64_t manifests = self->decided_us ? self->decided_us - self->started_us : 0;
    int64_t verdict = self->acted_us ? self->acted_us - self->decided_us : 0;
    int64_t fetched = self->acted_us ? now - self->acted_us : 0;
    irh_debug ("lookup %s (%s): status %u, %s, %" PRIu64 " bytes, %" PRIu64 " us (manifests %"
               PRId64 ", verdict %" PRId64 ", fetch %" PRId64 ")", key, self->q.fn, status,
               reply.reason, bytes, reply.elapsed_us, manifests, verdict, fetched);
    zframe_t *frame = irh_gossip_lookup_reply_encode (&reply);
    zmsg_t *body = zmsg_new ();
    if (frame)
        zmsg_append (body, &frame);
    irh_worker_reply (fetch->worker, self->request, &body);
    zmsg_destroy (&body);
    s_lookup_free (&self);
}

int64_t
gf_lookup_deadline (gf_lookup_t *self)
{
    return self->deadline_ms;
}

const uint8_t *
gf_lookup_key (gf_lookup_t *self)
{
    return self->q.key;
}

void
gf_lookup_attach (gf_lookup_t *self, gf_transfer_t *transfer)
{
    self->transfer = transfer;
    self->waiter_handle = zlistx_add_end (transfer->waiters, self);
}

void
gf_lookup_destroy_all (gossip_fetch_t *fetch)
{
    gf_lookup_t *lookup;
    while ((lookup = (gf_lookup_t *) zlistx_first (fetch->lookups)))
        gf_lookup_finish (lookup, 4, "gossip is stopping", 0);
}

//  The cost to decide with: the caller's when any figure is given, else
//  the one the computing node published with the result; the bytes to
//  move are always the manifest's size.
static void
s_cost (gf_lookup_t *self, uint64_t cost [4])
{
    const irh_gossip_lookup_t *q = &self->q;
    if (q->flops || q->mem_bytes || q->peak_mem || q->result_bytes) {
        cost [0] = q->flops; cost [1] = q->mem_bytes;
        cost [2] = q->peak_mem; cost [3] = q->result_bytes;
    }
    else {
        cost [0] = self->manifest.flops; cost [1] = self->manifest.mem_bytes;
        cost [2] = self->manifest.peak_mem; cost [3] = self->manifest.result_bytes;
    }
    //  R is an estimate for when the size is unknown; here the manifest
    //  says exactly what a fetch moves (a caller's cost declaring 1 GiB
    //  for a 1 KiB result made every remote hit look 86 s long).
    cost [3] = self->manifest.size;
}

static void
s_on_ingest (void *arg, int rc, zmsg_t *body, const char *error_code)
{
    gf_lookup_t *self = (gf_lookup_t *) arg;
    gossip_fetch_t *fetch = self->fetch;
    irh_put_ok_t ok;
    zframe_t *frame = rc == 0 && body ? zmsg_first (body) : NULL;
    bool exists = rc != 0 && error_code && streq (error_code, "exists");
    if (!exists && (!frame || irh_put_ok_decode (frame, &ok) != 0)) {
        fetch->ingest_failed++;
        char reason [96];
        snprintf (reason, sizeof reason, "fetch failed: ingest: %s",
                  rc == 0 ? "bad reply" : error_code ? error_code : "?");
        gf_lookup_finish (self, 4, reason, self->manifest.size);
        return;
    }
    if (exists)
        fetch->ingest_exists++;
    else
        fetch->ingest_ok++;
    fetch->fetched_inline++;
    char source [13], reason [129];
    gf_short_id (self->carried->id, source);
    snprintf (reason, sizeof reason, "fetched %" PRIu64 " bytes with the manifest from %s",
              self->manifest.size, source);
    gf_lookup_finish (self, 0, reason, self->manifest.size);
}

//  The content came with a manifest answer and was verified then: the
//  store ingests it as it is (it hashes it again). The cost of a remote
//  hit of a small result is then the manifest round trip and the ingest;
//  no verdict, transfer, staging file or read round trip.
static void
s_ingest_carried (gf_lookup_t *self)
{
    gossip_fetch_t *fetch = self->fetch;
    if (gf_ingest_send (fetch, self->q.key, &self->manifest, self->chosen->id, NULL,
                        self->carried->content, (size_t) self->manifest.size,
                        S_INLINE_INGEST_MS, s_on_ingest, self) != 0) {
        fetch->ingest_failed++;
        gf_lookup_finish (self, 4, "fetch failed: ingest could not be sent to the store", 0);
    }
}

static void
s_act (gf_lookup_t *self, double score, const char *text)
{
    gossip_fetch_t *fetch = self->fetch;
    self->acted_us = zclock_usecs ();
    bool fetch_wins = score > 0;        //  +inf too; NaN compares false: compute
    if (isinf (score) && score > 0)
        fetch->verdict_inf++;
    char key [13], source [13];
    gf_short_id (self->q.key, key);
    gf_short_id (self->holders [0], source);
    irh_debug ("verdict for %s (%s) from %s: %s; t_compute %.6fs t_fetch %.6fs, %" PRIu64
               " bytes, %zu holders", key, self->q.fn, source, text, self->t_compute,
               self->t_fetch, self->manifest.size, self->holder_count);
    if (!fetch_wins) {
        gf_lookup_finish (self, 3, text, 0);
        return;
    }
    fetch->verdict_fetch++;
    if (self->q.flags & 1) {
        //  Decide only: status 0 with bytes 0 says "fetching would win";
        //  nothing was fetched (docs/transfer.md).
        fetch->decide_only++;
        char reason [129];
        snprintf (reason, sizeof reason, "%s (decide only)", text);
        gf_lookup_finish (self, 0, reason, 0);
        return;
    }
    self->phase = S_FETCHING;
    if (self->carried) {
        s_ingest_carried (self);
        return;
    }
    gf_transfer_t *transfer = gf_transfer_join (fetch, self->q.key, &self->manifest,
                                                self->holders, self->holder_count);
    if (!transfer) {
        gf_lookup_finish (self, 4, "transfer could not start", 0);
        return;
    }
    gf_lookup_attach (self, transfer);
    gf_fetch_kick (fetch);              //  may answer this lookup already
}

//  No answer from cap: t_compute from the measured wall time (the
//  caller's, else the computing node's), t_fetch = RTT + size / bandwidth.
static void
s_estimate (gf_lookup_t *self)
{
    gossip_fetch_t *fetch = self->fetch;
    fetch->verdict_fallback++;
    gf_peer_t *peer = gf_peer (fetch, self->holders [0], false);
    uint64_t bw = peer && peer->bw ? peer->bw : S_DEFAULT_BW;
    uint64_t rtt = gf_peer_rtt_us (fetch, self->holders [0]);
    uint64_t wall = self->q.wall_us ? self->q.wall_us : self->manifest.wall_us;
    self->t_fetch = (double) rtt / 1e6 + (double) self->manifest.size / (double) bw;
    //  Nothing measured: the result exists and computing may take anything.
    self->t_compute = wall ? (double) wall / 1e6 : INFINITY;
    self->have_times = true;
    double score = self->t_compute - self->t_fetch;
    char text [64];
    if (isinf (score))
        snprintf (text, sizeof text, "fetch (estimate: compute time unknown)");
    else
        snprintf (text, sizeof text, "%s (estimate: saves %.3fs)",
                  score > 0 ? "fetch" : "compute", fabs (score));
    //  +inf here means "unknown", not "no RAM": not a verdict_inf.
    s_act (self, isinf (score) ? 1.0 : score, text);
}

static void
s_on_verdict (void *arg, int rc, zmsg_t *body, const char *error_code)
{
    gf_lookup_t *self = (gf_lookup_t *) arg;
    irh_verdict_info_t info;
    zframe_t *frame = rc == 0 && body ? zmsg_first (body) : NULL;
    if (!frame || irh_verdict_info_decode (frame, &info) != 0) {
        irh_debug ("verdict: cap did not answer (%s): local estimate",
                   rc == 0 ? "bad reply" : error_code ? error_code : "?");
        s_estimate (self);
        return;
    }
    self->t_compute = s_double (info.t_compute);
    self->t_fetch = s_double (info.t_fetch);
    self->have_times = true;
    s_act (self, s_double (info.score), info.text);
}

static void
s_ask_verdict (gf_lookup_t *self)
{
    gossip_fetch_t *fetch = self->fetch;
    self->phase = S_DECIDING;
    uint64_t cost [4];
    s_cost (self, cost);
    irh_verdict_t verdict;
    memset (&verdict, 0, sizeof verdict);
    verdict.flops = cost [0];
    verdict.mem_bytes = cost [1];
    verdict.peak_mem = cost [2];
    verdict.result_bytes = cost [3];
    gf_peer_t *peer = gf_peer (fetch, self->holders [0], false);
    verdict.peer_bw = peer ? peer->bw : 0;
    verdict.peer_latency_ns = gf_peer_rtt_us (fetch, self->holders [0]) * 1000;
    zframe_t *frame = irh_verdict_encode (&verdict);
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    if (gossip_calls_send (fetch->calls, "cap", &body, S_VERDICT_MS, s_on_verdict, self) != 0) {
        zmsg_destroy (&body);
        s_estimate (self);
    }
}

//  Better holder first: the higher learned bandwidth, else the lower RTT.
static bool
s_better (gossip_fetch_t *fetch, const uint8_t *a, const uint8_t *b)
{
    gf_peer_t *pa = gf_peer (fetch, a, false), *pb = gf_peer (fetch, b, false);
    uint64_t bwa = pa ? pa->bw : 0, bwb = pb ? pb->bw : 0;
    if (bwa != bwb)
        return bwa > bwb;
    uint64_t ra = gf_peer_rtt_us (fetch, a), rb = gf_peer_rtt_us (fetch, b);
    return ra && (!rb || ra < rb);
}

//  Every candidate answered (or timed out): group the found ones by blob.
static void
s_decide (gf_lookup_t *self)
{
    gossip_fetch_t *fetch = self->fetch;
    self->decided_us = zclock_usecs ();
    size_t best = SIZE_MAX, best_votes = 0, found = 0;
    for (size_t i = 0; i < self->asked; i++) {
        if (self->asks [i].status != 0)
            continue;
        found++;
        size_t votes = 0;
        for (size_t j = 0; j < self->asked; j++)
            if (self->asks [j].status == 0
            &&  memcmp (self->asks [j].manifest.blob, self->asks [i].manifest.blob, 32) == 0
            &&  self->asks [j].manifest.size == self->asks [i].manifest.size)
                votes++;
        if (votes > best_votes) {
            best_votes = votes;
            best = i;
        }
    }
    if (best == SIZE_MAX) {
        fetch->lookups_not_found++;
        gf_lookup_finish (self, 2, "no candidate holds it", 0);
        return;
    }
    if (found > best_votes) {
        fetch->lookups_disagree++;
        irh_warn ("lookup %s: %zu holders announce another blob than the %zu others: ignored",
                  self->q.fn, found - best_votes, best_votes);
    }
    self->manifest = self->asks [best].manifest;
    self->chosen = &self->asks [best];
    for (size_t i = 0; i < self->asked; i++) {
        s_ask_t *ask = &self->asks [i];
        if (ask->status != 0 || memcmp (ask->manifest.blob, self->manifest.blob, 32) != 0
        ||  ask->manifest.size != self->manifest.size)
            continue;
        if (ask->content && !self->carried)
            self->carried = ask;
        //  Insertion by quality: the first is "the best holder".
        size_t at = self->holder_count++;
        while (at > 0 && s_better (fetch, ask->id, self->holders [at - 1])) {
            memcpy (self->holders [at], self->holders [at - 1], 32);
            at--;
        }
        memcpy (self->holders [at], ask->id, 32);
    }
    if (self->carried && !(self->q.flags & 1)) {
        //  The verified content is here already: what fetching still
        //  costs is the local ingest, which no computation beats, so cap
        //  is not asked (a broker round trip saved on every small hit).
        uint64_t wall = self->q.wall_us ? self->q.wall_us : self->manifest.wall_us;
        self->t_compute = wall ? (double) wall / 1e6 : INFINITY;
        self->t_fetch = 0;
        self->have_times = true;
        fetch->verdict_carried++;
        s_act (self, 1.0, "fetch (the content came with the manifest)");
        return;
    }
    s_ask_verdict (self);
}

//  Content that came with a manifest (a blob of at most one group) is
//  checked against the blob hash now, before anything keeps it: one group
//  has no outboard, its BLAKE3 is the blob's. Content of the wrong size,
//  of a blob bigger than a group, or of another hash refuses the whole
//  answer (a lying holder: counted in bad_inline and bad_manifests).
//  No content: the blob is read the usual way.
static int
s_check_content (gf_lookup_t *self, s_ask_t *ask, const irh_peer_manifest_t *msg)
{
    uint64_t size = ask->manifest.size;
    if (msg->content_size == 0 && size != 0)
        return 0;
    uint8_t hash [IRH_HASH_SIZE];
    if (size > IRH_XFER_GROUP || msg->content_size != size)
        goto bad;
    irh_blake3 (msg->content, msg->content_size, hash);
    if (!irh_hash_equal (hash, ask->manifest.blob))
        goto bad;
    //  One copy per blob is enough (the memory of a lookup stays at 16 KiB
    //  unless holders disagree).
    for (size_t i = 0; i < self->asked; i++)
        if (self->asks [i].content && self->asks [i].manifest.size == size
        &&  memcmp (self->asks [i].manifest.blob, ask->manifest.blob, 32) == 0)
            return 0;
    ask->content = (uint8_t *) malloc (size ? (size_t) size : 1);
    if (ask->content && size)
        memcpy (ask->content, msg->content, (size_t) size);
    return 0;
bad:
    self->fetch->bad_inline++;
    char id [13];
    gf_short_id (ask->id, id);
    irh_warn ("lookup %s: holder %s sent content that is not the blob its manifest names: "
              "refused", self->q.fn, id);
    return -1;
}

//  ns.<ns>.producers: 0 when the namespace lists none (any producer),
//  1 when producer is listed, -1 when it is not. Entries that are not
//  node ids match nothing.
static int
s_producer_listed (gossip_fetch_t *fetch, const char *ns, const uint8_t *producer)
{
    if (!fetch->config)
        return 0;
    char name [300];
    //  A namespace with a secret is configured under its name (locally its
    //  results are under its id).
    snprintf (name, sizeof name, "ns.%s.producers",
              fetch->ns ? gossip_ns_name (fetch->ns, ns) : ns);
    size_t count = irh_config_list_size (fetch->config, name);
    for (size_t i = 0; i < count; i++) {
        uint8_t key [IRH_KEY_BYTES];
        const char *item = irh_config_list_item (fetch->config, name, i);
        if (item && irh_identity_key_from_id (item, key) == 0 && memcmp (key, producer, 32) == 0)
            return 1;
    }
    return count ? -1 : 0;
}

//  Who produced it (docs/security.md, "Signed results"): the signature of
//  key and the record under the key it carries; that key must be the one
//  the producer's own hello carried when we have seen one. A restricted
//  namespace takes only listed producers whose key we know from a hello
//  (else the carried key binds to nothing). 0, S_BAD_SIG or S_PRODUCER.
static int
s_check_producer (gf_lookup_t *self, const irh_manifest_t *m)
{
    gossip_fetch_t *fetch = self->fetch;
    if (irh_msign_verify (self->q.key, m) != 0)
        return S_BAD_SIG;
    uint8_t known [32];
    bool seen = fetch->net && gossip_net_sign_key (fetch->net, m->origin, known);
    if (seen && memcmp (known, m->sign_key, 32) != 0)
        return S_BAD_SIG;
    int listed = s_producer_listed (fetch, self->q.ns, m->origin);
    if (listed < 0 || (listed > 0 && !seen))
        return S_PRODUCER;
    return 0;
}

//  A manifest answer is outside input: decoded, matched to what we asked,
//  its record decoded and checked before it counts.
static int
s_check_manifest (gf_lookup_t *self, s_ask_t *ask, zframe_t *answer)
{
    irh_peer_manifest_t msg;
    if (irh_peer_manifest_decode (answer, &msg) != 0
    ||  memcmp (msg.key, self->q.key, 32) != 0)
        return -1;
    if (msg.status != 0)
        return msg.status <= 3 ? msg.status : -1;
    //  A namespace with a secret: the answer must come from a member and
    //  carry the namespace's MAC of key and record (docs/namespaces.md).
    if (self->fetch->ns
    &&  (!gossip_ns_member (self->fetch->ns, self->q.ns, ask->id)
         || gossip_ns_manifest_check (self->fetch->ns, self->q.ns, self->q.key, msg.manifest,
                                      msg.manifest_size, msg.auth, msg.auth_size) != 0)) {
        self->fetch->manifest_bad_ns++;
        return -1;
    }
    if (irh_manifest_decode_buf (msg.manifest, msg.manifest_size, &ask->manifest) != 0)
        return -1;
    //  A local_only result is never served; a blob over the .have bound
    //  would not fit our bookkeeping.
    if ((ask->manifest.flags & 2) || ask->manifest.size > GOSSIP_HAVE_SIZE_MAX
    ||  strcmp (ask->manifest.ns, self->q.ns) != 0)
        return -1;
    int rc = s_check_producer (self, &ask->manifest);
    if (rc)
        return rc;
    return s_check_content (self, ask, &msg);
}

static void
s_on_manifest (void *arg, const uint8_t *peer, zframe_t *answer)
{
    (void) peer;
    s_ask_t *ask = (s_ask_t *) arg;
    gf_lookup_t *self = ask->lookup;
    gossip_fetch_t *fetch = self->fetch;
    if (!answer) {
        ask->status = S_TIMEOUT;
        fetch->manifest_timeouts++;
    }
    else {
        ask->status = s_check_manifest (self, ask, answer);
        if (ask->status == S_BAD_SIG || ask->status == S_PRODUCER) {
            char who [13], producer [13];
            gf_short_id (ask->id, who);
            gf_short_id (ask->manifest.origin, producer);
            irh_info ("lookup %s: %s's manifest refused: %s %s", self->q.fn, who,
                      ask->status == S_BAD_SIG ? "bad signature of producer"
                                               : "unlisted producer", producer);
            if (ask->status == S_BAD_SIG)
                fetch->manifest_bad_signature++;
            else
                fetch->refused_producer++;
        }
        else
        if (ask->status < 0) {
            ask->status = S_BAD;
            fetch->bad_manifests++;
        }
        else {
            //  A real round trip to this peer: the RTT the verdict uses.
            gf_peer_t *learned = gf_peer (fetch, ask->id, true);
            uint64_t rtt = (uint64_t) (zclock_usecs () - ask->sent_us);
            if (learned)
                learned->rtt_us = learned->rtt_us ? (learned->rtt_us * 7 + rtt) / 8 : rtt;
        }
        if (ask->status == 1)
            fetch->lookups_false_positive++;
    }
    if (++self->answered == self->asked)
        s_decide (self);
}

static void
s_ask_all (gf_lookup_t *self, uint8_t (*ids) [SWIM_ID_SIZE], size_t count)
{
    gossip_fetch_t *fetch = self->fetch;
    for (size_t i = 0; i < count; i++) {
        char address [65];
        if (!gf_peer_address (fetch, ids [i], address, sizeof address))
            continue;
        s_ask_t *ask = &self->asks [self->asked];
        memset (ask, 0, sizeof *ask);
        ask->lookup = self;
        memcpy (ask->id, ids [i], 32);
        ask->status = S_PENDING;
        ask->sent_us = zclock_usecs ();
        uint64_t rtt_ms = gf_peer_rtt_us (fetch, ids [i]) / 1000;
        int timeout = (int) (rtt_ms * 4 > S_ASK_MIN_MS ? rtt_ms * 4 : S_ASK_MIN_MS);
        irh_peer_manifest_want_t want;
        memset (&want, 0, sizeof want);
        want.req = gossip_xfer_next_req (fetch->xfer);
        memcpy (want.key, self->q.key, 32);
        snprintf (want.ns, sizeof want.ns, "%s", self->q.ns);
        zframe_t *frame = irh_peer_manifest_want_encode (&want);
        if (frame && gossip_xfer_request (fetch->xfer, ids [i], address, want.req, &frame,
                                          timeout, s_on_manifest, ask) == 0)
            self->asked++;
        zframe_destroy (&frame);
    }
}

//  The common miss, answered without allocating a lookup: no peer's
//  digest may hold the key (a few Bloom probes, no network round trip).
static void
s_no_candidate (gossip_fetch_t *fetch, irh_request_t **request_p, int64_t started_us)
{
    fetch->lookups_no_candidate++;
    fetch->computed_no_candidate++;
    irh_gossip_lookup_reply_t reply;
    memset (&reply, 0, sizeof reply);
    reply.status = 1;
    snprintf (reply.reason, sizeof reply.reason, "no peer's digest holds the key");
    reply.elapsed_us = (uint64_t) (zclock_usecs () - started_us);
    zframe_t *frame = irh_gossip_lookup_reply_encode (&reply);
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &frame);
    irh_worker_reply (fetch->worker, *request_p, &body);
    zmsg_destroy (&body);
    irh_request_destroy (request_p);
}

void
gossip_fetch_lookup (gossip_fetch_t *fetch, irh_request_t **request_p,
                     const irh_gossip_lookup_t *q)
{
    assert (fetch && request_p && *request_p && q);
    int64_t started_us = zclock_usecs ();
    fetch->lookups_total++;
    uint8_t ids [GF_CANDIDATES_MAX][SWIM_ID_SIZE];
    size_t count = gossip_digests_candidates (fetch->digests, q->ns, q->key, ids,
                                              GF_CANDIDATES_MAX);
    //  A namespace with a secret: only its members are asked (its id and
    //  a blinded key go to no one else, whatever suggested a candidate).
    size_t kept = 0;
    for (size_t i = 0; i < count; i++)
        if (!fetch->ns || gossip_ns_member (fetch->ns, q->ns, ids [i]))
            memmove (ids [kept++], ids [i], SWIM_ID_SIZE);
    count = kept;
    if (count == 0) {
        s_no_candidate (fetch, request_p, started_us);
        return;
    }
    gf_lookup_t *self = (gf_lookup_t *) calloc (1, sizeof (gf_lookup_t));
    if (!self) {
        irh_worker_error (fetch->worker, *request_p, "io", "out of memory");
        irh_request_destroy (request_p);
        return;
    }
    self->fetch = fetch;
    self->request = *request_p;
    *request_p = NULL;
    self->q = *q;
    self->started_us = started_us;
    self->deadline_ms = q->timeout_ms ? zclock_mono () + q->timeout_ms : 0;
    self->handle = zlistx_add_end (fetch->lookups, self);
    if (zlistx_size (fetch->lookups) > GF_LOOKUPS_MAX) {
        fetch->lookups_busy++;
        gf_lookup_finish (self, 4, "too many lookups under way", 0);
        return;
    }
    s_ask_all (self, ids, count);
    if (self->asked == 0) {
        //  Candidates by digest, but none is reachable now.
        fetch->lookups_not_found++;
        gf_lookup_finish (self, 2, "no candidate reachable", 0);
    }
}
