/*  store_digest.c: the store's key digests, one counting Bloom filter
    (common/irh_digest.h) per namespace that has results, which the gossip
    actor hands to peers (digest_list, digest_get; docs/store.md).

    A key is in its namespace's digest exactly when its manifest is in the
    results database, decodes, and does not have flags bit 1 (local_only).
    Every path that adds or removes a result (put, ingest, evict, expiry,
    gc, eviction for the size cap or for room, corrupt entries) goes
    through store_dbi_remove or the put transaction, which note the change
    in the write transaction (store_dbi_digest_note); the notes are applied
    only when it commits, so an aborted or retried transaction never
    touches a digest, and a key is removed only if it was added. Whatever
    does not fit (a removal the filter refuses, a removed manifest that did
    not decode, so its namespace is unknown) is counted as
    digest_inconsistent: the worst it leaves is a bit set for a key we no
    longer hold, a false positive for peers, until the next rebuild.

    Digests live in memory only. At open one pass over the results
    database builds them (a cursor walk; about 0.3 s for 1 M keys, see
    docs/store.md); a digest that outgrows its size is rebuilt from the
    keys of its namespace, with a new seed, so peers take it whole.
*/
#include "store_dbi.h"
#include "irh_hash.h"
#include "irh_log.h"
#include "irh_wire.h"

//  Headroom a digest is sized with, over the keys it holds when built:
//  it is rebuilt (a scan of the results database, and a whole digest to
//  every peer) when it has grown by half.
#define S_HEADROOM(count)   ((count) + (count) / 2)

//  One change noted in a write transaction. The namespace follows the
//  struct (flexible array): most notes are for short names.
typedef struct {
    uint8_t key [STORE_KEY_SIZE];
    bool add;
    char ns [];
} s_note_t;

static void
s_digest_free (void **item_p)
{
    irh_digest_destroy ((irh_digest_t **) item_p);
}

static zhashx_t *
s_digests_new (void)
{
    zhashx_t *digests = zhashx_new ();
    assert (digests);
    zhashx_set_destructor (digests, s_digest_free);
    return digests;
}

void
store_dbi_digest_destroy (store_db_t *self)
{
    zhashx_destroy (&self->digests);
}

//  Is the key of this manifest in a digest?
static inline bool
s_shared (const irh_manifest_t *m)
{
    return (m->flags & 2) == 0;
}

//  --------------------------------------------------------------------------
//  Reading a manifest's namespace and flags without decoding it whole: the
//  open-time scan reads every manifest, and a full decode (a 1.4 KB struct
//  cleared, every string copied) was a third of its time. Accepts exactly
//  what irh_manifest_decode_buf accepts (proto/store.def "manifest": id
//  32, blob, size, then the strings codec, fn, ns with u16 lengths, then
//  ten u64s, origin, u32 flags and the signature's three h256), and falls back to it if the layout
//  ever differs, so a key is in a digest exactly when its record decodes.

#define S_TAIL  (10 * 8 + 32 + 4 + 3 * 32) //  created_us ... rss_growth, origin, flags,
                                            //  sign_key, sig_r, sig_s

//  Strict UTF-8 without NUL, as the wire decoder wants; ASCII (the usual
//  case) is checked eight bytes at a time.
static bool
s_text_ok (const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy (&w, p + i, 8);
        //  high bit set, or a zero byte (the classic haszero test)
        if ((w & 0x8080808080808080ULL) || ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
            return irh_wire_utf8_valid (p, len);
    }
    for (; i < len; i++)
        if (p [i] == 0 || p [i] >= 0x80)
            return irh_wire_utf8_valid (p, len);
    return true;
}

int
store_dbi_manifest_peek (const uint8_t *p, size_t size, char *ns, uint32_t *flags)
{
    static const size_t limits [3] = { IRH_MANIFEST_CODEC_MAX, IRH_MANIFEST_FN_MAX,
                                       IRH_MANIFEST_NS_MAX };
    size_t off = 1 + 32 + 8;
    if (size < off || p [0] != IRH_MSG_MANIFEST)
        return -1;
    const uint8_t *name = NULL;
    size_t name_len = 0;
    for (int i = 0; i < 3; i++) {
        if (size - off < 2)
            return -1;
        size_t len = ((size_t) p [off] << 8) | p [off + 1];
        off += 2;
        if (len > limits [i] || size - off < len || !s_text_ok (p + off, len))
            return -1;
        name = p + off;
        name_len = len;
        off += len;
    }
    if (size - off != S_TAIL)
        return -1;
    memcpy (ns, name, name_len);
    ns [name_len] = 0;
    const uint8_t *f = p + size - 4 - 3 * 32;       //  flags, before the signature
    *flags = ((uint32_t) f [0] << 24) | ((uint32_t) f [1] << 16) | ((uint32_t) f [2] << 8) | f [3];
    return 0;
}

//  Namespace and flags of a results record: 0, or -1 if it does not decode.
static int
s_ns_flags (const MDB_val *k, const MDB_val *v, char *ns, uint32_t *flags)
{
    if (k->mv_size != STORE_KEY_SIZE)
        return -1;
    if (store_dbi_manifest_peek ((const uint8_t *) v->mv_data, v->mv_size, ns, flags) == 0)
        return 0;
    irh_manifest_t m;
    if (irh_manifest_decode_buf (v->mv_data, v->mv_size, &m))
        return -1;
    strcpy (ns, m.ns);
    *flags = m.flags;
    return 0;
}

//  --------------------------------------------------------------------------
//  Open-time build: one cursor pass. Key pointers stay valid in the map
//  for the life of the read transaction, so the pass keeps 16 bytes per
//  key (pointer and namespace slot) and creates each digest once, at the
//  size its count calls for, instead of growing it through rebuilds.

typedef struct {
    const uint8_t *key;
    size_t slot;
} s_seen_t;

//  Keys of one namespace, for irh_digest_rebuild.
typedef struct {
    const uint8_t **next, **end;
} s_range_t;

static const uint8_t *
s_range_next (void *arg)
{
    s_range_t *range = (s_range_t *) arg;
    return range->next < range->end ? *range->next++ : NULL;
}

int
store_dbi_digest_build (store_db_t *self)
{
    int64_t started = zclock_usecs ();
    zhashx_destroy (&self->digests);
    self->digests = s_digests_new ();
    MDB_txn *txn;
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return rc;
    MDB_stat st;
    size_t cap = mdb_stat (txn, self->results, &st) == 0 ? st.ms_entries : 0;
    s_seen_t *seen = (s_seen_t *) malloc ((cap ? cap : 1) * sizeof (s_seen_t));
    assert (seen);
    size_t nseen = 0;
    //  Namespaces: slot numbers in a hash (names -> slot + 1), counts in
    //  an array. Consecutive keys are in random order, so no shortcut.
    zhashx_t *slots = zhashx_new ();
    zlistx_t *names = zlistx_new ();
    zlistx_set_destructor (names, (zlistx_destructor_fn *) zstr_free);
    size_t *counts = NULL, nslots = 0;
    uint64_t skipped = 0;
    MDB_cursor *cursor;
    MDB_val k, v;
    rc = mdb_cursor_open (txn, self->results, &cursor);
    char ns [IRH_MANIFEST_NS_MAX + 1];
    uint32_t flags;
    for (int op = MDB_FIRST; !rc && (rc = mdb_cursor_get (cursor, &k, &v, op)) == 0;
         op = MDB_NEXT) {
        if (s_ns_flags (&k, &v, ns, &flags)) {
            skipped++;          //  gc or a get removes it; it is in no digest
            continue;
        }
        if (flags & 2)
            continue;           //  local_only
        size_t slot = (size_t) (uintptr_t) zhashx_lookup (slots, ns);
        if (slot == 0) {
            slot = ++nslots;
            zhashx_insert (slots, ns, (void *) (uintptr_t) slot);
            zlistx_add_end (names, strdup (ns));
            counts = (size_t *) realloc (counts, nslots * sizeof (size_t));
            assert (counts);
            counts [slot - 1] = 0;
        }
        if (nseen == cap) {             //  entries were added since mdb_stat: not in this txn
            cap = cap * 2 + 16;
            seen = (s_seen_t *) realloc (seen, cap * sizeof (s_seen_t));
            assert (seen);
        }
        seen [nseen++] = (s_seen_t) { (const uint8_t *) k.mv_data, slot - 1 };
        counts [slot - 1]++;
    }
    if (cursor)
        mdb_cursor_close (cursor);
    rc = rc == MDB_NOTFOUND ? 0 : rc;
    if (!rc) {
        //  Group the keys by namespace (a counting sort), then fill each
        //  digest through irh_digest_rebuild: a new generation whose
        //  filling flips are not logged (no peer could use them).
        const uint8_t **grouped = (const uint8_t **) malloc ((nseen ? nseen : 1) * sizeof (*grouped));
        size_t *start = (size_t *) calloc (nslots + 1, sizeof (size_t));
        assert (grouped && start);
        for (size_t slot = 0; slot < nslots; slot++)
            start [slot + 1] = start [slot] + counts [slot];
        size_t *fill = (size_t *) malloc ((nslots ? nslots : 1) * sizeof (size_t));
        assert (fill);
        memcpy (fill, start, nslots * sizeof (size_t));
        for (size_t i = 0; i < nseen; i++)
            grouped [fill [seen [i].slot]++] = seen [i].key;
        size_t slot = 0;
        for (char *name = zlistx_first (names); name; name = zlistx_next (names), slot++) {
            irh_digest_t *digest = irh_digest_new (IRH_DIGEST_MIN_KEYS);
            s_range_t range = { grouped + start [slot], grouped + start [slot + 1] };
            irh_digest_rebuild (digest, S_HEADROOM (counts [slot]), s_range_next, &range);
            zhashx_insert (self->digests, name, digest);
        }
        free (fill);
        free (start);
        free (grouped);
    }
    mdb_txn_abort (txn);
    self->digest_open_us = (uint64_t) (zclock_usecs () - started);
    if (!rc)
        irh_info ("store: key digests of %zu keys in %zu namespaces built in %llu ms%s",
                  nseen, nslots, (unsigned long long) self->digest_open_us / 1000,
                  skipped ? " (some manifests do not decode: in no digest)" : "");
    free (seen);
    free (counts);
    zlistx_destroy (&names);
    zhashx_destroy (&slots);
    return rc;
}

//  --------------------------------------------------------------------------
//  Changes, applied on commit

void
store_dbi_digest_note (store_db_t *self, store_wtxn_t *w, const uint8_t *key,
                       const irh_manifest_t *m, bool add)
{
    if (!m) {
        //  Its namespace is unknown: if it ever was in a digest, its bits
        //  stay set until that digest is rebuilt.
        self->counters [STORE_DIGEST_INCONSISTENT]++;
        return;
    }
    if (!s_shared (m))
        return;
    size_t len = strlen (m->ns);
    s_note_t *note = (s_note_t *) malloc (sizeof (s_note_t) + len + 1);
    assert (note);
    memcpy (note->key, key, STORE_KEY_SIZE);
    note->add = add;
    memcpy (note->ns, m->ns, len + 1);
    zlist_append (w->digest_ops, note);
}

//  The next key of namespace ns in the results database, for a rebuild.
typedef struct {
    store_db_t *self;
    MDB_cursor *cursor;
    const char *ns;
    int op;
} s_walk_t;

static const uint8_t *
s_walk_next (void *arg)
{
    s_walk_t *walk = (s_walk_t *) arg;
    MDB_val k, v;
    char ns [IRH_MANIFEST_NS_MAX + 1];
    uint32_t flags;
    while (walk->cursor && mdb_cursor_get (walk->cursor, &k, &v, walk->op) == 0) {
        walk->op = MDB_NEXT;
        if (s_ns_flags (&k, &v, ns, &flags) == 0 && !(flags & 2) && streq (ns, walk->ns))
            return (const uint8_t *) k.mv_data;
    }
    return NULL;
}

//  Rebuild ns's digest from the keys the results database holds: a full
//  walk (there is no namespace index), as often as the key count grows
//  by half. The new generation has a new seed: peers take it whole.
static void
s_rebuild (store_db_t *self, const char *ns, irh_digest_t *digest)
{
    MDB_txn *txn;
    s_walk_t walk = { self, NULL, ns, MDB_FIRST };
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (rc == 0 && mdb_cursor_open (txn, self->results, &walk.cursor))
        walk.cursor = NULL;
    if (rc == 0 && walk.cursor) {
        size_t before = irh_digest_count (digest);
        irh_digest_rebuild (digest, S_HEADROOM (before), s_walk_next, &walk);
        self->counters [STORE_DIGEST_REBUILDS]++;
        irh_info ("store: key digest of namespace \"%s\" rebuilt for %zu keys (%zu held)",
                  ns, irh_digest_design (digest), irh_digest_count (digest));
        mdb_cursor_close (walk.cursor);
    }
    else
        irh_warn ("store: cannot rebuild the key digest of \"%s\": %s", ns,
                  rc ? mdb_strerror (rc) : "no cursor");
    if (rc == 0)
        mdb_txn_abort (txn);
}

void
store_dbi_digest_apply (store_db_t *self, store_wtxn_t *w, bool apply)
{
    if (!w->digest_ops)
        return;
    zlist_t *grown = NULL;            //  names of digests that may need a rebuild
    s_note_t *note;
    while ((note = (s_note_t *) zlist_pop (w->digest_ops))) {
        if (!apply) {
            free (note);
            continue;
        }
        //  A key stored again in the same namespace (a refresh) is a
        //  removal then an add: nothing changes, and nothing is logged.
        s_note_t *then = (s_note_t *) zlist_first (w->digest_ops);
        if (!note->add && then && then->add && memcmp (then->key, note->key, STORE_KEY_SIZE) == 0
        &&  streq (then->ns, note->ns) && zhashx_lookup (self->digests, note->ns)) {
            free (note);
            free (zlist_pop (w->digest_ops));
            continue;
        }
        irh_digest_t *digest = (irh_digest_t *) zhashx_lookup (self->digests, note->ns);
        if (note->add) {
            if (!digest) {
                digest = irh_digest_new (IRH_DIGEST_MIN_KEYS);
                zhashx_insert (self->digests, note->ns, digest);
            }
            irh_digest_add (digest, note->key);
            if (irh_digest_needs_rebuild (digest)) {
                if (!grown)
                    grown = zlist_new ();
                zlist_append (grown, note);
                continue;
            }
        }
        else
        if (!digest || irh_digest_remove (digest, note->key)) {
            self->counters [STORE_DIGEST_INCONSISTENT]++;
            char hex [IRH_HASH_HEX_SIZE];
            irh_debug ("store: key %s of namespace \"%s\" was not in its digest",
                       irh_hash_hex (note->key, hex), note->ns);
        }
        free (note);
    }
    zlist_destroy (&w->digest_ops);
    while (grown && (note = (s_note_t *) zlist_pop (grown))) {
        irh_digest_t *digest = (irh_digest_t *) zhashx_lookup (self->digests, note->ns);
        if (digest && irh_digest_needs_rebuild (digest))
            s_rebuild (self, note->ns, digest);
        free (note);
    }
    zlist_destroy (&grown);
}

void
store_dbi_digest_prune (store_db_t *self)
{
    zlist_t *empty = zlist_new ();
    for (irh_digest_t *digest = zhashx_first (self->digests); digest;
         digest = zhashx_next (self->digests))
        if (irh_digest_count (digest) == 0)
            zlist_append (empty, (void *) zhashx_cursor (self->digests));
    for (const char *ns = zlist_first (empty); ns; ns = zlist_next (empty))
        zhashx_delete (self->digests, ns);
    zlist_destroy (&empty);
}

//  --------------------------------------------------------------------------
//  Requests and stats

void
store_db_digest_list (store_db_t *self, irh_table_t *table)
{
    //  In name order, so the listing is stable.
    zlistx_t *names = zhashx_keys (self->digests);
    zlistx_set_comparator (names, (zlistx_comparator_fn *) strcmp);
    zlistx_sort (names);
    for (const char *ns = zlistx_first (names); ns; ns = zlistx_next (names)) {
        irh_digest_t *digest = (irh_digest_t *) zhashx_lookup (self->digests, ns);
        irh_table_row (table);
        irh_table_str (table, ns);
        irh_table_u64 (table, irh_digest_seed (digest));
        irh_table_u64 (table, irh_digest_epoch (digest));
        irh_table_u64 (table, irh_digest_count (digest));
        irh_table_u64 (table, irh_digest_nbits (digest));
    }
    zlistx_destroy (&names);
}

zframe_t *
store_db_digest_get (store_db_t *self, const char *ns, uint64_t seed, uint64_t epoch)
{
    irh_digest_t *digest = store_db_digest (self, ns);
    if (!digest) {
        store_dbi_fail (self, "not-found", "no key digest of namespace \"%.255s\"", ns);
        return NULL;
    }
    zframe_t *frame = seed ? irh_digest_encode_delta (digest, ns, seed, epoch) : NULL;
    if (!frame)
        frame = irh_digest_encode_full (digest, ns);
    return frame;
}

irh_digest_t *
store_db_digest (store_db_t *self, const char *ns)
{
    assert (self && ns);
    return (irh_digest_t *) zhashx_lookup (self->digests, ns);
}

uint64_t
store_dbi_digest_stat (store_db_t *self, const char *name)
{
    if (streq (name, "digests"))
        return zhashx_size (self->digests);
    uint64_t sum = 0;
    bool keys = streq (name, "digest_keys");
    for (irh_digest_t *digest = zhashx_first (self->digests); digest;
         digest = zhashx_next (self->digests))
        sum += keys ? irh_digest_count (digest) : irh_digest_saturated (digest);
    return sum;
}
