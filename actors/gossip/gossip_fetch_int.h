/*  gossip_fetch_int.h: what the three files of gossip_fetch share.

      gossip_lookup.c     gossip_lookup: candidates, manifests, verdict, reply
      gossip_fetch.c      the module: transfers' life (queue, staging files,
                          resume, ingest), learned peer figures, table, stats
      gossip_transfer.c   the reads of one transfer: outboard, content,
                          holders, probes
      gossip_staging.c    the staging files: .part, .ob, .have

    docs/transfer.md explains the protocol and the choices.
*/
#ifndef GOSSIP_FETCH_INT_H_INCLUDED
#define GOSSIP_FETCH_INT_H_INCLUDED
#include "gossip.h"
#include "gossip_data.h"
#include "gossip_fetchplan.h"
#include "irh_config.h"

#define GF_TRANSFERS_MAX   8            //  running at once; more wait queued
#define GF_LOOKUPS_MAX     256          //  lookups open at once; more: status 4 "busy"
#define GF_CANDIDATES_MAX  16           //  candidates asked per lookup
#define GF_READ_BYTES      (256 * 1024) //  content bytes per read (16 groups)
#define GF_READ_GROUPS     (GF_READ_BYTES / 16384)
#define GF_OB_PIECE        (1024 * 1024) //  outboard bytes per read
#define GF_READS_MAX       (GOSSIP_HOLDERS_MAX * GOSSIP_WINDOW_MAX)
#define GF_BAN_MS          60000        //  a holder that sent bad bytes
#define GF_NO_HOLDER_MS    60000        //  give up after this long without a live holder
#define GF_PROBE_MS        3000         //  re-ask a down holder's manifest at most this often
#define GF_LOST_BAN        3            //  downs without a good answer between: banned
#define GF_PERSIST_BYTES   (4 * 1024 * 1024) //  write .have after this much progress
#define GF_OUTBOARD_MAX    (64ULL << 20) //  outboard held in RAM: blobs up to 32 TiB
#define GF_TICK_MS         250
#define GF_ENDGAME_MS      1000         //  a tail read this old is also asked elsewhere
#define GF_STAGING_MAX_AGE_S (24 * 3600) //  staging nobody resumed: removed at start

typedef struct _gf_transfer_t gf_transfer_t;
typedef struct _gf_lookup_t gf_lookup_t;

typedef enum {
    GF_QUEUED = 0, GF_OUTBOARD, GF_CONTENT, GF_INGEST
} gf_state_t;

//  A request sent to a holder; the address of the slot is the xfer arg.
typedef struct {
    gf_transfer_t *transfer;
    bool used;
    int holder;
    uint8_t what;                   //  0 content, 1 outboard, 2 manifest probe
    uint32_t req;                   //  echoed in the answer
    bool duplicated;                //  endgame: asked from two holders
    uint64_t offset;                //  bytes (content or outboard)
    uint32_t length;
    uint64_t first, items;          //  content: groups asked
    int64_t sent_us;
} gf_read_t;

//  What we learned about a peer from real transfers.
typedef struct {
    uint64_t bw;                    //  bytes/s EWMA, 0 = none yet
    uint64_t rtt_us;                //  manifest round trips EWMA, 0 = none yet
    uint64_t transfers;
} gf_peer_t;

struct _gf_transfer_t {
    gossip_fetch_t *fetch;
    gf_state_t state;
    uint8_t key [32];
    irh_manifest_t manifest;        //  the holders' record (blob, size, cost)
    uint8_t first_holder [32];      //  origin when the manifest has none
    gossip_holders_t holders;
    int64_t probe_ms [GOSSIP_HOLDERS_MAX];      //  last manifest probe sent
    uint32_t lost [GOSSIP_HOLDERS_MAX];         //  went down since its last good answer
    int64_t busy_since [GOSSIP_HOLDERS_MAX];    //  us, outstanding went 0 -> 1
    uint64_t busy_us [GOSSIP_HOLDERS_MAX];      //  time with reads outstanding
    uint64_t busy_bytes [GOSSIP_HOLDERS_MAX];   //  bytes answered in that time
    gf_read_t reads [GF_READS_MAX];
    gf_read_t probes [GOSSIP_HOLDERS_MAX];
    gossip_plan_t *plan;            //  content groups
    uint8_t *outboard;              //  the list: verified once state is content
    uint64_t ob_size;               //  0: a blob of one group has none
    gossip_plan_t *ob_plan;         //  outboard pieces of GF_OB_PIECE bytes
    uint32_t ob_from;               //  bit i: holder i served outboard pieces
    int ob_holder;                  //  the holder serving the outboard, -1 none
    int fd;                         //  <blob>.part
    char *part_path, *ob_path, *have_path;
    uint64_t received;              //  bytes over the network (content + outboard)
    uint64_t since_persist;
    int64_t started_ms, live_ms;    //  start; last time a holder was live
    zlistx_t *waiters;              //  gf_lookup_t *; each has its own deadline
    bool ended;                     //  answered: freed by the next tick
    bool resumed;                   //  staging of an earlier attempt was used
};

struct _gossip_fetch_t {
    gossip_xfer_t *xfer;
    gossip_digests_t *digests;
    gossip_calls_t *calls;
    swim_t *swim;
    gossip_net_t *net;              //  producers' sign keys, from their hellos
    irh_config_t *config;           //  ns.<name>.producers
    gossip_ns_t *ns;                //  namespaces with a secret (gossip_ns.h)
    irh_worker_t *worker;
    zloop_t *loop;
    char *fetch_dir;
    int timer_id;
    zlistx_t *lookups;              //  gf_lookup_t * asking or deciding
    zlistx_t *transfers;            //  gf_transfer_t *, running first
    zhashx_t *peers;                //  hex node id -> gf_peer_t *
    //  Counters (gossip_stats)
    uint64_t lookups_total, lookups_no_candidate, lookups_false_positive, lookups_not_found;
    uint64_t lookups_disagree, lookups_busy, manifest_timeouts, bad_manifests;
    uint64_t fetched, computed_verdict, computed_no_candidate, computed_not_found;
    uint64_t computed_failed, verdict_fetch, verdict_inf, verdict_fallback, decide_only;
    uint64_t transfers_started, transfers_resumed, transfers_failed, transfers_queued;
    uint64_t bytes_received, groups_verified, groups_resumed, bad_chunks, bad_answers;
    uint64_t bad_outboards, endgame_reads, read_timeouts, holders_dropped, holders_banned, probes_sent;
    uint64_t ingest_ok, ingest_exists, ingest_failed, have_refused, staging_errors;
    uint64_t fetched_inline, bad_inline, verdict_carried;
    uint64_t manifest_bad_signature, refused_producer, manifest_bad_ns;
};

//  gossip_lookup.c
void gf_lookup_finish (gf_lookup_t *lookup, uint8_t status, const char *reason,
                       uint64_t bytes);
void gf_lookup_destroy_all (gossip_fetch_t *self);
int64_t gf_lookup_deadline (gf_lookup_t *lookup);
const uint8_t *gf_lookup_key (gf_lookup_t *lookup);
//  The lookup waits on transfer from now on.
void gf_lookup_attach (gf_lookup_t *lookup, gf_transfer_t *transfer);

//  gossip_fetch.c
//  Attach lookup to the transfer of manifest's blob (new or running) with
//  its holders. 0, or -1 (lookup not attached: the caller replies).
//  The transfer of manifest's blob (running, queued, or new and queued),
//  with holders added; NULL when out of memory. The caller attaches its
//  lookup to transfer->waiters (gf_lookup_attach), then calls gf_fetch_kick.
gf_transfer_t *gf_transfer_join (gossip_fetch_t *self, const uint8_t *key,
                                 const irh_manifest_t *manifest, uint8_t (*holders) [32],
                                 size_t count);
//  Start queued transfers while fewer than GF_TRANSFERS_MAX run.
void gf_fetch_kick (gossip_fetch_t *self);
//  Answer every waiter (status 4, reason) and end the transfer; staging
//  files stay for a resume.
void gf_transfer_fail (gf_transfer_t *transfer, const char *reason);
void gf_transfer_ingest (gf_transfer_t *transfer);
//  Ask the store to ingest key: the staged file at path, or content (a
//  blob of at most one group, path NULL). holders_record is the holders'
//  manifest; its origin becomes holder when zeros (that holder computed
//  it). 0 sent (fn called once), -1 not sent.
int gf_ingest_send (gossip_fetch_t *self, const uint8_t *key,
                    const irh_manifest_t *holders_record, const uint8_t *holder,
                    const char *path, const uint8_t *content, size_t content_size,
                    int timeout_ms, gossip_call_fn *fn, void *arg);
void gf_transfer_persist (gf_transfer_t *transfer);
int gf_transfer_save_outboard (gf_transfer_t *transfer);
gf_peer_t *gf_peer (gossip_fetch_t *self, const uint8_t *id, bool create);
//  Learned RTT in us: transfers first, then swim's probes; 0 = unknown.
uint64_t gf_peer_rtt_us (gossip_fetch_t *self, const uint8_t *id);
//  The member's gossip address, NULL when not alive/suspect.
const char *gf_peer_address (gossip_fetch_t *self, const uint8_t *id, char *out, size_t size);
void gf_short_id (const uint8_t *id, char out [13]);

//  gossip_staging.c
//  Open (or reopen) the .part, preallocated: 1 when an existing file of
//  the right size was kept (resume), 0 new, -1 with *why.
int gf_staging_open_part (gf_transfer_t *transfer, const char **why);
//  The .have / .ob of an earlier attempt, when they fit this blob.
void gf_staging_load_have (gf_transfer_t *transfer);
void gf_staging_load_outboard (gf_transfer_t *transfer);
void gf_staging_remove (gf_transfer_t *transfer, bool part_too);
void gf_staging_sweep (const char *dir, int64_t max_age_s);

//  gossip_transfer.c
//  Send what the transfer's state and credit allow.
void gf_transfer_pump (gf_transfer_t *transfer);
//  Cancel every request of the transfer (it is going away or restarting).
void gf_transfer_cancel_reads (gf_transfer_t *transfer);
//  Re-ask down holders whose ban ended or who may be back; fail when none is left.
void gf_transfer_tick (gf_transfer_t *transfer, int64_t now);
//  Holder i died (alive false: its reads re-queued) or came back (probe it).
void gf_transfer_member (gf_transfer_t *transfer, int i, bool alive);
//  Set up the outboard or content phase (staging files ready, state set).
void gf_transfer_begin (gf_transfer_t *transfer);
//  Drop holder i's outstanding reads (re-queued).
void gf_transfer_drop_reads (gf_transfer_t *transfer, int i);

#endif
