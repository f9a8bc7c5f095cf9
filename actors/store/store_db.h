/*  store_db.h: the store's LMDB layer (docs/store.md, proto/store-layout.md).

    Owns the LMDB environment <home>/store/ and the blob files under
    <home>/blobs/. Knows nothing about sockets: the actor (store_server.c)
    decodes requests, calls these functions and encodes replies, and the
    self-test drives them directly.

    Every mutation of results is ONE write transaction (manifest, blob,
    refcount, indexes and size sums together), so a crash at any instant
    leaves the old state or the new one. Blob files are written to a temp
    file, fsync'ed and renamed into place before that transaction commits;
    a crash in between leaves an orphan file that gc removes, never a
    manifest pointing at nothing.

    Errors: functions return -1 and set a code (proto/README.md service
    codes: "bad-request", "full", "io", "corrupt", "not-found") and a one
    line text, read with store_db_error_code/_text.
*/
#ifndef STORE_DB_H_INCLUDED
#define STORE_DB_H_INCLUDED
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "irh_msgs.h"
#include "irh_table.h"
#include "irh_digest.h"

typedef struct _store_db_t store_db_t;

typedef struct {
    uint64_t map_size;          //  ceiling of the LMDB map (store.map_size)
    uint64_t map_initial;       //  0 = open at map_size; else grow from here
    uint64_t inline_max;        //  content above this goes to a file
    uint64_t max_bytes;         //  size cap on stored content, 0 = none
    uint64_t default_ttl_ms;    //  0 = results never expire; else idle time to expiry
    uint64_t sync_interval_ms;  //  0 = fsync every commit; else store_db_sync
                                //  is due this often (store.sync_interval)
} store_db_config_t;

//  Defaults (docs/store.md says why).
#define STORE_DB_MAP_SIZE       (64ULL << 30)
#define STORE_DB_INLINE_MAX     (64ULL << 10)
#define STORE_DB_SYNC_INTERVAL  1000
#define STORE_DB_FORMAT         2       //  proto/store-layout.md; 1 is migrated at open

//  Counters: kept in memory, written to the "meta" database with every
//  write transaction, so they survive restarts.
typedef enum {
    STORE_HITS, STORE_MISSES, STORE_PUTS, STORE_DEDUPED, STORE_CORRUPT,
    STORE_EVICTIONS, STORE_EXPIRED, STORE_BAD_REQUESTS, STORE_BAD_PATHS,
    STORE_MAP_FULL, STORE_MAP_GROWN, STORE_PUT_ERRORS, STORE_IO_ERRORS,
    STORE_CLAIMS_GRANTED, STORE_CLAIMS_HELD, STORE_CLAIMS_WAITED,
    STORE_CLAIMS_RELEASED, STORE_TOUCHES, STORE_GC_RUNS, STORE_HITS_LOCAL,
    STORE_CLAIMS_DEAD, STORE_RESETS, STORE_NO_SPACE, STORE_GC_REFUSED,
    STORE_INGESTED, STORE_INGEST_REFUSED, STORE_INGEST_MISMATCH, STORE_INGEST_EXISTS,
    STORE_DIGEST_REBUILDS, STORE_DIGEST_INCONSISTENT,
    STORE_EACH_REQUESTS, STORE_EACH_DONE, STORE_EACH_RECORDED,
    STORE_COUNTERS
} store_counter_t;

//  Result of a get.
typedef struct {
    uint8_t reason;             //  miss: 0 absent, 1 expired, 2 corrupt
    irh_manifest_t manifest;    //  hit: the manifest record
    zframe_t *content;          //  hit: verified content, or NULL when path is set
    char path [4097];           //  hit on a file blob with want_path: its path
} store_db_hit_t;

//  Open (creating) the environment in store_dir, blob files in blobs_dir;
//  staged puts must come from staging_dir. NULL on failure, *err malloc'd.
store_db_t *store_db_new (const char *store_dir, const char *blobs_dir,
                          const char *staging_dir, const store_db_config_t *config,
                          char **err);
//  Periodic-sync mode: write what was committed since the last sync to
//  disk (LMDB data and meta pages, blob files) once sync_interval_ms has
//  passed, or now if force. No-op when nothing changed or in
//  sync-every-commit mode. 0 or -1.
int store_db_sync (store_db_t *self, bool force);
//  True when blob files and commits should be fsync'd one by one.
bool store_db_sync_always (store_db_t *self);

//  Flushes pending touches and counters, closes the environment.
void store_db_destroy (store_db_t **self_p);

//  Store a result. Content is data/size (put->src 0) or the staged file
//  put->path (src 1), which is moved into place (or deleted if its content
//  is already stored). Releases any claim on the key. Returns 0 and fills
//  reply, or -1.
int store_db_put (store_db_t *self, const irh_put_t *put, const uint8_t *data,
                  size_t size, irh_put_ok_t *reply);
//  Where ingested results must come from: the gossip actor's fetch
//  directory (<home>/fetch, same filesystem as blobs_dir), made 0700 if
//  missing. Until it is set every ingest is refused. 0 or -1.
int store_db_set_fetch_dir (store_db_t *self, const char *fetch_dir);
//  Store a result a peer sent (store.def "ingest"): the regular file
//  ingest->path under the fetch directory must hash to the manifest's size
//  and blob. Stored like a put by path (one write transaction, the file
//  becomes the blob or is read inline), keeping the manifest's fn, ns,
//  codec, created_us, origin, cost record and flags (less local_only).
//  Never replaces a live result. Ends a claim on the key. Errors (code):
//  "bad-request", "exists", "mismatch", "full", "io". 0 or -1.
int store_db_ingest (store_db_t *self, const irh_ingest_t *ingest, irh_put_ok_t *reply);

//  Key digests, one per namespace with results (store_digest.c,
//  docs/store.md). Columns of digest_list, and its rows.
#define STORE_DB_DIGEST_COLUMNS "ns:s\tseed:u\tepoch:u\tcount:u\tnbits:u"
void store_db_digest_list (store_db_t *self, irh_table_t *table);
//  Namespace ns's digest as a peer_digest_delta from (seed, epoch) when
//  one can be cut, else peer_digest_full (seed 0: always whole). NULL with
//  error "not-found" when no digest of ns exists.
zframe_t *store_db_digest_get (store_db_t *self, const char *ns, uint64_t seed, uint64_t epoch);
//  The digest of namespace ns, or NULL (for tests; owned by the store).
irh_digest_t *store_db_digest (store_db_t *self, const char *ns);

//  Fetch and verify. Returns 0 on a hit (hit filled; caller destroys
//  hit->content), 1 on a miss (hit->reason), -1 on an error. A corrupt
//  entry is removed and counted, and answered as a miss.
int store_db_get (store_db_t *self, const uint8_t *key, bool want_path, store_db_hit_t *hit);
//  1 if a live (unexpired) result is stored, 0 if not, -1 on error.
int store_db_has (store_db_t *self, const uint8_t *key);
//  Record an access for LRU (kept in memory until store_db_flush).
//  Returns 1 if the key is stored, 0 if not, -1 on error.
int store_db_touch (store_db_t *self, const uint8_t *key);
//  Number of touches waiting to be written.
size_t store_db_pending (store_db_t *self);
//  Write pending touches and counters in one transaction.
int store_db_flush (store_db_t *self);

//  Columns of an ls table (store.def "ls"); ns, then producer (the
//  manifest's origin, zeros = this node) and signed were added last, so
//  older readers that look columns up by name keep working.
#define STORE_DB_LS_COLUMNS "key:x\tfn:s\tsize:u\tcodec:s\tcreated_us:u" \
                            "\taccessed_us:u\texpires_us:u\tns:s\tproducer:x\tsigned:b"
//  Append ls rows to table (columns STORE_DB_LS_COLUMNS); fn "" = all.
int store_db_ls (store_db_t *self, const char *fn, uint32_t limit, irh_table_t *table);
//  Evict one key (fn "") or every result of fn. count/bytes: entries
//  removed and content bytes freed.
int store_db_evict (store_db_t *self, const char *fn, const uint8_t *key,
                    uint64_t *count, uint64_t *bytes);
//  Remove expired results; *count gets how many. Cheap when none expired.
int store_db_expire (store_db_t *self, uint64_t *count);
//  Full collection: expired, unreferenced blobs (refcounts recomputed from
//  the manifests), orphan and temp files, old staging files, size cap.
int store_db_gc (store_db_t *self, irh_gc_reply_t *reply);

//  Claims (local run-once). status: 0 granted, 1 held by other, 2 done.
int store_db_claim (store_db_t *self, const uint8_t *key, const char *holder,
                    uint64_t lease_ms, irh_claim_reply_t *reply);
//  Drop holder's claim on key: 0 released, 1 not held by holder, -1 error.
int store_db_release (store_db_t *self, const uint8_t *key, const char *holder);
//  Release key's claim if its holder is a process of this machine that is
//  gone (holder "<pid>@<host>/..."): 1 released, 0 not, -1 error.
int store_db_reap (store_db_t *self, const uint8_t *key);
//  Run-once passes (store_each.c, store.def each_*). Record n keys (32
//  bytes each, concatenated) of namespace ns with their display names
//  (names[i], sizes[i] bytes of UTF-8, at most 1024). 0 or -1.
int store_db_each_pass (store_db_t *self, const char *ns, const uint8_t *keys, size_t n,
                        const char *const *names, const size_t *sizes);
//  One step of a pass (store.def each_claim): done marks, then claims.
//  states gets one byte per key looked at (*count of them), expires 8
//  bytes each; both must hold the request's key count. 0 or -1.
int store_db_each_claim (store_db_t *self, const irh_each_claim_t *req, uint8_t *states,
                         uint8_t *expires, size_t *count);
//  Rows of each_list (counts: STORE_DB_EACH_COUNT_COLUMNS, else
//  STORE_DB_EACH_COLUMNS). 0 or -1.
#define STORE_DB_EACH_COUNT_COLUMNS "state:s\tcount:u"
#define STORE_DB_EACH_COLUMNS "key:x\tname:s\tstate:s\tholder:s\texpires_us:u"
int store_db_each_list (store_db_t *self, const irh_each_list_t *req, irh_table_t *table);

//  For waiters: 0 stored, 1 live claim (expires_us set), 2 neither.
int store_db_state (store_db_t *self, const uint8_t *key, uint64_t *expires_us);

void store_db_count (store_db_t *self, store_counter_t counter, uint64_t n);
uint64_t store_db_counter (store_db_t *self, store_counter_t counter);
//  Value of any stats row by name (counters and sums), 0 if unknown.
uint64_t store_db_stat (store_db_t *self, const char *name);
//  Append stats rows (name:s value:u) / info rows (name:s value:s).
void store_db_stats (store_db_t *self, irh_table_t *table);
void store_db_info (store_db_t *self, irh_table_t *table);

const char *store_db_error_code (store_db_t *self);
const char *store_db_error_text (store_db_t *self);

//  Test hook: pretend the wall clock reads now_us (0 = the real clock).
void store_db_set_clock (store_db_t *self, uint64_t now_us);
uint64_t store_db_now (store_db_t *self);

void store_db_test (bool verbose);

#endif
