/*  gossip_transfer.c: the reads of one transfer (gossip_fetch_int.h).

    Outboard first (blobs over one group): pieces of up to 1 MiB from one
    holder with its credit window, then irh_outboard_verify_list binds the
    list to the manifest's blob hash; a list that does not bind bans every
    holder that served a piece of it. Then the content: reads of 256 KiB
    (16 groups) handed to live holders round robin, each holder holding at
    most its credit window of reads (2 at first, +1 per good answer up to
    8, halved on a timeout), so a fast holder takes more ranges than a slow
    one without any of them flooding us. Every answer is checked (req,
    blob, offset, total, length) and every group in it against the
    outboard before pwrite: a bad group bans the holder for a minute and
    re-queues its ranges elsewhere. Holders that die, time out repeatedly
    or lose the blob go down and are probed with a manifest request until
    they answer with the same blob again (a restarted daemon comes back).
    Memory per transfer: the outboard list (32 bytes per 16 KiB) and two
    bits per group; content goes from the answer frame to the file.
*/
#include "gossip_fetch_int.h"
#include "irh_log.h"
#include "irh_outboard.h"
#include <errno.h>
#include <unistd.h>

#define S_READ_BASE_MS  5000        //  read timeout floor
#define S_BW_FLOOR      (256 * 1024)    //  bytes/s assumed at worst for the timeout
#define S_READ_MAX_MS   120000
#define S_WHAT_PROBE    2

//  ---------------------------------------------------------------------
//  Slots and accounting

static gf_read_t *
s_slot (gf_transfer_t *t)
{
    for (size_t i = 0; i < GF_READS_MAX; i++)
        if (!t->reads [i].used)
            return &t->reads [i];
    return NULL;
}

static void
s_busy_start (gf_transfer_t *t, int i)
{
    if (t->holders.list [i].outstanding == 0)
        t->busy_since [i] = zclock_usecs ();
}

//  After the holder's outstanding count went down.
static void
s_busy_stop (gf_transfer_t *t, int i)
{
    if (t->holders.list [i].outstanding == 0 && t->busy_since [i]) {
        t->busy_us [i] += (uint64_t) (zclock_usecs () - t->busy_since [i]);
        t->busy_since [i] = 0;
    }
}

//  A read that will not be answered any more: its range is asked again.
static void
s_release (gf_transfer_t *t, gf_read_t *read)
{
    if (read->what == 0 && t->plan)
        gossip_plan_release (t->plan, read->first, read->items);
    else
    if (read->what == 1 && t->ob_plan)
        gossip_plan_release (t->ob_plan, read->offset / GF_OB_PIECE, 1);
}

void
gf_transfer_drop_reads (gf_transfer_t *t, int i)
{
    for (size_t s = 0; s < GF_READS_MAX; s++) {
        gf_read_t *read = &t->reads [s];
        if (!read->used || read->holder != i)
            continue;
        gossip_xfer_cancel (t->fetch->xfer, read);
        s_release (t, read);
        read->used = false;
    }
    t->holders.list [i].outstanding = 0;
    s_busy_stop (t, i);
    if (t->ob_holder == i)
        t->ob_holder = -1;
}

void
gf_transfer_cancel_reads (gf_transfer_t *t)
{
    for (size_t s = 0; s < GF_READS_MAX; s++)
        if (t->reads [s].used) {
            gossip_xfer_cancel (t->fetch->xfer, &t->reads [s]);
            t->reads [s].used = false;
        }
    for (size_t i = 0; i < GOSSIP_HOLDERS_MAX; i++)
        if (t->probes [i].used) {
            gossip_xfer_cancel (t->fetch->xfer, &t->probes [i]);
            t->probes [i].used = false;
        }
}

//  in_batch: called for a failed request, maybe one of a batch xfer fails
//  at once (taken out of its table first, so not cancellable): the
//  holder's other reads are left to come back by themselves.
static void
s_ban_ex (gf_transfer_t *t, int i, const char *why, bool in_batch)
{
    char id [13];
    gf_short_id (t->holders.list [i].id, id);
    irh_warn ("fetch: holder %s banned for %d s: %s", id, GF_BAN_MS / 1000, why);
    t->fetch->holders_banned++;
    if (!in_batch)
        gf_transfer_drop_reads (t, i);
    else
    if (t->ob_holder == i)
        t->ob_holder = -1;
    gossip_holders_ban (&t->holders, i, zclock_mono (), GF_BAN_MS);
}

static void
s_ban (gf_transfer_t *t, int i, const char *why)
{
    s_ban_ex (t, i, why, false);
}

static void s_probe (gf_transfer_t *t, int i, int64_t now);

//  Holder i went down again without a good answer since the last time:
//  after GF_LOST_BAN of those it is banned (a holder that keeps answering
//  its manifest but not its reads would otherwise be probed forever).
//  true while it may still be probed.
static bool
s_lost (gf_transfer_t *t, int i, const char *why, bool in_batch)
{
    if (++t->lost [i] < GF_LOST_BAN)
        return true;
    t->lost [i] = 0;
    s_ban_ex (t, i, why, in_batch);
    return false;
}

//  ---------------------------------------------------------------------
//  Sending

static gf_read_t *s_send (gf_transfer_t *t, int i, uint8_t what, uint64_t offset,
                          uint32_t length, uint64_t first, uint64_t items);

static void
s_pump_outboard (gf_transfer_t *t)
{
    if (t->ob_holder >= 0 && t->holders.list [t->ob_holder].state != GOSSIP_HOLDER_LIVE)
        t->ob_holder = -1;
    if (t->ob_holder < 0)
        t->ob_holder = gossip_holders_pick (&t->holders);
    if (t->ob_holder < 0)
        return;
    gossip_holder_t *holder = &t->holders.list [t->ob_holder];
    uint64_t piece, n;
    while (holder->outstanding < holder->window
       &&  gossip_plan_next (t->ob_plan, 1, &piece, &n) == 0) {
        uint64_t offset = piece * GF_OB_PIECE;
        uint64_t left = t->ob_size - offset;
        uint32_t length = (uint32_t) (left < GF_OB_PIECE ? left : GF_OB_PIECE);
        if (!s_send (t, t->ob_holder, 1, offset, length, piece, 1))
            break;
    }
}

//  Endgame (work stealing at the tail): every group left is in flight and
//  a holder has credit. A read outstanding for over GF_ENDGAME_MS at
//  another holder is asked again from this one, once; whichever answer
//  comes first is written, the other finds its groups done. Costs at most
//  one duplicate per read, only at the end, and saves waiting out the
//  timeout of a holder that was cut or slowed down.
static void
s_endgame (gf_transfer_t *t)
{
    int64_t old_us = zclock_usecs () - GF_ENDGAME_MS * 1000;
    int i;
    while ((i = gossip_holders_pick (&t->holders)) >= 0) {
        gf_read_t *oldest = NULL;
        for (size_t s = 0; s < GF_READS_MAX; s++) {
            gf_read_t *r = &t->reads [s];
            if (r->used && r->what == 0 && r->holder != i && !r->duplicated
            &&  r->sent_us < old_us && (!oldest || r->sent_us < oldest->sent_us))
                oldest = r;
        }
        if (!oldest)
            return;
        oldest->duplicated = true;
        gf_read_t *copy = s_send (t, i, 0, oldest->offset, oldest->length, oldest->first,
                                  oldest->items);
        if (!copy)
            return;
        copy->duplicated = true;
        t->fetch->endgame_reads++;
    }
}

static void
s_pump_content (gf_transfer_t *t)
{
    int i;
    while ((i = gossip_holders_pick (&t->holders)) >= 0) {
        uint64_t first, n;
        if (gossip_plan_next (t->plan, GF_READ_GROUPS, &first, &n) != 0) {
            s_endgame (t);
            return;
        }
        uint64_t offset = first * IRH_XFER_GROUP;
        uint64_t end = (first + n) * IRH_XFER_GROUP;
        if (end > t->manifest.size)
            end = t->manifest.size;
        if (!s_send (t, i, 0, offset, (uint32_t) (end - offset), first, n))
            return;
    }
}

void
gf_transfer_pump (gf_transfer_t *t)
{
    if (t->ended)
        return;
    if (t->state == GF_OUTBOARD)
        s_pump_outboard (t);
    else
    if (t->state == GF_CONTENT && t->plan)
        s_pump_content (t);
}

static void s_on_read (void *arg, const uint8_t *peer, zframe_t *answer);

//  One peer_read_want to holder i: its slot, or NULL when it could not be
//  sent: the range is released and the holder goes down (probed again later).
static gf_read_t *
s_send (gf_transfer_t *t, int i, uint8_t what, uint64_t offset, uint32_t length,
        uint64_t first, uint64_t items)
{
    gossip_fetch_t *fetch = t->fetch;
    gf_read_t *read = s_slot (t);
    char address [65];
    const uint8_t *id = t->holders.list [i].id;
    gf_read_t tmp = { .what = what, .offset = offset, .first = first, .items = items };
    if (!read || !gf_peer_address (fetch, id, address, sizeof address)) {
        s_release (t, &tmp);
        if (read)
            gossip_holders_down (&t->holders, i);
        return NULL;
    }
    //  The timeout allows for everything already outstanding at this
    //  holder to arrive first, at half its learned rate (or a floor).
    gf_peer_t *peer = gf_peer (fetch, id, false);
    uint64_t bw = peer && peer->bw / 2 > S_BW_FLOOR ? peer->bw / 2 : S_BW_FLOOR;
    uint64_t queued = (uint64_t) (t->holders.list [i].outstanding + 1) * length;
    uint64_t timeout = S_READ_BASE_MS + 4 * gf_peer_rtt_us (fetch, id) / 1000
                     + queued * 1000 / bw;
    if (timeout > S_READ_MAX_MS)
        timeout = S_READ_MAX_MS;
    irh_peer_read_want_t want;
    memset (&want, 0, sizeof want);
    want.req = gossip_xfer_next_req (fetch->xfer);
    memcpy (want.blob, t->manifest.blob, 32);
    want.what = what;
    want.offset = offset;
    want.length = length;
    zframe_t *frame = irh_peer_read_want_encode (&want);
    *read = (gf_read_t) { .transfer = t, .used = true, .holder = i, .what = what,
                          .req = want.req, .offset = offset, .length = length,
                          .first = first, .items = items, .sent_us = zclock_usecs () };
    s_busy_start (t, i);
    gossip_holders_sent (&t->holders, i);
    if (!frame || gossip_xfer_request (fetch->xfer, id, address, want.req, &frame,
                                       (int) timeout, s_on_read, read) != 0) {
        zframe_destroy (&frame);
        read->used = false;
        s_release (t, read);
        t->holders.list [i].outstanding--;
        s_busy_stop (t, i);
        gossip_holders_down (&t->holders, i);
        return NULL;
    }
    return read;
}

//  ---------------------------------------------------------------------
//  Answers

static void
s_outboard_complete (gf_transfer_t *t)
{
    gossip_fetch_t *fetch = t->fetch;
    if (irh_outboard_verify_list (t->outboard, (size_t) t->ob_size, t->manifest.size,
                                  t->manifest.blob) != 0) {
        fetch->bad_outboards++;
        for (size_t i = 0; i < t->holders.count; i++)
            if (t->ob_from & (1u << i))
                s_ban (t, (int) i, "its outboard does not match the blob hash");
        t->ob_from = 0;
        gossip_plan_destroy (&t->ob_plan);
        t->ob_plan = gossip_plan_new ((t->ob_size + GF_OB_PIECE - 1) / GF_OB_PIECE);
        if (!t->ob_plan)
            gf_transfer_fail (t, "out of memory");
        return;
    }
    char key [13];
    gf_short_id (t->key, key);
    irh_debug ("fetch %s: outboard of %" PRIu64 " bytes verified %" PRId64 " ms after the start",
               key, t->ob_size, zclock_mono () - t->started_ms);
    gf_transfer_save_outboard (t);      //  a failure costs only a resume's refetch
    gossip_plan_destroy (&t->ob_plan);
    t->state = GF_CONTENT;
    gf_transfer_begin (t);
}

static void
s_answer_outboard (gf_transfer_t *t, gf_read_t *read, const irh_peer_read_t *msg)
{
    if (msg->total != t->ob_size || msg->data_size != read->length) {
        t->fetch->bad_answers++;
        s_release (t, read);
        s_ban (t, read->holder, "outboard answer of the wrong size");
        return;
    }
    memcpy (t->outboard + read->offset, msg->data, msg->data_size);
    gossip_plan_mark_done (t->ob_plan, read->offset / GF_OB_PIECE);
    t->ob_from |= 1u << read->holder;
    t->received += msg->data_size;
    t->fetch->bytes_received += msg->data_size;
    t->busy_bytes [read->holder] += msg->data_size;
    gossip_holders_good (&t->holders, read->holder, 0);
    s_busy_stop (t, read->holder);
    t->lost [read->holder] = 0;
    if (gossip_plan_complete (t->ob_plan))
        s_outboard_complete (t);
}

static int
s_pwrite_all (int fd, const uint8_t *data, size_t size, uint64_t offset)
{
    size_t done = 0;
    while (done < size) {
        ssize_t n = pwrite (fd, data + done, size - done, (off_t) (offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        done += (size_t) n;
    }
    return 0;
}

static void
s_answer_content (gf_transfer_t *t, gf_read_t *read, const irh_peer_read_t *msg)
{
    gossip_fetch_t *fetch = t->fetch;
    uint64_t size = t->manifest.size;
    //  Partial answers are fine when they end on a group boundary or at
    //  the end of the blob; the rest of the range is asked again.
    uint64_t end = read->offset + msg->data_size;
    if (msg->total != size || msg->data_size == 0 || msg->data_size > read->length
    ||  (end % IRH_XFER_GROUP != 0 && end != size)) {
        fetch->bad_answers++;
        s_release (t, read);
        s_ban (t, read->holder, "content answer of the wrong size");
        return;
    }
    uint64_t covered = (msg->data_size + IRH_XFER_GROUP - 1) / IRH_XFER_GROUP;
    uint64_t good = 0;
    for (uint64_t g = 0; g < covered; g++) {
        uint64_t index = read->first + g;
        uint64_t at = index * IRH_XFER_GROUP;
        size_t len = (size_t) (size - at < IRH_XFER_GROUP ? size - at : IRH_XFER_GROUP);
        const uint8_t *data = msg->data + g * IRH_XFER_GROUP;
        if (gossip_plan_is_done (t->plan, index))
            continue;
        if (irh_outboard_check_group (t->outboard, size, t->manifest.blob, index, data, len)) {
            fetch->bad_chunks++;
            gossip_plan_release (t->plan, index, read->items - g);
            gossip_holders_good (&t->holders, read->holder, good);
            s_ban (t, read->holder, "a group failed verification");
            return;
        }
        if (s_pwrite_all (t->fd, data, len, at) != 0) {
            fetch->staging_errors++;
            gossip_plan_release (t->plan, index, read->items - g);
            char reason [96];
            snprintf (reason, sizeof reason, "write to staging: %s", strerror (errno));
            gf_transfer_fail (t, reason);
            return;
        }
        gossip_plan_mark_done (t->plan, index);
        fetch->groups_verified++;
        good += len;
    }
    if (covered < read->items)
        gossip_plan_release (t->plan, read->first + covered, read->items - covered);
    t->received += msg->data_size;
    fetch->bytes_received += msg->data_size;
    t->busy_bytes [read->holder] += msg->data_size;
    t->since_persist += good;
    gossip_holders_good (&t->holders, read->holder, good);
    s_busy_stop (t, read->holder);
    t->lost [read->holder] = 0;
    if (gossip_plan_complete (t->plan))
        gf_transfer_ingest (t);
    else
    if (t->since_persist >= GF_PERSIST_BYTES)
        gf_transfer_persist (t);
}

static void
s_on_read (void *arg, const uint8_t *peer, zframe_t *answer)
{
    (void) peer;
    gf_read_t *slot = (gf_read_t *) arg;
    gf_transfer_t *t = slot->transfer;
    if (!slot->used || t->ended)
        return;                         //  cannot happen: cancelled reads are never called
    gf_read_t read = *slot;
    slot->used = false;
    int i = read.holder;
    if (!answer) {
        //  xfer fails a dead link's requests in one batch, taken out of its
        //  table first: cancelling the holder's other reads here would not
        //  reach them. They come back one by one; the holder just goes down.
        t->fetch->read_timeouts++;
        s_release (t, &read);
        if (gossip_holders_timeout (&t->holders, i)) {
            t->fetch->holders_dropped++;
            s_lost (t, i, "it stopped answering reads", true);
        }
        s_busy_stop (t, i);
        if (t->ob_holder == i && t->holders.list [i].state != GOSSIP_HOLDER_LIVE)
            t->ob_holder = -1;
        gf_transfer_pump (t);
        return;
    }
    irh_peer_read_t msg;
    if (irh_peer_read_decode (answer, &msg) != 0 || msg.req != read.req
    ||  memcmp (msg.blob, t->manifest.blob, 32)
    ||  msg.what != read.what || msg.offset != read.offset
    ||  (msg.status == 0 && msg.data_size > read.length)) {
        t->fetch->bad_answers++;
        s_release (t, &read);
        s_ban (t, i, "malformed read answer");
    }
    else
    if (msg.status == 4) {
        //  busy: fewer reads in flight
        s_release (t, &read);
        gossip_holders_timeout (&t->holders, i);
        s_busy_stop (t, i);
    }
    else
    if (msg.status == 1 || msg.status == 2) {
        //  not found / refused after its manifest said found: it restarted
        //  (a serving side opens a blob on the manifest request), evicted
        //  the blob, or found its own copy damaged. Down and asked again
        //  at once; the third time in a row it is banned.
        s_release (t, &read);
        gossip_holders_timeout (&t->holders, i);
        s_busy_stop (t, i);
        gf_transfer_drop_reads (t, i);
        gossip_holders_down (&t->holders, i);
        if (s_lost (t, i, "it does not serve the blob its manifest announced", false))
            s_probe (t, i, zclock_mono ());
    }
    else
    if (msg.status != 0) {
        t->fetch->bad_answers++;
        s_release (t, &read);
        s_ban (t, i, "read refused as a bad request");
    }
    else
    if (read.what == 1)
        s_answer_outboard (t, &read, &msg);
    else
        s_answer_content (t, &read, &msg);
    gf_transfer_pump (t);
}

//  ---------------------------------------------------------------------
//  Probes: is a down holder back, with the same blob?

static void
s_on_probe (void *arg, const uint8_t *peer, zframe_t *answer)
{
    (void) peer;
    gf_read_t *slot = (gf_read_t *) arg;
    gf_transfer_t *t = slot->transfer;
    if (!slot->used)
        return;
    slot->used = false;
    if (t->ended || !answer)
        return;
    irh_peer_manifest_t msg;
    irh_manifest_t manifest;
    if (irh_peer_manifest_decode (answer, &msg) != 0 || msg.status != 0
    ||  memcmp (msg.key, t->key, 32) != 0
    ||  irh_manifest_decode_buf (msg.manifest, msg.manifest_size, &manifest) != 0
    ||  memcmp (manifest.blob, t->manifest.blob, 32) != 0
    ||  manifest.size != t->manifest.size)
        return;
    int i = slot->holder;
    if (t->holders.list [i].state == GOSSIP_HOLDER_DOWN) {
        char id [13];
        gf_short_id (t->holders.list [i].id, id);
        irh_debug ("fetch: holder %s is back", id);
        gossip_holders_up (&t->holders, i);
        t->live_ms = zclock_mono ();
        gf_transfer_pump (t);
    }
}

static void
s_probe (gf_transfer_t *t, int i, int64_t now)
{
    gf_read_t *slot = &t->probes [i];
    char address [65];
    const uint8_t *id = t->holders.list [i].id;
    if (slot->used || !gf_peer_address (t->fetch, id, address, sizeof address))
        return;
    t->probe_ms [i] = now;
    irh_peer_manifest_want_t want;
    memset (&want, 0, sizeof want);
    want.req = gossip_xfer_next_req (t->fetch->xfer);
    memcpy (want.key, t->key, 32);
    snprintf (want.ns, sizeof want.ns, "%s", t->manifest.ns);
    zframe_t *frame = irh_peer_manifest_want_encode (&want);
    *slot = (gf_read_t) { .transfer = t, .used = true, .holder = i, .what = S_WHAT_PROBE };
    t->fetch->probes_sent++;
    if (!frame || gossip_xfer_request (t->fetch->xfer, id, address, want.req, &frame,
                                       GF_PROBE_MS, s_on_probe, slot) != 0) {
        zframe_destroy (&frame);
        slot->used = false;
    }
}

void
gf_transfer_member (gf_transfer_t *t, int i, bool alive)
{
    if (t->ended)
        return;
    if (!alive) {
        gf_transfer_drop_reads (t, i);
        gossip_holders_down (&t->holders, i);
        gf_transfer_pump (t);
    }
    else
    if (t->holders.list [i].state == GOSSIP_HOLDER_DOWN)
        s_probe (t, i, zclock_mono ());
}

void
gf_transfer_tick (gf_transfer_t *t, int64_t now)
{
    size_t live = gossip_holders_live (&t->holders, now);
    if (live)
        t->live_ms = now;
    for (size_t i = 0; i < t->holders.count; i++)
        if (t->holders.list [i].state == GOSSIP_HOLDER_DOWN
        &&  now - t->probe_ms [i] >= GF_PROBE_MS)
            s_probe (t, (int) i, now);
    if (gossip_holders_all_banned (&t->holders)) {
        gf_transfer_fail (t, "every holder sent bad bytes");
        return;
    }
    if (!live && now - t->live_ms >= GF_NO_HOLDER_MS) {
        gf_transfer_fail (t, "no live holder for 60 s");
        return;
    }
    gf_transfer_pump (t);
}

//  ---------------------------------------------------------------------
//  Phases

//  Groups an earlier attempt marked verified are checked again against
//  the outboard before they count (one sequential read of what is on disk,
//  at disk and BLAKE3 speed: far cheaper than fetching them again).
static void
s_recheck (gf_transfer_t *t)
{
    uint64_t size = t->manifest.size;
    uint8_t *buf = (uint8_t *) malloc (IRH_XFER_GROUP);
    for (uint64_t g = 0; buf && g < gossip_plan_count (t->plan); g++) {
        if (!gossip_plan_is_done (t->plan, g))
            continue;
        uint64_t at = g * IRH_XFER_GROUP;
        size_t len = (size_t) (size - at < IRH_XFER_GROUP ? size - at : IRH_XFER_GROUP);
        ssize_t n = pread (t->fd, buf, len, (off_t) at);
        if (n != (ssize_t) len
        ||  irh_outboard_check_group (t->outboard, size, t->manifest.blob, g, buf, len) != 0)
            gossip_plan_clear_done (t->plan, g);
        else
            t->fetch->groups_resumed++;
    }
    free (buf);
}

void
gf_transfer_begin (gf_transfer_t *t)
{
    if (t->state == GF_OUTBOARD) {
        if (t->ob_size <= GF_OUTBOARD_MAX) {
            t->outboard = (uint8_t *) malloc ((size_t) t->ob_size);
            t->ob_plan = gossip_plan_new ((t->ob_size + GF_OB_PIECE - 1) / GF_OB_PIECE);
        }
        if (!t->outboard || !t->ob_plan) {
            gf_transfer_fail (t, "outboard too large for memory");
            return;
        }
        gf_transfer_pump (t);
        return;
    }
    if (!t->plan) {                     //  the empty blob
        gf_transfer_ingest (t);
        return;
    }
    if (gossip_plan_done_count (t->plan))
        s_recheck (t);
    if (gossip_plan_complete (t->plan))
        gf_transfer_ingest (t);
    else
        gf_transfer_pump (t);
}
