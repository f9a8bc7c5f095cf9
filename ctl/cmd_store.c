/*  cmd_store.c: commands answered by the store (service "store"):
    ls, stats (with the broker's counters from "sup"), evict, gc, info
    (with this installation's paths and versions).
*/
#include "ctl.h"
#include "irh_hash.h"
#include "irh_identity.h"
#include "irh_msgs.h"
#include "irh_config.h"
#include <ctype.h>
#include <limits.h>
#include <sys/stat.h>

#ifndef IRH_VERSION
#define IRH_VERSION "0.0.0"
#endif

//  ---------------------------------------------------------------------
//  Listing: every live result from the store (one "ls" request), then
//  the name match, order and limit here, so the same rules serve ls and
//  evict.

typedef struct {
    irh_table_t *table;         //  the store's reply
    size_t *rows;               //  matching rows, newest access first
    size_t count;
    int col_key, col_fn, col_ns, col_size, col_accessed, col_producer;
    char self_id [IRH_NODE_ID_HEX + 1];     //  this node's id, "" if unknown
    irh_table_t *peers;         //  gossip_peers (names of members), NULL if none
} s_listing_t;

#define S_ZERO_ID "0000000000000000000000000000000000000000000000000000000000000000"

//  The producer of a row as its full node id: the store writes zeros for
//  this node's own results.
static const char *
s_producer_id (s_listing_t *self, size_t row)
{
    const char *cell = self->col_producer >= 0
                     ? irh_table_cell (self->table, row, (size_t) self->col_producer) : NULL;
    if (!cell || !*cell)
        return "";
    return streq (cell, S_ZERO_ID) && *self->self_id ? self->self_id : cell;
}

//  For people: "self", the member's name, else the id's first 12 digits.
static void
s_producer_label (s_listing_t *self, size_t row, char *out, size_t size)
{
    const char *id = s_producer_id (self, row);
    const char *cell = self->col_producer >= 0
                     ? irh_table_cell (self->table, row, (size_t) self->col_producer) : NULL;
    if (!*id) {
        snprintf (out, size, "-");
        return;
    }
    if ((cell && streq (cell, S_ZERO_ID)) || streq (id, self->self_id)) {
        snprintf (out, size, "self");
        return;
    }
    size_t peers = self->peers ? irh_table_rows (self->peers) : 0;
    for (size_t i = 0; i < peers; i++) {
        const char *name = ctl_cell_str (self->peers, i, "name");
        if (streq (ctl_cell_str (self->peers, i, "id"), id) && *name) {
            snprintf (out, size, "%s", name);
            return;
        }
    }
    snprintf (out, size, "%.12s", id);
}

//  This node's id and the members' names, for the producer column. Both
//  optional: without an identity or a gossip actor, ids stay ids.
static void
s_listing_names (ctl_t *ctl, s_listing_t *self)
{
    irh_paths_t *paths = ctl_paths (ctl);
    uint8_t key [IRH_KEY_BYTES];
    char *err = NULL;
    if (paths && irh_identity_load_public (paths->home, key, &err) == 0)
        irh_identity_id_from_key (key, self->self_id);
    free (err);
    irh_gossip_peers_t request = { 0 };
    zframe_t *frame = irh_gossip_peers_encode (&request);
    zmsg_t *reply = NULL;
    if (ctl_call_quiet (ctl, "gossip", &frame, ctl->timeout_ms, &reply, NULL) == 0) {
        self->peers = irh_table_decode (reply);
        zmsg_destroy (&reply);
    }
}

static int
s_column (irh_table_t *table, const char *name)
{
    for (size_t col = 0; col < irh_table_columns (table); col++)
        if (streq (irh_table_column_name (table, col), name))
            return (int) col;
    return -1;
}

static uint64_t
s_cell_u64 (s_listing_t *self, size_t row, int col)
{
    const char *cell = col >= 0? irh_table_cell (self->table, row, (size_t) col): NULL;
    return cell? strtoull (cell, NULL, 10): 0;
}

static const char *
s_cell_str (s_listing_t *self, size_t row, int col)
{
    const char *cell = col >= 0? irh_table_cell (self->table, row, (size_t) col): NULL;
    return cell? cell: "";
}

//  Newest access first; equal times keep the store's order.
static int
s_by_access (const void *a, const void *b, void *arg)
{
    s_listing_t *self = (s_listing_t *) arg;
    size_t ra = *(const size_t *) a, rb = *(const size_t *) b;
    uint64_t ta = s_cell_u64 (self, ra, self->col_accessed);
    uint64_t tb = s_cell_u64 (self, rb, self->col_accessed);
    if (ta != tb)
        return ta < tb? 1: -1;
    return ra < rb? -1: ra > rb;
}

static void
s_listing_free (s_listing_t *self)
{
    irh_table_destroy (&self->table);
    irh_table_destroy (&self->peers);
    free (self->rows);
    self->rows = NULL;
}

//  Results whose function matches name (exactly or by dotted tail; NULL
//  for all), or whose hex key starts with key_prefix, newest access first.
static int
s_listing (ctl_t *ctl, const char *name, const char *key_prefix, s_listing_t *self)
{
    memset (self, 0, sizeof *self);
    irh_ls_t request = { .limit = 0 };
    zframe_t *frame = irh_ls_encode (&request);
    int rc = ctl_call_table (ctl, "store", &frame, &self->table);
    if (rc)
        return rc;
    self->col_key = s_column (self->table, "key");
    self->col_fn = s_column (self->table, "fn");
    self->col_ns = s_column (self->table, "ns");
    self->col_size = s_column (self->table, "size");
    self->col_accessed = s_column (self->table, "accessed_us");
    self->col_producer = s_column (self->table, "producer");
    if (self->col_key < 0 || self->col_fn < 0) {
        s_listing_free (self);
        return ctl_fail (ctl, "store: ls reply lacks the key or fn column");
    }
    size_t rows = irh_table_rows (self->table);
    self->rows = calloc (rows? rows: 1, sizeof (size_t));
    assert (self->rows);
    for (size_t row = 0; row < rows; row++) {
        if (name && !ctl_fn_matches (s_cell_str (self, row, self->col_fn), name))
            continue;
        if (key_prefix && strncmp (s_cell_str (self, row, self->col_key), key_prefix,
                                   strlen (key_prefix)) != 0)
            continue;
        self->rows [self->count++] = row;
    }
    qsort_r (self->rows, self->count, sizeof (size_t), s_by_access, self);
    return 0;
}

//  Right-align text in a field of width (text is ASCII here).
static void
s_right (char *buf, size_t size, const char *text, size_t width)
{
    size_t len = strlen (text);
    snprintf (buf, size, "%*s%s", (int) (width > len? width - len: 0), "", text);
}

static void
s_print_listing (s_listing_t *self, size_t shown)
{
    int col_codec = s_column (self->table, "codec");
    int col_created = s_column (self->table, "created_us");
    int col_expires = s_column (self->table, "expires_us");
    uint64_t now = (uint64_t) zclock_time () * 1000;
    //  Sizes right-aligned: find the widest first.
    uint64_t total = 0;
    size_t width = 4;
    char buf [64], cell [96];
    for (size_t i = 0; i < self->count; i++) {
        uint64_t size = s_cell_u64 (self, self->rows [i], self->col_size);
        total += size;
        if (i < shown && strlen (ctl_fmt_bytes (size, buf, sizeof buf)) > width)
            width = strlen (buf);
    }
    if (strlen (ctl_fmt_bytes (total, buf, sizeof buf)) > width)
        width = strlen (buf);
    irh_table_t *view = irh_table_new ("KEY:s\tNAMESPACE:s\tFUNCTION:s\tSIZE:s\tCODEC:s"
                                       "\tPRODUCER:s\tACCESSED:s\tCREATED:s\tEXPIRES:s");
    for (size_t i = 0; i < shown; i++) {
        size_t row = self->rows [i];
        snprintf (cell, sizeof cell, "%.12s", s_cell_str (self, row, self->col_key));
        irh_table_row (view);
        irh_table_str (view, cell);
        //  Older stores do not send the namespace.
        const char *ns = s_cell_str (self, row, self->col_ns);
        irh_table_str (view, *ns? ns: "-");
        irh_table_str (view, s_cell_str (self, row, self->col_fn));
        s_right (cell, sizeof cell, ctl_fmt_bytes (s_cell_u64 (self, row, self->col_size),
                                                   buf, sizeof buf), width);
        irh_table_str (view, cell);
        irh_table_str (view, s_cell_str (self, row, col_codec));
        s_producer_label (self, row, cell, sizeof cell);
        irh_table_str (view, cell);
        irh_table_str (view, ctl_fmt_ago (s_cell_u64 (self, row, self->col_accessed), now,
                                          buf, sizeof buf));
        irh_table_str (view, ctl_fmt_time (s_cell_u64 (self, row, col_created), buf, sizeof buf));
        uint64_t expires = s_cell_u64 (self, row, col_expires);
        irh_table_str (view, expires? ctl_fmt_time (expires, buf, sizeof buf): "never");
    }
    irh_table_row (view);
    irh_table_str (view, "TOTAL");
    irh_table_str (view, "");
    if (shown < self->count)
        snprintf (cell, sizeof cell, "%zu of %zu results shown", shown, self->count);
    else
        snprintf (cell, sizeof cell, "%zu result%s", self->count, self->count == 1? "": "s");
    irh_table_str (view, cell);
    s_right (cell, sizeof cell, ctl_fmt_bytes (total, buf, sizeof buf), width);
    irh_table_str (view, cell);
    for (int col = 0; col < 5; col++)
        irh_table_str (view, "");
    //  The TOTAL row leaves its last columns empty: print without the
    //  padding that would trail on that line.
    char *text = NULL;
    size_t length = 0;
    FILE *memory = open_memstream (&text, &length);
    if (memory) {
        irh_table_print (view, memory);
        fclose (memory);
        for (char *line = text, *next; line && *line; line = next) {
            next = strchr (line, '\n');
            size_t len = next? (size_t) (next - line): strlen (line);
            while (len > 0 && line [len - 1] == ' ')
                len--;
            printf ("%.*s\n", (int) len, line);
            next = next? next + 1: NULL;
        }
        free (text);
    }
    else
        irh_table_print (view, stdout);
    irh_table_destroy (&view);
}

//  ---------------------------------------------------------------------
//  ls [FN] [--limit N]

//  One result as JSON: the store's columns, the producer as a full node
//  id (this node's own id for its own results) and producer_name.
static void
s_json_row (ctl_t *ctl, s_listing_t *self, size_t row)
{
    ctl_json_open (ctl, '{');
    size_t cols = irh_table_columns (self->table);
    for (size_t col = 0; col < cols; col++) {
        ctl_json_key (ctl, irh_table_column_name (self->table, col));
        if ((int) col == self->col_producer)
            ctl_json_str (ctl, s_producer_id (self, row));
        else
            ctl_json_cell (ctl, irh_table_column_type (self->table, col),
                           irh_table_cell (self->table, row, col));
    }
    if (self->col_producer >= 0) {
        char label [80];
        s_producer_label (self, row, label, sizeof label);
        ctl_json_key (ctl, "producer_name");
        ctl_json_str (ctl, label);
    }
    ctl_json_close (ctl);
}

int
ctl_cmd_ls (ctl_t *ctl, int argc, char **argv)
{
    uint64_t limit = 0;
    const char *fn = NULL;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--limit") || strncmp (argv [i], "--limit=", 8) == 0) {
            const char *value = argv [i][7] == '='? argv [i] + 8: i + 1 < argc? argv [++i]: NULL;
            char *end = NULL;
            limit = value? strtoull (value, &end, 10): 0;
            if (!value || !*value || *end || value [0] == '-' || limit > UINT32_MAX)
                return ctl_usage (ctl, "--limit needs a count (0 = all)");
        }
        else
        if (!fn)
            fn = argv [i];
        else
            return ctl_usage (ctl, "ls takes at most one FN");
    }
    if (fn && strlen (fn) > IRH_LS_FN_MAX)
        return ctl_usage (ctl, "function name longer than %d bytes", IRH_LS_FN_MAX);
    s_listing_t listing;
    int rc = s_listing (ctl, fn, NULL, &listing);
    if (rc)
        return rc;
    s_listing_names (ctl, &listing);
    size_t shown = limit && limit < listing.count? (size_t) limit: listing.count;
    if (ctl->json) {
        ctl_json_open (ctl, '[');
        for (size_t i = 0; i < shown; i++)
            s_json_row (ctl, &listing, listing.rows [i]);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else
        s_print_listing (&listing, shown);
    s_listing_free (&listing);
    return 0;
}

//  ---------------------------------------------------------------------
//  stats

//  gossip's counters (lookups by outcome, fetches, verdicts, bytes
//  served and received), or NULL when gossip does not answer: a daemon
//  whose gossip is down or restarting still shows its store counters.
static irh_table_t *
s_gossip_stats (ctl_t *ctl)
{
    irh_gossip_stats_t request = { 0 };
    zframe_t *frame = irh_gossip_stats_encode (&request);
    zmsg_t *reply = NULL;
    if (ctl_call_quiet (ctl, "gossip", &frame, ctl->timeout_ms, &reply, NULL) != 0)
        return NULL;
    irh_table_t *table = irh_table_decode (reply);
    zmsg_destroy (&reply);
    return table;
}

int
ctl_cmd_stats (ctl_t *ctl, int argc, char **argv)
{
    (void) argv;
    if (argc != 1)
        return ctl_usage (ctl, "stats takes no arguments");
    irh_stats_t store_request = { 0 };
    zframe_t *frame = irh_stats_encode (&store_request);
    irh_table_t *store = NULL;
    int rc = ctl_call_table (ctl, "store", &frame, &store);
    if (rc)
        return rc;
    irh_broker_stats_t broker_request = { 0 };
    frame = irh_broker_stats_encode (&broker_request);
    irh_table_t *broker = NULL;
    rc = ctl_call_table (ctl, "sup", &frame, &broker);
    if (rc) {
        irh_table_destroy (&store);
        return rc;
    }
    irh_table_t *gossip = s_gossip_stats (ctl);
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "store");
        ctl_json_table_object (ctl, store);
        ctl_json_key (ctl, "broker");
        ctl_json_table_object (ctl, broker);
        if (gossip) {
            ctl_json_key (ctl, "gossip");
            ctl_json_table_object (ctl, gossip);
        }
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        printf ("store:\n");
        irh_table_print (store, stdout);
        printf ("\nbroker:\n");
        irh_table_print (broker, stdout);
        if (gossip) {
            printf ("\ngossip:\n");
            irh_table_print (gossip, stdout);
        }
    }
    irh_table_destroy (&store);
    irh_table_destroy (&broker);
    irh_table_destroy (&gossip);
    return 0;
}

//  ---------------------------------------------------------------------
//  evict FN | evict --key HEX
//
//  FN is matched like ls does: the exact name, else the one function
//  whose dotted tail it is. HEX may be a unique prefix of a key (ls shows
//  the first 12 digits). Nothing matched is an error (exit 1).

//  The one function name in the listing; NULL after printing why.
static const char *
s_one_function (ctl_t *ctl, s_listing_t *listing, const char *name)
{
    const char *found = NULL;
    size_t others = 0;
    for (size_t i = 0; i < listing->count; i++) {
        const char *fn = s_cell_str (listing, listing->rows [i], listing->col_fn);
        if (!found)
            found = fn;
        else
        if (!streq (found, fn))
            others++;
    }
    if (!found)
        ctl_fail (ctl, "evict: no stored results of a function named '%s'", name);
    else
    if (others) {
        fprintf (stderr, "irohds-ctl: evict: '%s' matches more than one function; "
                 "give the full name:", name);
        zhashx_t *seen = zhashx_new ();
        for (size_t i = 0; i < listing->count; i++) {
            const char *fn = s_cell_str (listing, listing->rows [i], listing->col_fn);
            if (zhashx_insert (seen, fn, (void *) 1) == 0)
                fprintf (stderr, " %s", fn);
        }
        zhashx_destroy (&seen);
        fputc ('\n', stderr);
        found = NULL;
    }
    return found;
}

int
ctl_cmd_evict (ctl_t *ctl, int argc, char **argv)
{
    irh_evict_t request;
    memset (&request, 0, sizeof request);
    const char *key_arg = NULL, *name = NULL;
    if (argc == 3 && streq (argv [1], "--key"))
        key_arg = argv [2];
    else
    if (argc == 2 && strncmp (argv [1], "--key=", 6) == 0)
        key_arg = argv [1] + 6;
    else
    if (argc == 2 && argv [1][0] != '-')
        name = argv [1];
    else
        return ctl_usage (ctl, "evict needs FN or --key HEX");
    char key_hex [IRH_HASH_HEX_SIZE] = "";
    if (key_arg) {
        size_t len = strlen (key_arg);
        char lower [IRH_HASH_HEX_SIZE];
        for (size_t i = 0; i < len && i < sizeof lower - 1; i++)
            lower [i] = (char) tolower ((unsigned char) key_arg [i]);
        lower [len < sizeof lower? len: sizeof lower - 1] = 0;
        if (len < 4 || len > 64 || strspn (lower, "0123456789abcdef") != len)
            return ctl_usage (ctl, "--key needs 64 hex digits (or a unique prefix of 4 or more)");
        if (len < 64) {
            s_listing_t listing;
            int rc = s_listing (ctl, NULL, lower, &listing);
            if (rc)
                return rc;
            if (listing.count == 1)
                snprintf (key_hex, sizeof key_hex, "%s",
                          s_cell_str (&listing, listing.rows [0], listing.col_key));
            s_listing_free (&listing);
            if (listing.count == 0)
                return ctl_fail (ctl, "evict: no stored result has a key starting with %s", lower);
            if (listing.count > 1)
                return ctl_fail (ctl, "evict: %zu results have keys starting with %s; give more digits",
                                 listing.count, lower);
        }
        else
            snprintf (key_hex, sizeof key_hex, "%s", lower);
        if (irh_hash_from_hex (key_hex, request.key) != 0)
            return ctl_usage (ctl, "--key needs 64 hex digits");
    }
    else {
        if (strlen (name) > IRH_EVICT_FN_MAX)
            return ctl_usage (ctl, "function name longer than %d bytes", IRH_EVICT_FN_MAX);
        strcpy (request.fn, name);
    }
    //  Exact names go straight to the store; a tail is resolved first.
    irh_evicted_t evicted;
    for (int attempt = 0; attempt < 2; attempt++) {
        zframe_t *frame = irh_evict_encode (&request);
        if (!frame)
            return ctl_usage (ctl, "function name is not valid UTF-8 text");
        zframe_t *body = NULL;
        int rc = ctl_call_message (ctl, "store", &frame, &body);
        if (rc)
            return rc;
        rc = irh_evicted_decode (body, &evicted);
        zframe_destroy (&body);
        if (rc)
            return ctl_fail (ctl, "store: bad reply to evict: %s", irh_msgs_error ());
        if (evicted.count > 0 || !name || attempt == 1)
            break;
        s_listing_t listing;
        rc = s_listing (ctl, name, NULL, &listing);
        if (rc)
            return rc;
        const char *fn = s_one_function (ctl, &listing, name);
        if (fn)
            snprintf (request.fn, sizeof request.fn, "%s", fn);
        s_listing_free (&listing);
        if (!fn)
            return CTL_EXIT_ERROR;
    }
    if (evicted.count == 0)
        return key_arg? ctl_fail (ctl, "evict: no stored result with key %s", key_hex)
                      : ctl_fail (ctl, "evict: no stored results of a function named '%s'", name);
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, request.fn [0]? "fn": "key");
        ctl_json_str (ctl, request.fn [0]? request.fn: key_hex);
        ctl_json_key (ctl, "count");
        ctl_json_u64 (ctl, evicted.count);
        ctl_json_key (ctl, "bytes");
        ctl_json_u64 (ctl, evicted.bytes);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        char size [32];
        printf ("evicted %" PRIu64 " result%s (%s)%s%s\n", evicted.count,
                evicted.count == 1? "": "s", ctl_fmt_bytes (evicted.bytes, size, sizeof size),
                request.fn [0]? " of ": "", request.fn);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  gc

int
ctl_cmd_gc (ctl_t *ctl, int argc, char **argv)
{
    (void) argv;
    if (argc != 1)
        return ctl_usage (ctl, "gc takes no arguments");
    irh_gc_t request = { 0 };
    zframe_t *frame = irh_gc_encode (&request);
    zframe_t *body = NULL;
    int rc = ctl_call_message (ctl, "store", &frame, &body);
    if (rc)
        return rc;
    irh_gc_reply_t gc;
    rc = irh_gc_reply_decode (body, &gc);
    zframe_destroy (&body);
    if (rc)
        return ctl_fail (ctl, "store: bad reply to gc: %s", irh_msgs_error ());
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "expired");
        ctl_json_u64 (ctl, gc.expired);
        ctl_json_key (ctl, "blobs");
        ctl_json_u64 (ctl, gc.blobs);
        ctl_json_key (ctl, "files");
        ctl_json_u64 (ctl, gc.files);
        ctl_json_key (ctl, "bytes");
        ctl_json_u64 (ctl, gc.bytes);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        char size [32];
        printf ("gc: %" PRIu64 " expired results, %" PRIu64 " blobs, %" PRIu64
                " files removed, %s freed\n", gc.expired, gc.blobs, gc.files,
                ctl_fmt_bytes (gc.bytes, size, sizeof size));
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  info: this installation (paths, versions, the daemon's pid) and the
//  store's own settings. Without a daemon it still reports what can be
//  known offline: the paths, whether the home and the config exist, the
//  config's problems and the size of the store's files.

//  A store setting: numbers as JSON numbers (the store sends text).
static void
s_json_setting (ctl_t *ctl, const char *value)
{
    size_t len = value? strlen (value): 0;
    bool number = len > 0 && len <= 19 && strspn (value, "0123456789") == len
               && (value [0] != '0' || len == 1);
    ctl_json_cell (ctl, number? 'u': 's', value);
}

static uint64_t
s_file_bytes (const char *dir, const char *name)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode)? (uint64_t) st.st_size: 0;
}

//  Ask the supervisor who it is (a standalone actor, --endpoint, has no
//  "sup": ask the store itself). 0 and *pong when it answered, -1 when no
//  daemon answers (not an error for info), else the exit code after
//  printing why.
static int
s_info_ping (ctl_t *ctl, irh_pong_t *pong)
{
    memset (pong, 0, sizeof *pong);
    if (!ctl_maybe_running (ctl))
        return -1;
    const char *who = ctl->endpoint_arg? "store": "sup";
    irh_ping_t ping = { 0 };
    zframe_t *frame = irh_ping_encode (&ping);
    zmsg_t *reply = NULL;
    const char *code = NULL;
    int rc = ctl_call_quiet (ctl, who, &frame, ctl->timeout_ms, &reply, &code);
    if (rc == CTL_EXIT_NOT_RUNNING)
        return -1;
    if (rc) {
        zmsg_destroy (&reply);
        const char *text = ctl->client? irh_client_error_text (ctl->client): NULL;
        return ctl_fail (ctl, "%s: %s: %s", who, code? code: "error", text? text: "");
    }
    zframe_t *body = zmsg_pop (reply);
    rc = body? irh_pong_decode (body, pong): -1;
    zframe_destroy (&body);
    zmsg_destroy (&reply);
    if (rc)
        return ctl_fail (ctl, "%s: bad reply to ping: %s", who, irh_msgs_error ());
    ctl->checked = true;
    return 0;
}

int
ctl_cmd_info (ctl_t *ctl, int argc, char **argv)
{
    (void) argv;
    if (argc != 1)
        return ctl_usage (ctl, "info takes no arguments");
    irh_paths_t *paths = ctl_paths (ctl);
    if (!paths)
        return CTL_EXIT_ERROR;
    irh_pong_t pong;
    int rc = s_info_ping (ctl, &pong);
    if (rc > 0)
        return rc;
    bool running = rc == 0;
    irh_table_t *store = NULL;
    if (running) {
        irh_info_t request = { 0 };
        zframe_t *frame = irh_info_encode (&request);
        rc = ctl_call_table (ctl, "store", &frame, &store);
        if (rc)
            return rc;
    }
    struct stat st;
    bool home_exists = stat (paths->home, &st) == 0 && S_ISDIR (st.st_mode);
    bool config_exists = stat (paths->config, &st) == 0;
    //  Never read a config that is not a regular file (a FIFO blocks).
    uint64_t problems = config_exists && !S_ISREG (st.st_mode);
    if (config_exists && !problems) {
        irh_config_t *config = irh_config_load (paths->config);
        problems = config? irh_config_errors (config): 0;
        irh_config_destroy (&config);
    }
    uint64_t store_bytes = s_file_bytes (paths->store, "data.mdb");
    //  Who this node is (creates the identity if missing: cmd_peers.c).
    char node_id [80], node_name [80], listen [80];
    rc = ctl_node_fields (ctl, node_id, node_name, listen, sizeof node_id);
    if (rc)
        return rc;

    //  One list of local facts for both forms: name, type, text.
    char pid [16], problems_text [24], store_text [24];
    snprintf (pid, sizeof pid, "%u", pong.pid);
    snprintf (problems_text, sizeof problems_text, "%" PRIu64, problems);
    snprintf (store_text, sizeof store_text, "%" PRIu64, store_bytes);
    const char *local [][3] = {
        { "ctl_version", "s", IRH_VERSION },
        { "daemon_running", "b", running? "1": "0" },
        { "daemon_version", "s", running? pong.version: NULL },
        { "daemon_pid", "u", running? pid: NULL },
        { "home", "s", paths->home },
        { "home_exists", "b", home_exists? "1": "0" },
        { "run", "s", paths->run },
        { "store", "s", paths->store },
        { "store_file_bytes", "u", store_text },
        { "blobs", "s", paths->blobs },
        { "config", "s", paths->config },
        { "config_exists", "b", config_exists? "1": "0" },
        { "config_problems", "u", problems_text },
        { "log", "s", paths->log },
        { "endpoint", "s", ctl_endpoint (ctl) },
        { "node_id", "s", *node_id? node_id: NULL },
        { "node_name", "s", *node_name? node_name: NULL },
        { "listen", "s", listen },
        { NULL, NULL, NULL }
    };
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "node_id");
        ctl_json_str (ctl, *node_id? node_id: NULL);
        ctl_json_key (ctl, "node_name");
        ctl_json_str (ctl, *node_name? node_name: NULL);
        ctl_json_key (ctl, "listen");
        ctl_json_str (ctl, listen);
        ctl_json_key (ctl, "local");
        ctl_json_open (ctl, '{');
        for (int i = 0; local [i][0]; i++) {
            ctl_json_key (ctl, local [i][0]);
            ctl_json_cell (ctl, local [i][1][0], local [i][2]);
        }
        ctl_json_close (ctl);
        ctl_json_key (ctl, "store");
        if (store) {
            ctl_json_open (ctl, '{');
            for (size_t row = 0; row < irh_table_rows (store); row++) {
                const char *name = irh_table_cell (store, row, 0);
                ctl_json_key (ctl, name? name: "");
                s_json_setting (ctl, irh_table_columns (store) > 1
                                     ? irh_table_cell (store, row, 1): NULL);
            }
            ctl_json_close (ctl);
        }
        else
            ctl_json_str (ctl, NULL);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        irh_table_t *mine = irh_table_new ("name:s\tvalue:s");
        for (int i = 0; local [i][0]; i++) {
            char size [32];
            const char *text = local [i][2];
            if (streq (local [i][0], "store_file_bytes"))
                text = ctl_fmt_bytes (store_bytes, size, sizeof size);
            else
            if (local [i][1][0] == 'b')
                text = text [0] == '1'? "yes": "no";
            irh_table_row (mine);
            irh_table_str (mine, local [i][0]);
            irh_table_str (mine, text? text: "-");
        }
        printf ("local:\n");
        irh_table_print (mine, stdout);
        irh_table_destroy (&mine);
        if (store) {
            printf ("\nstore:\n");
            irh_table_print (store, stdout);
        }
        else
        if (ctl->home_arg)
            printf ("\nstore: daemon not running (start it with `irohds-ctl --home %s up`)\n",
                    ctl->home_arg);
        else
            printf ("\nstore: daemon not running (start it with `irohds-ctl up`)\n");
    }
    irh_table_destroy (&store);
    return 0;
}
