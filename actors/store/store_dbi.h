/*  store_dbi.h: internals of the store's LMDB layer, shared by
    store_db.c (transactions, removal, touches, get), store_env.c (open,
    close, sync, space reserve), store_put.c and store_ops.c (ls, evict,
    gc, claims, stats). Not for use outside actors/store/.
*/
#ifndef STORE_DBI_H_INCLUDED
#define STORE_DBI_H_INCLUDED
#include "store_db.h"
#include <lmdb.h>

//  Size sums kept in "meta", changed only inside write transactions.
typedef struct {
    uint64_t bytes_total;       //  content bytes of all blobs (deduplicated)
    uint64_t inline_bytes;
    uint64_t file_bytes;
} store_sums_t;

//  One write transaction in progress: sums are a working copy that
//  becomes current on commit; files are unlinked after commit.
typedef struct {
    MDB_txn *txn;
    store_sums_t sums;
    zlist_t *unlink;            //  malloc'd paths of file blobs to delete
    uint64_t removed;           //  entries removed in this txn
    uint64_t freed;             //  content bytes freed in this txn
    zlist_t *digest_ops;        //  key digest changes, applied on commit
} store_wtxn_t;

struct _store_db_t {
    MDB_env *env;
    MDB_dbi results, blobs, refs, fnindex, lru, expiry, claims, meta, ttl, each;
    char *store_dir, *blobs_dir, *staging_dir, *tmp_dir;
    char *staging_real;         //  realpath of staging_dir
    char *fetch_dir, *fetch_real;   //  ingest sources (store_db_set_fetch_dir)
    zhashx_t *digests;          //  namespace -> irh_digest_t (store_digest.c)
    uint64_t digest_open_us;    //  time the open-time scan took
    store_db_config_t config;
    uint64_t map_now;           //  current map size
    store_sums_t sums;
    uint64_t counters [STORE_COUNTERS];
    uint64_t saved [STORE_COUNTERS];     //  as last written to meta
    zhashx_t *touches;          //  hex key -> uint64_t accessed_us (malloc'd)
    uint64_t clock_us;          //  test clock, 0 = real
    bool dirty;                 //  committed since the last store_db_sync
    int64_t synced_ms;          //  monotonic time of the last sync
    int64_t reserve_retry_ms;   //  when to make the space reserve again; INT64_MAX: made
    uint64_t logged;            //  bit per counter: its first refusal was logged
    char reset_reason [600];    //  why the environment was last set aside, "" never
    char error_code [32];
    char error_text [512];
};

//  Key sizes.
#define STORE_KEY_SIZE      32
#define STORE_FN_PREFIX     400     //  fnindex keeps this much of fn (LMDB key <= 511)

extern const char *store_counter_names [STORE_COUNTERS];
extern const char *store_dbi_sum_names [3];

//  mkdir 0700; an existing directory is fine. 0 or -1.
int store_dbi_mkdir (const char *path);
//  u64 big-endian values of the "meta" database (0 when absent).
int store_dbi_meta_put_u64 (store_db_t *self, MDB_txn *txn, const char *name, uint64_t value);
uint64_t store_dbi_meta_get_u64 (store_db_t *self, MDB_txn *txn, const char *name);
//  Make the space reserve if it is missing and there is room (rate-limited).
void store_dbi_reserve_make (store_db_t *self);

//  Set error code and text; returns -1.
int store_dbi_fail (store_db_t *self, const char *code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
//  Refuse outside input: "bad-request" with the text, counts counter and
//  bad_requests, logs the first refusal of each counter. Returns -1.
int store_dbi_refuse (store_db_t *self, store_counter_t counter, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
//  Set "io" from an LMDB return code; counts it. Returns -1.
int store_dbi_mdb_fail (store_db_t *self, const char *what, int rc);

//  Write transactions.
int store_dbi_begin (store_db_t *self, store_wtxn_t *w);
//  Writes counters, sums and commits; then unlinks files. Returns 0 or the
//  LMDB error (MDB_MAP_FULL is left for the caller to handle, not failed).
int store_dbi_commit (store_db_t *self, store_wtxn_t *w);
void store_dbi_abort (store_db_t *self, store_wtxn_t *w);
//  Begin a transaction that only deletes (evict, gc, expiry, eviction for
//  room): on a nearly full filesystem the space reserve is released first,
//  so the commit finds room.
int store_dbi_begin_delete (store_db_t *self, store_wtxn_t *w);
//  Give up the space reserve (remade later when there is room).
void store_dbi_reserve_release (store_db_t *self);

//  Remove result key (its manifest m, or NULL if it did not decode) and
//  drop the blob reference. Returns 0 or an LMDB error.
int store_dbi_remove (store_db_t *self, store_wtxn_t *w, const uint8_t *key,
                      const irh_manifest_t *m);
//  Evict least recently used entries, except keep (may be NULL), until the
//  content total is at most target or nothing is left. Returns 0 or an
//  LMDB error; w->removed counts them.
int store_dbi_evict_lru (store_db_t *self, store_wtxn_t *w, uint64_t target,
                         const uint8_t *keep);
//  Delete key from dbi; a missing key is not an error.
int store_dbi_del (MDB_txn *txn, MDB_dbi dbi, const void *key, size_t size);
//  Drop one reference to a blob; at zero the record goes and its file is
//  queued for unlinking after commit.
int store_dbi_decref (store_db_t *self, store_wtxn_t *w, const uint8_t *hash);
//  Read and decode the manifest of key: 0, MDB_NOTFOUND, 1 if it does not
//  decode, or an LMDB error.
int store_dbi_manifest (store_db_t *self, MDB_txn *txn, const uint8_t *key,
                        irh_manifest_t *m);
int store_dbi_put_manifest (store_db_t *self, MDB_txn *txn, const uint8_t *key,
                            const irh_manifest_t *m);
//  Remove a corrupt entry (m NULL if its manifest did not decode); with
//  blob_bad, its blob goes too. Logs and counts.
void store_dbi_drop_corrupt (store_db_t *self, const uint8_t *key, const irh_manifest_t *m,
                             bool blob_bad, const char *why);
//  Move key's expiry to expires_us (manifest m and the expiry index),
//  inside w; m is updated, the caller writes it.
int store_dbi_set_expiry (store_db_t *self, store_wtxn_t *w, const uint8_t *key,
                          irh_manifest_t *m, uint64_t expires_us);
//  Idle TTL of key in ms (the "ttl" database), 0 if it has none.
uint64_t store_dbi_ttl (store_db_t *self, MDB_txn *txn, const uint8_t *key);
//  expires_us for an access at now_us with an idle TTL of ttl_ms (0: none).
uint64_t store_dbi_expiry_at (uint64_t now_us, uint64_t ttl_ms);
//  Apply pending touches inside w.
int store_dbi_apply_touches (store_db_t *self, store_wtxn_t *w);

//  Is holder ("<pid>@<host>/<uuid>") a process of this machine that no
//  longer exists? (store_ops.c; claims and the claims_active figure.)
bool store_dbi_holder_dead (const char *holder);
//  Is holder a process of another node, held here for the key's arbiter
//  ("n<16 hex of its node>:<holder>", as the gossip actor stores them;
//  docs/claims.md)? Such a claim is not work this node does.
bool store_dbi_holder_remote (const char *holder);
//  One claim step inside txn (store_ops.c), shared by claim and each_claim:
//  returns 2 if key is done (a live result), 1 if another live holder has
//  it (claim filled), 0 if it was granted to holder (written into txn,
//  claim filled) or, when grant is false, 3 if it is free. A claim whose
//  local holder is gone counts as free. -1 on an LMDB error (*mdb_rc).
int store_dbi_claim_step (store_db_t *self, MDB_txn *txn, const uint8_t *key,
                          const char *holder, uint64_t lease_ms, bool grant,
                          irh_claim_rec_t *claim, int *mdb_rc);
//  True when manifest m has not expired.
bool store_dbi_live (store_db_t *self, const irh_manifest_t *m);

//  Key digests (store_digest.c). Build every namespace's digest from the
//  results database (at open). 0 or an LMDB error.
int store_dbi_digest_build (store_db_t *self);
void store_dbi_digest_destroy (store_db_t *self);
//  Note inside w that key (manifest m, as stored) was added to or removed
//  from results; applied to the digests only when w commits. Results with
//  flags bit 1 (local_only) are in no digest; m NULL (a manifest that did
//  not decode: its namespace is unknown) is counted as inconsistent.
void store_dbi_digest_note (store_db_t *self, store_wtxn_t *w, const uint8_t *key,
                            const irh_manifest_t *m, bool add);
//  After w committed: apply its notes, rebuild digests that outgrew their
//  size. Frees the notes (also what abort calls, with apply false).
void store_dbi_digest_apply (store_db_t *self, store_wtxn_t *w, bool apply);
//  Drop digests whose namespace has no key left (gc).
void store_dbi_digest_prune (store_db_t *self);
//  Namespace (ns: IRH_MANIFEST_NS_MAX + 1 bytes) and flags of an encoded
//  manifest without decoding it whole (the open-time scan's reader): 0, or
//  -1 where irh_manifest_decode_buf fails too (fuzz_manifest_peek checks
//  that they always agree).
int store_dbi_manifest_peek (const uint8_t *buf, size_t size, char *ns, uint32_t *flags);
//  Stats rows computed from the digests (digests, digest_keys, digest_saturated).
uint64_t store_dbi_digest_stat (store_db_t *self, const char *name);

//  Index keys: 8-byte big-endian time + 32-byte key; fn prefix + 0 + key.
void store_dbi_time_key (uint8_t out [40], uint64_t t, const uint8_t *key);
size_t store_dbi_fn_key (uint8_t *out, const char *fn, const uint8_t *key);
uint64_t store_dbi_get_be64 (const uint8_t *p);
void store_dbi_put_be64 (uint8_t *p, uint64_t v);
//  Lists of malloc'd items (czmq's autofree would copy them as strings).
void store_dbi_list_purge (zlist_t *list);
void store_dbi_list_free (zlist_t **list_p);
char *store_dbi_blob_path (store_db_t *self, const uint8_t *hash);

#endif
