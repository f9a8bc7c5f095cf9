/*  gossip_ns.c: namespaces as the wire sees them (gossip_ns.h,
    docs/namespaces.md).

    A namespace without a secret travels under its name, keys as they are,
    and every live member takes part. A namespace with a secret (a file of
    <home>/ns/, read at start and every S_RELOAD_MS) is known locally under two spellings: its
    name (what the user typed) and its id (64 hex, key[1] of its schedule).
    The Python client stores its results under the id, with keys already
    blinded, so the store, digests, manifests and claims carry the id and
    blinded keys and nothing else: the id is also the wire name.

    Membership: a peer is a member of a secret namespace once it sent us
    peer_ns_proof with the pairwise tag MAC(key 4, "irohds-ns-proof" ||
    sender || receiver) for it, checked against the sender's CURVE key
    (the data socket's ZAP user id). We send ours to every member when it
    becomes alive, asking for theirs, and again every S_RESEND_MS to live
    peers we have not heard from (a lost push). A tag that matches none of
    our namespaces says nothing and is only counted (unmatched); one that
    is a valid tag of another pair we know (copied from another link, or
    ours reflected) is a replay: counted as bad, never membership.

    Reading <home>/ns every few seconds costs one open and parse per file
    and a key derivation per namespace (microseconds each); nothing
    changes, and nothing is logged, unless the folder's content did.

    Cost: every pairwise tag of every known peer is indexed (two MACs per
    namespace when a peer becomes alive, all of them again when the
    secrets change); a received tag is one salted hash and one lookup,
    whatever the number of namespaces and peers.
*/
#include "gossip_ns.h"
#include "gossip_data.h"
#include "irh_hash.h"
#include "irh_log.h"
#include "irh_nssecret.h"
#include <assert.h>
#include <czmq.h>
#include <sodium.h>
#include <string.h>

#define S_PROOF_LABEL   "irohds-ns-proof"
#define S_SECRETS_MAX   (IRH_PEER_NS_PROOF_TAGS_MAX / GOSSIP_NS_AUTH)
#define S_RESEND_MS     10000           //  proofs again to live peers not heard from
#define S_RELOAD_MS     3000            //  <home>/ns read again

typedef struct {
    char name [IRH_NS_NAME_MAX + 1];
    irh_ns_keys_t keys;
} s_secret_t;

//  A pairwise tag we know (gossip_ns_t.tags): what it proves.
typedef struct {
    uint8_t peer [32];
    size_t secret;
    bool incoming;                      //  peer -> us; else us -> peer
} s_tagref_t;

typedef struct {
    uint8_t id [32];
    bool heard;                         //  it sent us its proofs (maybe none)
    bool proved [S_SECRETS_MAX];        //  per secret: it proved it
} s_peer_t;

struct _gossip_ns_t {
    uint8_t self_id [32];
    s_secret_t *secrets;
    size_t count;
    zhashx_t *peers;                    //  hex id -> s_peer_t * (live members)
    //  Every pairwise tag of every known peer, both ways, under a salted
    //  hash of it: a received tag is matched, or told a replay, with one
    //  lookup (no MAC per namespace and peer, which a hostile peer's 256
    //  tags would make cost seconds), and no comparison an asker can time
    //  runs on a real tag's bytes.
    zhashx_t *tags;                     //  hex salted hash -> s_tagref_t *
    uint8_t salt [32];
    gossip_xfer_t *xfer;
    swim_t *swim;
    zloop_t *loop;
    int timer, reload_timer;
    char *ns_dir;                       //  NULL: no secrets (tests)
    uint8_t print [32];                 //  what the last read found
    bool loaded;
    gossip_ns_joined_fn *joined;
    void *joined_arg;
    struct {
        uint64_t secrets, secrets_refused, refused, bad_proofs, unmatched;
        uint64_t proofs_in, proofs_out, early;
    } c;
};

//  ---------------------------------------------------------------------
//  Secrets

static void s_tags_peer (gossip_ns_t *self, const uint8_t *peer, bool add);

//  Reads <home>/ns through the sandbox's read-only rule (at start and
//  every S_RELOAD_MS, so a namespace created, joined or left while the
//  daemon runs is used within seconds). Nothing changes unless what the
//  folder holds changed (the fingerprint of loaded ids and refusals):
//  then the secrets are replaced, each peer keeps what it proved of the
//  namespaces that stay, refused files are logged once, and true is
//  returned (the caller sends our proofs again).
static bool
s_load (gossip_ns_t *self)
{
    if (!self->ns_dir)
        return false;
    irh_ns_list_t list;
    char *err = NULL;
    uint8_t print [32];
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, sizeof print);
    if (irh_ns_list_load (self->ns_dir, &list, &err) != 0) {
        crypto_generichash_update (&state, (const uint8_t *) "!", 1);
        crypto_generichash_final (&state, print, sizeof print);
        if (memcmp (print, self->print, sizeof print) != 0)
            irh_warn ("namespace secrets: %s", err ? err : self->ns_dir);
        memcpy (self->print, print, sizeof print);
        self->c.secrets_refused = 1;
        free (err);
        return false;
    }
    size_t count = list.count < S_SECRETS_MAX ? list.count : S_SECRETS_MAX;
    for (size_t i = 0; i < list.count; i++)
        crypto_generichash_update (&state, (const uint8_t *) list.items [i].id,
                                   strlen (list.items [i].id) + 1);
    for (size_t i = 0; i < list.refused; i++)
        crypto_generichash_update (&state, (const uint8_t *) list.errors [i],
                                   strlen (list.errors [i]) + 1);
    crypto_generichash_final (&state, print, sizeof print);
    if (self->loaded && memcmp (print, self->print, sizeof print) == 0) {
        irh_ns_list_free (&list);
        return false;
    }
    memcpy (self->print, print, sizeof print);
    for (size_t i = 0; i < list.refused; i++)
        irh_warn ("namespace secret refused: %s", list.errors [i]);
    if (count < list.count)
        irh_warn ("namespace secrets: %zu files, only the first %d used", list.count,
                  S_SECRETS_MAX);
    s_secret_t *secrets =
        (s_secret_t *) sodium_malloc (count ? count * sizeof (s_secret_t) : 1);
    assert (secrets);
    for (size_t i = 0; i < count; i++) {
        snprintf (secrets [i].name, sizeof secrets [i].name, "%s", list.items [i].token.name);
        irh_ns_keys_derive (list.items [i].token.secret, list.items [i].token.name,
                            &secrets [i].keys);
    }
    //  What each peer proved, carried over by namespace id.
    for (s_peer_t *p = (s_peer_t *) zhashx_first (self->peers); p;
         p = (s_peer_t *) zhashx_next (self->peers)) {
        bool proved [S_SECRETS_MAX] = { false };
        for (size_t j = 0; j < count; j++)
            for (size_t i = 0; i < self->count; i++)
                if (p->proved [i]
                &&  strcmp (self->secrets [i].keys.id_hex, secrets [j].keys.id_hex) == 0)
                    proved [j] = true;
        memcpy (p->proved, proved, sizeof proved);
        p->heard = false;               //  it must see our new list
    }
    if (self->secrets) {
        sodium_memzero (self->secrets, self->count * sizeof (s_secret_t));
        sodium_free (self->secrets);
    }
    self->secrets = secrets;
    self->count = count;
    zhashx_purge (self->tags);
    for (s_peer_t *p = (s_peer_t *) zhashx_first (self->peers); p;
         p = (s_peer_t *) zhashx_next (self->peers))
        s_tags_peer (self, p->id, true);
    self->c.secrets = count;
    self->c.secrets_refused = list.refused + (list.count - count);
    if (list.count || list.refused || self->loaded)
        irh_info ("namespace secrets: %zu loaded, %zu refused", list.count, list.refused);
    self->loaded = true;
    irh_ns_list_free (&list);
    return true;
}

//  The secret namespace ns names (by id or by name), or NULL; *by_name
//  says which spelling it was.
static s_secret_t *
s_find (gossip_ns_t *self, const char *ns, bool *by_name)
{
    for (size_t i = 0; ns && i < self->count; i++) {
        if (strcmp (self->secrets [i].keys.id_hex, ns) == 0) {
            if (by_name)
                *by_name = false;
            return &self->secrets [i];
        }
        if (strcmp (self->secrets [i].name, ns) == 0) {
            if (by_name)
                *by_name = true;
            return &self->secrets [i];
        }
    }
    return NULL;
}

//  The pairwise tag from -> to of one namespace.
static void
s_tag (const s_secret_t *secret, const uint8_t *from, const uint8_t *to, uint8_t *tag)
{
    uint8_t data [sizeof S_PROOF_LABEL - 1 + 64];
    memcpy (data, S_PROOF_LABEL, sizeof S_PROOF_LABEL - 1);
    memcpy (data + sizeof S_PROOF_LABEL - 1, from, 32);
    memcpy (data + sizeof S_PROOF_LABEL - 1 + 32, to, 32);
    irh_ns_mac (&secret->keys, IRH_NS_KEY_CLAIM, data, sizeof data, tag);
}

static bool
s_tag_is (const s_secret_t *secret, const uint8_t *from, const uint8_t *to,
          const uint8_t *tag)
{
    uint8_t expected [32];
    s_tag (secret, from, to, expected);
    return sodium_memcmp (expected, tag, 32) == 0;
}

static void
s_tag_key (gossip_ns_t *self, const uint8_t *tag, char *key)
{
    uint8_t hash [32];
    crypto_generichash (hash, sizeof hash, tag, 32, self->salt, sizeof self->salt);
    irh_hash_hex (hash, key);
}

//  Index (add) or forget the tags of peer, both ways, in every namespace.
static void
s_tags_peer (gossip_ns_t *self, const uint8_t *peer, bool add)
{
    for (size_t i = 0; i < self->count; i++)
        for (int incoming = 0; incoming < 2; incoming++) {
            uint8_t tag [32];
            char key [65];
            if (incoming)
                s_tag (&self->secrets [i], peer, self->self_id, tag);
            else
                s_tag (&self->secrets [i], self->self_id, peer, tag);
            s_tag_key (self, tag, key);
            if (!add) {
                zhashx_delete (self->tags, key);
                continue;
            }
            s_tagref_t *ref = (s_tagref_t *) zmalloc (sizeof (s_tagref_t));
            assert (ref);
            memcpy (ref->peer, peer, 32);
            ref->secret = i;
            ref->incoming = incoming;
            if (zhashx_insert (self->tags, key, ref) != 0)
                free (ref);             //  indexed already
        }
}

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

static s_peer_t *
s_peer (gossip_ns_t *self, const uint8_t *id, bool create)
{
    char key [65];
    irh_hash_hex (id, key);
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, key);
    if (!peer && create) {
        peer = (s_peer_t *) zmalloc (sizeof (s_peer_t));
        assert (peer);
        memcpy (peer->id, id, 32);
        zhashx_insert (self->peers, key, peer);
        s_tags_peer (self, id, true);
    }
    return peer;
}

//  ---------------------------------------------------------------------
//  Proof messages

//  Our proofs for peer as a peer_ns_proof frame (ask: it should answer).
static zframe_t *
s_proof_frame (gossip_ns_t *self, const uint8_t *peer, bool ask)
{
    uint8_t tags [IRH_PEER_NS_PROOF_TAGS_MAX];
    for (size_t i = 0; i < self->count; i++)
        s_tag (&self->secrets [i], self->self_id, peer, tags + i * GOSSIP_NS_AUTH);
    irh_peer_ns_proof_t msg;
    memset (&msg, 0, sizeof msg);
    msg.flags = ask ? 1 : 0;
    msg.tags = tags;
    msg.tags_size = self->count * GOSSIP_NS_AUTH;
    zframe_t *frame = irh_peer_ns_proof_encode (&msg);
    sodium_memzero (tags, sizeof tags);
    return frame;
}

static void
s_push (gossip_ns_t *self, const uint8_t *peer, const char *address, bool ask)
{
    zframe_t *frame = s_proof_frame (self, peer, ask);
    if (frame) {
        self->c.proofs_out++;
        gossip_xfer_push (self->xfer, peer, address, &frame);
    }
}

static int
s_on_resend (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_ns_t *self = (gossip_ns_t *) arg;
    if (self->count == 0)
        return 0;                       //  nothing to prove
    size_t count = swim_size (self->swim);
    for (size_t i = 0; i < count; i++) {
        swim_member_t m;
        if (swim_member_at (self->swim, i, &m) != 0 || m.state != SWIM_ALIVE)
            continue;
        s_peer_t *peer = s_peer (self, m.node->id, true);
        if (!peer->heard)
            s_push (self, m.node->id, m.node->address, true);
    }
    return 0;
}

//  The secrets changed: every live member gets our new proofs (and
//  answers with its own, which may now match).
static int
s_on_reload (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_ns_t *self = (gossip_ns_t *) arg;
    if (!s_load (self))
        return 0;
    size_t count = swim_size (self->swim);
    for (size_t i = 0; i < count; i++) {
        swim_member_t m;
        if (swim_member_at (self->swim, i, &m) == 0 && m.state == SWIM_ALIVE)
            s_push (self, m.node->id, m.node->address, true);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  API

gossip_ns_t *
gossip_ns_new (const char *ns_dir, const uint8_t *self_id)
{
    //  sodium_malloc (guarded pages for the keys) needs the library set
    //  up; harmless when it already is.
    if (sodium_init () < 0)
        return NULL;
    gossip_ns_t *self = (gossip_ns_t *) zmalloc (sizeof (gossip_ns_t));
    assert (self);
    memcpy (self->self_id, self_id, 32);
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_free);
    self->tags = zhashx_new ();
    zhashx_set_destructor (self->tags, s_free);
    randombytes_buf (self->salt, sizeof self->salt);
    self->timer = self->reload_timer = -1;
    self->ns_dir = ns_dir ? strdup (ns_dir) : NULL;
    s_load (self);
    return self;
}

void
gossip_ns_destroy (gossip_ns_t **self_p)
{
    assert (self_p);
    gossip_ns_t *self = *self_p;
    if (self) {
        if (self->loop && self->timer >= 0)
            zloop_timer_end (self->loop, self->timer);
        if (self->loop && self->reload_timer >= 0)
            zloop_timer_end (self->loop, self->reload_timer);
        free (self->ns_dir);
        zhashx_destroy (&self->peers);
        zhashx_destroy (&self->tags);
        if (self->secrets) {
            sodium_memzero (self->secrets, self->count * sizeof (s_secret_t));
            sodium_free (self->secrets);
        }
        free (self);
        *self_p = NULL;
    }
}

void
gossip_ns_start (gossip_ns_t *self, gossip_xfer_t *xfer, swim_t *swim, zloop_t *loop,
                 gossip_ns_joined_fn *joined, void *arg)
{
    assert (self && xfer && swim && loop);
    self->xfer = xfer;
    self->swim = swim;
    self->loop = loop;
    self->joined = joined;
    self->joined_arg = arg;
    //  Nothing to prove without a secret: a node that holds none sends no
    //  proofs (it still answers an ask, with no tags).
    self->timer = zloop_timer (loop, S_RESEND_MS, 0, s_on_resend, self);
    self->reload_timer = zloop_timer (loop, S_RELOAD_MS, 0, s_on_reload, self);
}

void
gossip_ns_member_event (gossip_ns_t *self, const uint8_t *peer, const char *address,
                        bool alive)
{
    assert (self && peer);
    if (!alive) {
        //  Dead: its proofs go; back alive, it proves again.
        char key [65];
        irh_hash_hex (peer, key);
        if (zhashx_lookup (self->peers, key))
            s_tags_peer (self, peer, false);
        zhashx_delete (self->peers, key);
        return;
    }
    s_peer (self, peer, true);
    if (self->count && self->xfer && address)
        s_push (self, peer, address, true);
}

int
gossip_ns_proof_in (gossip_ns_t *self, const uint8_t *from, const uint8_t *data, size_t size,
                    bool *ask)
{
    assert (self && from);
    *ask = false;
    irh_peer_ns_proof_t msg;
    if (irh_peer_ns_proof_decode_buf (data, size, &msg) != 0
    ||  msg.tags_size % GOSSIP_NS_AUTH) {
        self->c.bad_proofs++;
        return -1;
    }
    s_peer_t *peer = s_peer (self, from, true);
    peer->heard = true;
    *ask = (msg.flags & 1) != 0;
    for (size_t t = 0; t < msg.tags_size / GOSSIP_NS_AUTH; t++) {
        const uint8_t *tag = msg.tags + t * GOSSIP_NS_AUTH;
        char key [65];
        s_tag_key (self, tag, key);
        s_tagref_t *ref = (s_tagref_t *) zhashx_lookup (self->tags, key);
        if (!ref)
            self->c.unmatched++;        //  noise, or a namespace we do not hold
        else
        if (!ref->incoming || memcmp (ref->peer, from, 32) != 0)
            self->c.bad_proofs++;       //  another pair's: copied, replayed or reflected
        else {
            size_t i = ref->secret;
            if (!peer->proved [i]) {
                peer->proved [i] = true;
                char who [13];
                snprintf (who, sizeof who, "%02x%02x%02x%02x%02x%02x", from [0], from [1],
                          from [2], from [3], from [4], from [5]);
                irh_debug ("ns: %s proved namespace %.16s", who, self->secrets [i].keys.id_hex);
                if (self->joined)
                    self->joined (self->joined_arg, from, self->secrets [i].keys.id_hex);
            }
        }
    }
    return 0;
}

void
gossip_ns_message (gossip_ns_t *self, const uint8_t *from, zframe_t *route, zframe_t *frame)
{
    assert (self && from && frame);
    self->c.proofs_in++;
    swim_member_t member;
    if (!self->swim || swim_member_find (self->swim, from, &member) != 0
    ||  member.state != SWIM_ALIVE) {
        self->c.early++;                //  not (yet) alive here: asked when it is
        return;
    }
    bool ask = false;
    if (gossip_ns_proof_in (self, from, zframe_data (frame), zframe_size (frame), &ask) != 0)
        return;
    //  It asks for ours: the answer goes back on its connection, with no
    //  ask (no ping-pong). Sent whatever it proved: what we hold is not
    //  told by whether or what we answer.
    if (ask && route && self->xfer) {
        zframe_t *answer = s_proof_frame (self, from, false);
        if (answer) {
            self->c.proofs_out++;
            gossip_xfer_reply (self->xfer, route, &answer);
        }
    }
}

size_t
gossip_ns_count (gossip_ns_t *self)
{
    return self->count;
}

bool
gossip_ns_secret (gossip_ns_t *self, const char *ns)
{
    return s_find (self, ns, NULL) != NULL;
}

const char *
gossip_ns_name (gossip_ns_t *self, const char *ns)
{
    s_secret_t *secret = s_find (self, ns, NULL);
    return secret ? secret->name : ns;
}

//  The secret namespace whose id is ns, or NULL: a secret namespace's
//  name, spelled out, is a public namespace as far as the wire goes (see
//  gossip_ns_visible for the one exception).
static s_secret_t *
s_find_id (gossip_ns_t *self, const char *ns)
{
    bool by_name = false;
    s_secret_t *secret = s_find (self, ns, &by_name);
    return by_name ? NULL : secret;
}

void
gossip_ns_wire (gossip_ns_t *self, const char *ns, char *wire)
{
    (void) self;
    snprintf (wire, GOSSIP_NS_WIRE_MAX, "%s", ns);     //  the id is the local name too
}

void
gossip_ns_key_out (gossip_ns_t *self, const char *ns, const uint8_t *key, uint8_t *wire_key)
{
    (void) self;
    (void) ns;
    memmove (wire_key, key, 32);        //  the client stored it blinded already
}

size_t
gossip_ns_proof (gossip_ns_t *self, const char *ns, const uint8_t *peer, uint8_t *auth)
{
    s_secret_t *secret = s_find_id (self, ns);
    if (!secret)
        return 0;
    s_tag (secret, self->self_id, peer, auth);
    return GOSSIP_NS_AUTH;
}

int
gossip_ns_accept (gossip_ns_t *self, const char *wire, const uint8_t *peer,
                  const uint8_t *auth, size_t auth_size, char *ns)
{
    if (strlen (wire) >= GOSSIP_NS_WIRE_MAX) {
        self->c.refused++;
        return -1;
    }
    //  A name, even one of our secret namespaces' names, is a public
    //  namespace: answering it differently would tell anyone which names
    //  we hold secrets of.
    s_secret_t *secret = s_find_id (self, wire);
    if (!secret) {
        if (auth_size != 0) {
            self->c.refused++;          //  a proof for a namespace we do not hold
            return -1;
        }
        snprintf (ns, GOSSIP_NS_WIRE_MAX, "%s", wire);
        return 0;
    }
    size_t index = (size_t) (secret - self->secrets);
    s_peer_t *p = s_peer (self, peer, false);
    bool ok = p && p->proved [index];
    if (!ok && auth_size == GOSSIP_NS_AUTH
    &&  s_tag_is (secret, peer, self->self_id, auth)) {
        ok = true;                      //  proved with the request itself
        s_peer (self, peer, true)->proved [index] = true;
    }
    if (!ok) {
        self->c.refused++;
        return -1;
    }
    snprintf (ns, GOSSIP_NS_WIRE_MAX, "%s", secret->keys.id_hex);
    return 0;
}

bool
gossip_ns_member (gossip_ns_t *self, const char *ns, const uint8_t *node)
{
    s_secret_t *secret = s_find_id (self, ns);
    if (!secret || memcmp (node, self->self_id, 32) == 0)
        return true;
    s_peer_t *peer = s_peer (self, node, false);
    return peer && peer->proved [secret - self->secrets];
}

bool
gossip_ns_visible (gossip_ns_t *self, const char *ns, const uint8_t *peer)
{
    bool by_name = false;
    s_secret_t *secret = s_find (self, ns, &by_name);
    if (!secret)
        return true;
    if (by_name)
        return false;                   //  stored under its name: keys not blinded
    return gossip_ns_member (self, ns, peer);
}

void
gossip_ns_refused (gossip_ns_t *self)
{
    self->c.refused++;
}

static void
s_manifest_mac (const s_secret_t *secret, const uint8_t *key, const uint8_t *record,
                size_t size, uint8_t *tag)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, secret->keys.key [IRH_NS_KEY_CLAIM], IRH_NS_KEY_BYTES, 32);
    crypto_generichash_update (&state, (const uint8_t *) "irohds-ns-manifest", 18);
    crypto_generichash_update (&state, key, 32);
    crypto_generichash_update (&state, record, size);
    crypto_generichash_final (&state, tag, 32);
}

size_t
gossip_ns_manifest_tag (gossip_ns_t *self, const char *ns, const uint8_t *key,
                        const uint8_t *record, size_t size, uint8_t *tag)
{
    bool by_name = false;
    s_secret_t *secret = s_find (self, ns, &by_name);
    if (!secret || by_name)
        return 0;
    s_manifest_mac (secret, key, record, size, tag);
    return GOSSIP_NS_AUTH;
}

int
gossip_ns_manifest_check (gossip_ns_t *self, const char *ns, const uint8_t *key,
                          const uint8_t *record, size_t size, const uint8_t *tag,
                          size_t tag_size)
{
    s_secret_t *secret = s_find_id (self, ns);
    if (!secret)
        return tag_size == 0 ? 0 : -1;
    if (tag_size != GOSSIP_NS_AUTH)
        return -1;
    uint8_t expected [32];
    s_manifest_mac (secret, key, record, size, expected);
    return sodium_memcmp (expected, tag, 32) == 0 ? 0 : -1;
}

void
gossip_ns_stats (gossip_ns_t *self, irh_table_t *table)
{
    uint64_t members = 0;
    for (s_peer_t *p = (s_peer_t *) zhashx_first (self->peers); p;
         p = (s_peer_t *) zhashx_next (self->peers))
        for (size_t i = 0; i < self->count; i++)
            members += p->proved [i];
    struct { const char *name; uint64_t value; } rows [] = {
        { "ns_secrets", self->c.secrets },
        { "ns_secrets_refused", self->c.secrets_refused },
        { "ns_members", members },
        { "ns_proofs_in", self->c.proofs_in },
        { "ns_proofs_out", self->c.proofs_out },
        { "ns_proofs_early", self->c.early },
        { "ns_bad_proofs", self->c.bad_proofs },
        { "ns_proofs_unmatched", self->c.unmatched },
        { "ns_refused", self->c.refused },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, rows [i].name);
        irh_table_u64 (table, rows [i].value);
    }
}
