/*  gossip_serve.c: answering peers' manifest and read requests
    (gossip_data.h, docs/transfer.md).

    peer_manifest_want: the store's `get` (want_path 1) through
    gossip_calls; a hit is answered with the manifest record as the store
    keeps it, unless the result is local_only or of another namespace
    (refused). The answer teaches us where the blob's bytes are: the file
    the store named (a path under <home>/blobs/, never one a peer chose)
    or, for an inline result, the content the store sent, kept in a
    bounded cache. A peer_read_want for a blob we were never asked the
    manifest of is answered "not found": askers always ask the manifest
    first.

    Content reads are pread on a file opened O_RDONLY|O_NOFOLLOW|
    O_NONBLOCK|O_CLOEXEC and checked (regular, the manifest's size); at
    most S_FDS_MAX stay open, closed after S_FD_IDLE_MS. The answer frame
    is allocated once and the file read straight into it (one copy, the
    kernel's).

    Outboards (what 1) are computed here with irh_outboard_builder, in
    steps of S_STEP_BYTES per loop turn (a zero-delay zloop timer), so a
    1 GiB blob never blocks the loop SWIM probes share for more than a few
    ms; reads that wait for it are queued (at most S_QUEUED_MAX, else
    busy) and answered when it is done; outboards are cached (LRU by
    bytes).
*/
#include "gossip_data.h"
#include "gossip_ns.h"
#include "irh_hash.h"
#include "gossip_wire.h"
#include "irh_log.h"
#include "irh_msign.h"
#include "irh_outboard.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_CALL_MS           5000            //  store get timeout
#define S_MANIFESTS_MAX     256             //  store gets in flight for peers
#define S_BLOBS_MAX         4096            //  blobs we know the source of
#define S_INLINE_MAX        (64u << 20)     //  inline contents kept, bytes
#define S_OUTBOARD_MAX      (64u << 20)     //  outboards kept, bytes
#define S_FDS_MAX           32              //  blob files open at once
#define S_FD_IDLE_MS        60000           //  close a blob file unused this long
#define S_SWEEP_MS          5000
#define S_STEP_BYTES        (4u << 20)      //  outboard work per loop turn
#define S_QUEUED_MAX        256             //  reads waiting for outboards
#define S_GRANTS_MAX        8               //  askers of a secret-only blob remembered

typedef struct {
    uint8_t hash [32];
    char key [65];                  //  hex hash: the table key
    uint64_t size;
    char *path;                     //  file blob: the store's path
    zframe_t *content;              //  inline blob: its bytes
    int fd;                         //  -1 when closed
    int64_t fd_used_ms;
    uint8_t *outboard;              //  built, or being built (builder set)
    size_t outboard_size;
    irh_outboard_builder_t *builder;
    uint64_t fed;                   //  bytes fed to the builder
    int64_t used_ms;
    //  Who may read it: anyone once a public manifest named it; else only
    //  the last S_GRANTS_MAX askers its secret namespace's manifest was
    //  answered to (members: they ask the manifest before reading).
    bool public_seen;
    uint8_t grants [S_GRANTS_MAX][32];
    size_t grants_next, grants_count;
} s_blob_t;

//  A manifest request waiting for the store.
typedef struct {
    gossip_serve_t *owner;
    zframe_t *route;
    uint32_t req;
    uint8_t key [32];
    char ns [256];
    uint8_t asker [32];             //  its CURVE key
    int64_t asked_us;               //  when the store was asked
} s_ask_t;

//  A read waiting for its outboard.
typedef struct {
    zframe_t *route;
    irh_peer_read_want_t want;
} s_queued_t;

struct _gossip_serve_t {
    gossip_xfer_t *xfer;
    gossip_calls_t *calls;
    irh_identity_t *identity;       //  signs this node's own results as they leave
    zloop_t *loop;
    gossip_ns_t *ns;                //  NULL: every namespace public
    char *blobs_dir;                //  "<home>/blobs/"
    zhashx_t *blobs;                //  hex hash -> s_blob_t *
    zlist_t *asks;                  //  s_ask_t * in flight
    zlist_t *queued;                //  s_queued_t *
    s_blob_t *building;             //  the outboard under way, if any
    uint8_t *step_buffer;           //  S_STEP_BYTES while file outboards are built
    int step_timer, sweep_timer;
    size_t inline_bytes, outboard_bytes, fds;
    struct {
        uint64_t manifests, not_found, refused, reads, bytes, busy, bad_requests;
        uint64_t signed_served, unsigned_refused;
        uint64_t outboards_built, outboard_failed, io_errors, store_errors, unsafe_paths;
        uint64_t inline_answers;
    } c;
};

static void
s_fd_close (gossip_serve_t *self, s_blob_t *blob)
{
    if (blob->fd >= 0) {
        close (blob->fd);
        blob->fd = -1;
        self->fds--;
    }
}

static void
s_outboard_drop (gossip_serve_t *self, s_blob_t *blob)
{
    if (blob == self->building) {
        irh_outboard_builder_destroy (&blob->builder);
        self->building = NULL;
    }
    if (blob->outboard) {
        free (blob->outboard);
        blob->outboard = NULL;
        self->outboard_bytes -= blob->outboard_size;
        blob->outboard_size = 0;
    }
}

static void
s_blob_drop (gossip_serve_t *self, s_blob_t *blob)
{
    s_fd_close (self, blob);
    s_outboard_drop (self, blob);
    if (blob->content) {
        self->inline_bytes -= zframe_size (blob->content);
        zframe_destroy (&blob->content);
    }
    free (blob->path);
    zhashx_delete (self->blobs, blob->key);
    free (blob);
}

//  The least recently used blob matching want (a filter), except keep.
static s_blob_t *
s_oldest (gossip_serve_t *self, s_blob_t *keep, bool (*want) (s_blob_t *))
{
    s_blob_t *oldest = NULL;
    for (s_blob_t *b = (s_blob_t *) zhashx_first (self->blobs); b;
         b = (s_blob_t *) zhashx_next (self->blobs))
        if (b != keep && b != self->building && (!want || want (b))
        &&  (!oldest || b->used_ms < oldest->used_ms))
            oldest = b;
    return oldest;
}

static bool s_has_inline (s_blob_t *b) { return b->content != NULL; }
static bool s_has_fd (s_blob_t *b) { return b->fd >= 0; }
static bool s_has_outboard (s_blob_t *b) { return b->outboard != NULL && !b->builder; }

//  ---------------------------------------------------------------------
//  Learning blobs from manifest answers

static void
s_grant (s_blob_t *blob, bool secret, const uint8_t *asker)
{
    if (!secret) {
        blob->public_seen = true;
        return;
    }
    for (size_t i = 0; i < blob->grants_count; i++)
        if (memcmp (blob->grants [i], asker, 32) == 0)
            return;
    memcpy (blob->grants [blob->grants_next], asker, 32);
    blob->grants_next = (blob->grants_next + 1) % S_GRANTS_MAX;
    if (blob->grants_count < S_GRANTS_MAX)
        blob->grants_count++;
}

static bool
s_granted (const s_blob_t *blob, const uint8_t *asker)
{
    if (blob->public_seen)
        return true;
    for (size_t i = 0; i < blob->grants_count; i++)
        if (memcmp (blob->grants [i], asker, 32) == 0)
            return true;
    return false;
}

//  secret: the manifest is of a namespace with a secret, answered to asker.
static void
s_learn (gossip_serve_t *self, const irh_manifest_t *manifest, const char *path,
         zframe_t *content, bool secret, const uint8_t *asker)
{
    char key [65];
    irh_hash_hex (manifest->blob, key);
    s_blob_t *blob = (s_blob_t *) zhashx_lookup (self->blobs, key);
    if (blob && (blob->size != manifest->size || (!*path && !content))) {
        s_blob_drop (self, blob);           //  inconsistent: start over
        blob = NULL;
    }
    if (!blob) {
        if (!*path && (!content || zframe_size (content) != manifest->size
                       || manifest->size > S_INLINE_MAX))
            return;
        if (zhashx_size (self->blobs) >= S_BLOBS_MAX) {
            s_blob_t *oldest = s_oldest (self, NULL, NULL);
            if (oldest)
                s_blob_drop (self, oldest);
        }
        blob = (s_blob_t *) zmalloc (sizeof (s_blob_t));
        assert (blob);
        memcpy (blob->hash, manifest->blob, 32);
        memcpy (blob->key, key, sizeof key);
        blob->size = manifest->size;
        blob->fd = -1;
        zhashx_insert (self->blobs, key, blob);
    }
    blob->used_ms = zclock_mono ();
    if (*path && (!blob->path || strcmp (blob->path, path) != 0)) {
        s_fd_close (self, blob);
        free (blob->path);
        blob->path = strdup (path);
    }
    if (!*path && !blob->content) {
        while (self->inline_bytes + manifest->size > S_INLINE_MAX) {
            s_blob_t *oldest = s_oldest (self, blob, s_has_inline);
            if (!oldest)
                break;
            s_blob_drop (self, oldest);
        }
        blob->content = zframe_dup (content);
        self->inline_bytes += manifest->size;
    }
    s_grant (blob, secret, asker);
}

static int s_content (gossip_serve_t *self, s_blob_t *blob, uint64_t offset, uint8_t *out,
                      size_t length);

//  content: a blob of at most one group travels with its manifest (the
//  asker then needs no read round trip); NULL when we could not read it.
static void
s_manifest_answer (gossip_serve_t *self, s_ask_t *ask, uint8_t status, const uint8_t *record,
                   size_t size, const uint8_t *content, size_t content_size)
{
    irh_peer_manifest_t answer;
    memset (&answer, 0, sizeof answer);
    answer.req = ask->req;
    memcpy (answer.key, ask->key, 32);
    answer.status = status;
    answer.manifest = record;
    answer.manifest_size = status == 0 ? size : 0;
    answer.content = content;
    answer.content_size = status == 0 && content ? content_size : 0;
    uint8_t tag [GOSSIP_NS_AUTH];
    if (status == 0 && self->ns) {
        answer.auth = tag;
        answer.auth_size = gossip_ns_manifest_tag (self->ns, ask->ns, ask->key, record, size,
                                                   tag);
    }
    if (answer.content_size)
        self->c.inline_answers++;
    zframe_t *frame = irh_peer_manifest_encode (&answer);
    if (frame)
        gossip_xfer_reply (self->xfer, ask->route, &frame);
    if (status == 0)
        self->c.manifests++;
    else
    if (status == 1)
        self->c.not_found++;
    else
    if (status == 2)
        self->c.refused++;
    else
        self->c.busy++;
}

//  Every manifest that leaves the node is signed by its producer
//  (docs/security.md, "Signed results"). This node's own results (origin
//  zeros) are signed here, as they are served: the gossip actor already
//  holds the node's keys, the store never needs them, and a put costs no
//  signature (one Ed25519 signature, ~30 us, per manifest served instead).
//  A peer's result goes out exactly as it came in; one from before
//  signing existed (no signature) is not served. False: refuse it.
static bool
s_sign_or_keep (gossip_serve_t *self, s_ask_t *ask, irh_manifest_t *manifest)
{
    static const uint8_t zeros [32];
    if (memcmp (manifest->origin, zeros, 32) == 0) {
        irh_msign_sign (self->identity, ask->key, manifest);
        self->c.signed_served++;
        return true;
    }
    if (irh_msign_present (manifest))
        return true;
    self->c.unsigned_refused++;
    return false;
}

static void
s_on_get (void *arg, int rc, zmsg_t *body, const char *code)
{
    s_ask_t *ask = (s_ask_t *) arg;
    gossip_serve_t *self = ask->owner;
    zlist_remove (self->asks, ask);
    irh_debug ("serve: manifest in %" PRId64 " us (store get)", zclock_usecs () - ask->asked_us);
    zframe_t *first = rc == 0 ? zmsg_first (body) : NULL;
    int id = first ? irh_msgs_id (first) : -1;
    irh_hit_t hit;
    irh_manifest_t manifest;
    zframe_t *record = NULL;
    if (!first) {
        self->c.store_errors++;
        irh_debug ("serve: store get: %s", code ? code : "empty reply");
        s_manifest_answer (self, ask, 3, NULL, 0, NULL, 0);
    }
    else
    if (id == IRH_MSG_MISS)
        s_manifest_answer (self, ask, 1, NULL, 0, NULL, 0);
    else
    if (id != IRH_MSG_HIT || irh_hit_decode (first, &hit) != 0
    ||  !(record = zmsg_next (body)) || irh_manifest_decode (record, &manifest) != 0
    ||  zframe_size (record) > IRH_PEER_MANIFEST_MANIFEST_MAX) {
        self->c.store_errors++;
        s_manifest_answer (self, ask, 3, NULL, 0, NULL, 0);
    }
    else
    if (self->ns && !gossip_ns_visible (self->ns, manifest.ns, ask->asker)) {
        //  A key of a namespace with a secret, asked by a non-member (under
        //  any namespace): exactly as if we did not hold it.
        gossip_ns_refused (self->ns);
        s_manifest_answer (self, ask, 1, NULL, 0, NULL, 0);
    }
    else
    if ((manifest.flags & 2) || strcmp (manifest.ns, ask->ns) != 0)
        s_manifest_answer (self, ask, 2, NULL, 0, NULL, 0);          //  local_only, other ns
    else
    if (!s_sign_or_keep (self, ask, &manifest))
        s_manifest_answer (self, ask, 2, NULL, 0, NULL, 0);          //  a peer's, unsigned
    else {
        uint8_t signed_record [IRH_PEER_MANIFEST_MANIFEST_MAX];
        size_t size = irh_manifest_encode_buf (&manifest, signed_record, sizeof signed_record);
        zframe_t *inline_content = hit.path [0] ? NULL : zmsg_next (body);
        bool secret = self->ns && gossip_ns_secret (self->ns, manifest.ns);
        s_learn (self, &manifest, hit.path, inline_content, secret, ask->asker);
        //  A blob of one group (or none) goes with the manifest: the
        //  store's inline bytes as they are, or a file's read here (a
        //  FileRef or an inline_max below 16 KiB). Not readable: the
        //  asker reads it the usual way.
        uint8_t small [IRH_XFER_GROUP];
        const uint8_t *content = NULL;
        if (size && manifest.size <= IRH_XFER_GROUP) {
            char hex [65];
            irh_hash_hex (manifest.blob, hex);
            s_blob_t *blob = (s_blob_t *) zhashx_lookup (self->blobs, hex);
            if (inline_content && zframe_size (inline_content) == manifest.size)
                content = zframe_data (inline_content);
            else
            if (blob && s_content (self, blob, 0, small, (size_t) manifest.size) == 0)
                content = small;
        }
        if (size)
            s_manifest_answer (self, ask, 0, signed_record, size, content,
                               (size_t) manifest.size);
        else {
            self->c.store_errors++;
            s_manifest_answer (self, ask, 3, NULL, 0, NULL, 0);
        }
    }
    zframe_destroy (&ask->route);
    free (ask);
}

static void
s_manifest_want (gossip_serve_t *self, const uint8_t *from, zframe_t *route, zframe_t *frame)
{
    irh_peer_manifest_want_t want;
    if (irh_peer_manifest_want_decode (frame, &want) != 0) {
        self->c.bad_requests++;
        return;
    }
    s_ask_t *ask = (s_ask_t *) zmalloc (sizeof (s_ask_t));
    assert (ask);
    ask->owner = self;
    ask->route = zframe_dup (route);
    ask->req = want.req;
    memcpy (ask->key, want.key, 32);
    snprintf (ask->ns, sizeof ask->ns, "%s", want.ns);
    memcpy (ask->asker, from, 32);
    if (self->ns && !gossip_ns_visible (self->ns, want.ns, from)) {
        gossip_ns_refused (self->ns);
        s_manifest_answer (self, ask, 1, NULL, 0, NULL, 0);
        zframe_destroy (&ask->route);
        free (ask);
        return;
    }
    if (zlist_size (self->asks) >= S_MANIFESTS_MAX) {
        s_manifest_answer (self, ask, 3, NULL, 0, NULL, 0);
        zframe_destroy (&ask->route);
        free (ask);
        return;
    }
    irh_get_t get;
    memset (&get, 0, sizeof get);
    memcpy (get.key, want.key, 32);
    get.want_path = 1;
    zframe_t *request = irh_get_encode (&get);
    zmsg_t *body = zmsg_new ();
    zmsg_append (body, &request);
    zlist_append (self->asks, ask);
    ask->asked_us = zclock_usecs ();
    if (gossip_calls_send (self->calls, "store", &body, S_CALL_MS, s_on_get, ask) != 0) {
        zlist_remove (self->asks, ask);
        s_manifest_answer (self, ask, 3, NULL, 0, NULL, 0);
        zframe_destroy (&ask->route);
        free (ask);
    }
}

//  ---------------------------------------------------------------------
//  Reads

static void
s_read_status (gossip_serve_t *self, zframe_t *route, const irh_peer_read_want_t *want,
               uint8_t status, uint64_t total)
{
    irh_peer_read_t answer;
    memset (&answer, 0, sizeof answer);
    answer.req = want->req;
    memcpy (answer.blob, want->blob, 32);
    answer.what = want->what;
    answer.status = status;
    answer.offset = want->offset;
    answer.total = total;
    zframe_t *frame = irh_peer_read_encode (&answer);
    if (frame)
        gossip_xfer_reply (self->xfer, route, &frame);
    if (status == 1)
        self->c.not_found++;
    else
    if (status == 3)
        self->c.bad_requests++;
    else
    if (status == 4)
        self->c.busy++;
}

//  Open the blob's file: only the store's path under <home>/blobs/, never
//  through a symlink, and only if it is the regular file of its size.
static int
s_open (gossip_serve_t *self, s_blob_t *blob)
{
    if (blob->fd >= 0)
        return 0;
    size_t prefix = strlen (self->blobs_dir);
    if (!blob->path || strncmp (blob->path, self->blobs_dir, prefix) != 0
    ||  strstr (blob->path + prefix, "..")) {
        self->c.unsafe_paths++;
        return -1;
    }
    while (self->fds >= S_FDS_MAX) {
        s_blob_t *oldest = s_oldest (self, blob, s_has_fd);
        if (!oldest)
            break;
        s_fd_close (self, oldest);
    }
    int fd = open (blob->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)
    ||  (uint64_t) st.st_size != blob->size) {
        if (fd >= 0)
            close (fd);
        self->c.io_errors++;
        return -1;
    }
    blob->fd = fd;
    self->fds++;
    return 0;
}

//  Bytes [offset, offset + length) of the blob's content into out.
static int
s_content (gossip_serve_t *self, s_blob_t *blob, uint64_t offset, uint8_t *out, size_t length)
{
    if (blob->content) {
        memcpy (out, zframe_data (blob->content) + offset, length);
        return 0;
    }
    if (s_open (self, blob) != 0)
        return -1;
    blob->fd_used_ms = zclock_mono ();
    size_t done = 0;
    while (done < length) {
        ssize_t got = pread (blob->fd, out + done, length - done, (off_t) (offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            self->c.io_errors++;
            return -1;
        }
        done += (size_t) got;
    }
    return 0;
}

//  Answer a read of length bytes at want->offset (checked). The frame is
//  the message with an empty data field, grown by length: data is the
//  last field (a u32 length then the bytes, irh_msgs.h), so the bytes are
//  read straight into the frame.
static void
s_read_answer (gossip_serve_t *self, zframe_t *route, const irh_peer_read_want_t *want,
               s_blob_t *blob, uint64_t total, uint32_t length)
{
    irh_peer_read_t answer;
    memset (&answer, 0, sizeof answer);
    answer.req = want->req;
    memcpy (answer.blob, want->blob, 32);
    answer.what = want->what;
    answer.offset = want->offset;
    answer.total = total;
    size_t head = irh_peer_read_encoded_size (&answer);
    zframe_t *frame = head ? zframe_new (NULL, head + length) : NULL;
    if (!frame || irh_peer_read_encode_buf (&answer, zframe_data (frame), head) != head) {
        zframe_destroy (&frame);
        return;
    }
    uint8_t *data = zframe_data (frame);
    data [head - 4] = (uint8_t) (length >> 24);
    data [head - 3] = (uint8_t) (length >> 16);
    data [head - 2] = (uint8_t) (length >> 8);
    data [head - 1] = (uint8_t) length;
    int rc = 0;
    if (want->what == 0)
        rc = s_content (self, blob, want->offset, data + head, length);
    else
        memcpy (data + head, blob->outboard + want->offset, length);
    if (rc != 0) {
        zframe_destroy (&frame);
        s_read_status (self, route, want, 1, 0);
        s_blob_drop (self, blob);           //  its file is gone or changed
        return;
    }
    self->c.reads++;
    self->c.bytes += length;
    gossip_xfer_reply (self->xfer, route, &frame);
}

static void s_build_start (gossip_serve_t *self, s_blob_t *blob);
static void s_next_build (gossip_serve_t *self);

static void
s_read_want (gossip_serve_t *self, const uint8_t *from, zframe_t *route, zframe_t *frame)
{
    irh_peer_read_want_t want;
    if (irh_peer_read_want_decode (frame, &want) != 0) {
        self->c.bad_requests++;
        return;
    }
    char key [65];
    irh_hash_hex (want.blob, key);
    s_blob_t *blob = (s_blob_t *) zhashx_lookup (self->blobs, key);
    if (blob && !s_granted (blob, from)) {
        if (self->ns)
            gossip_ns_refused (self->ns);
        blob = NULL;                        //  a secret namespace's, not for this asker
    }
    if (!blob) {
        s_read_status (self, route, &want, 1, 0);
        return;
    }
    blob->used_ms = zclock_mono ();
    uint64_t total = want.what == 1 ? irh_outboard_size (blob->size) : blob->size;
    uint32_t length;
    if (gossip_wire_read_check (&want, total, &length) != 0) {
        s_read_status (self, route, &want, 3, total);
        return;
    }
    if (want.what == 0 || (blob->outboard && !blob->builder)) {
        s_read_answer (self, route, &want, blob, total, length);
        return;
    }
    if (zlist_size (self->queued) >= S_QUEUED_MAX) {
        s_read_status (self, route, &want, 4, total);
        return;
    }
    s_queued_t *queued = (s_queued_t *) zmalloc (sizeof (s_queued_t));
    assert (queued);
    queued->route = zframe_dup (route);
    queued->want = want;
    zlist_append (self->queued, queued);
    if (!self->building)
        s_next_build (self);
}

//  ---------------------------------------------------------------------
//  Outboards, a step per loop turn

//  Start the outboard the oldest queued read waits for (reads of blobs
//  dropped meanwhile are answered "not found").
static void
s_next_build (gossip_serve_t *self)
{
    if (zlist_size (self->queued) == 0) {
        free (self->step_buffer);       //  idle: give the 4 MiB back
        self->step_buffer = NULL;
    }
    s_queued_t *next = (s_queued_t *) zlist_first (self->queued);
    while (next && !self->building) {
        char key [65];
        irh_hash_hex (next->want.blob, key);
        s_blob_t *b = (s_blob_t *) zhashx_lookup (self->blobs, key);
        if (b) {
            s_build_start (self, b);
            break;
        }
        zlist_remove (self->queued, next);
        s_read_status (self, next->route, &next->want, 1, 0);
        zframe_destroy (&next->route);
        free (next);
        next = (s_queued_t *) zlist_first (self->queued);
    }
}

//  Answer (or fail) the queued reads of blob; start the next build.
static void
s_build_done (gossip_serve_t *self, s_blob_t *blob, bool ok)
{
    for (size_t i = zlist_size (self->queued); i > 0; i--) {
        s_queued_t *q = (s_queued_t *) zlist_pop (self->queued);
        if (memcmp (q->want.blob, blob->hash, 32) != 0) {
            zlist_append (self->queued, q);
            continue;
        }
        uint32_t length;
        uint64_t total = ok ? blob->outboard_size : 0;
        if (ok && gossip_wire_read_check (&q->want, total, &length) == 0)
            s_read_answer (self, q->route, &q->want, blob, total, length);
        else
            s_read_status (self, q->route, &q->want, 1, 0);
        zframe_destroy (&q->route);
        free (q);
    }
    if (!ok)
        s_blob_drop (self, blob);
    s_next_build (self);
}

static int
s_on_step (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_serve_t *self = (gossip_serve_t *) arg;
    self->step_timer = 0;
    s_blob_t *blob = self->building;
    if (!blob) {
        s_next_build (self);            //  the blob was dropped mid-build
        return 0;
    }
    uint64_t left = blob->size - blob->fed;
    size_t step = left < S_STEP_BYTES ? (size_t) left : S_STEP_BYTES;
    int rc = 0;
    if (step) {
        if (blob->content)
            rc = irh_outboard_builder_feed (blob->builder, zframe_data (blob->content) + blob->fed,
                                            step);
        else {
            //  One buffer for the whole build (not a 4 MiB malloc and its
            //  page faults per step); freed when the queue is done.
            if (!self->step_buffer)
                self->step_buffer = (uint8_t *) malloc (S_STEP_BYTES);
            rc = self->step_buffer ? s_content (self, blob, blob->fed, self->step_buffer, step)
                                   : -1;
            if (rc == 0)
                rc = irh_outboard_builder_feed (blob->builder, self->step_buffer, step);
        }
        blob->fed += step;
    }
    if (rc == 0 && blob->fed < blob->size) {
        self->step_timer = zloop_timer (self->loop, 0, 1, s_on_step, self);
        return 0;
    }
    uint8_t root [32];
    bool ok = rc == 0 && irh_outboard_builder_finish (blob->builder, root) == 0
           && memcmp (root, blob->hash, 32) == 0;
    irh_outboard_builder_destroy (&blob->builder);
    self->building = NULL;
    if (ok)
        self->c.outboards_built++;
    else {
        self->c.outboard_failed++;
        irh_warn ("serve: blob %.12s does not hash to its name: not served", blob->key);
    }
    s_build_done (self, blob, ok);
    return 0;
}

static void
s_build_start (gossip_serve_t *self, s_blob_t *blob)
{
    size_t size = (size_t) irh_outboard_size (blob->size);
    while (self->outboard_bytes + size > S_OUTBOARD_MAX) {
        s_blob_t *oldest = s_oldest (self, blob, s_has_outboard);
        if (!oldest)
            break;
        s_outboard_drop (self, oldest);
    }
    blob->outboard = (uint8_t *) malloc (size ? size : 1);
    blob->builder = blob->outboard ? irh_outboard_builder_new (blob->size, blob->outboard, size)
                                   : NULL;
    if (!blob->builder) {
        free (blob->outboard);
        blob->outboard = NULL;
        s_build_done (self, blob, false);
        return;
    }
    blob->outboard_size = size;
    self->outboard_bytes += size;
    blob->fed = 0;
    self->building = blob;
    if (!self->step_timer)              //  one step timer at a time, ever
        self->step_timer = zloop_timer (self->loop, 0, 1, s_on_step, self);
}

static int
s_on_sweep (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop; (void) timer_id;
    gossip_serve_t *self = (gossip_serve_t *) arg;
    int64_t now = zclock_mono ();
    for (s_blob_t *b = (s_blob_t *) zhashx_first (self->blobs); b;
         b = (s_blob_t *) zhashx_next (self->blobs))
        if (b->fd >= 0 && b != self->building && now - b->fd_used_ms > S_FD_IDLE_MS)
            s_fd_close (self, b);
    return 0;
}

//  ---------------------------------------------------------------------
//  API

gossip_serve_t *
gossip_serve_new (gossip_xfer_t *xfer, gossip_calls_t *calls, irh_identity_t *identity,
                  const char *home, zloop_t *loop)
{
    assert (xfer && calls && identity && home && loop);
    gossip_serve_t *self = (gossip_serve_t *) zmalloc (sizeof (gossip_serve_t));
    assert (self);
    self->xfer = xfer;
    self->calls = calls;
    self->identity = identity;
    self->loop = loop;
    if (asprintf (&self->blobs_dir, "%s/blobs/", home) < 0) {
        free (self);
        return NULL;
    }
    self->blobs = zhashx_new ();
    self->asks = zlist_new ();
    self->queued = zlist_new ();
    self->sweep_timer = zloop_timer (loop, S_SWEEP_MS, 0, s_on_sweep, self);
    return self;
}

void
gossip_serve_destroy (gossip_serve_t **self_p)
{
    assert (self_p);
    gossip_serve_t *self = *self_p;
    if (self) {
        zloop_timer_end (self->loop, self->sweep_timer);
        if (self->step_timer)
            zloop_timer_end (self->loop, self->step_timer);
        s_ask_t *ask;
        while ((ask = (s_ask_t *) zlist_pop (self->asks))) {
            gossip_calls_cancel (self->calls, ask);
            zframe_destroy (&ask->route);
            free (ask);
        }
        zlist_destroy (&self->asks);
        s_queued_t *q;
        while ((q = (s_queued_t *) zlist_pop (self->queued))) {
            zframe_destroy (&q->route);
            free (q);
        }
        zlist_destroy (&self->queued);
        s_blob_t *blob;
        while ((blob = (s_blob_t *) zhashx_first (self->blobs)))
            s_blob_drop (self, blob);
        zhashx_destroy (&self->blobs);
        free (self->step_buffer);
        free (self->blobs_dir);
        free (self);
        *self_p = NULL;
    }
}

void
gossip_serve_message (gossip_serve_t *self, const uint8_t *from, zframe_t *route, int id,
                      zframe_t *frame)
{
    assert (self && from && frame);
    if (!route) {
        self->c.bad_requests++;             //  a request must come on the ROUTER
        return;
    }
    if (id == IRH_MSG_PEER_MANIFEST_WANT)
        s_manifest_want (self, from, route, frame);
    else
    if (id == IRH_MSG_PEER_READ_WANT)
        s_read_want (self, from, route, frame);
    else
        self->c.bad_requests++;
}

void
gossip_serve_set_ns (gossip_serve_t *self, gossip_ns_t *ns)
{
    assert (self);
    self->ns = ns;
}

void
gossip_serve_stats (gossip_serve_t *self, irh_table_t *table)
{
    assert (self && table);
    struct { const char *name; uint64_t value; } rows [] = {
        { "serve_manifests", self->c.manifests },
        { "serve_not_found", self->c.not_found },
        { "serve_refused", self->c.refused },
        { "serve_signed", self->c.signed_served },
        { "serve_unsigned_refused", self->c.unsigned_refused },
        { "serve_reads", self->c.reads },
        { "serve_inline_answers", self->c.inline_answers },
        { "serve_bytes", self->c.bytes },
        { "serve_busy", self->c.busy },
        { "serve_bad_requests", self->c.bad_requests },
        { "serve_io_errors", self->c.io_errors },
        { "serve_store_errors", self->c.store_errors },
        { "serve_unsafe_paths", self->c.unsafe_paths },
        { "serve_blobs_known", zhashx_size (self->blobs) },
        { "serve_inline_bytes", self->inline_bytes },
        { "serve_open_files", self->fds },
        { "serve_queued_reads", zlist_size (self->queued) },
        { "outboards_built", self->c.outboards_built },
        { "outboards_failed", self->c.outboard_failed },
        { "outboard_cache_bytes", self->outboard_bytes },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        irh_table_row (table);
        irh_table_str (table, rows [i].name);
        irh_table_u64 (table, rows [i].value);
    }
}
