/*  cmd_store.c: commands answered by the store (service "store"):
    ls, stats (with the broker's counters from "sup"), evict, gc, info
    (with this installation's paths and versions).
*/
#include "ctl.h"
#include "irh_hash.h"
#include "irh_msgs.h"

#ifndef IRH_VERSION
#define IRH_VERSION "0.0.0"
#endif

//  ---------------------------------------------------------------------
//  ls [FN] [--limit N]

int
ctl_cmd_ls (ctl_t *ctl, int argc, char **argv)
{
    irh_ls_t request = { .limit = 0 };
    const char *fn = NULL;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--limit")) {
            char *end = NULL;
            unsigned long long limit = i + 1 < argc? strtoull (argv [i + 1], &end, 10): 0;
            if (i + 1 >= argc || !*argv [i + 1] || *end || argv [i + 1][0] == '-'
            ||  limit > UINT32_MAX)
                return ctl_usage (ctl, "--limit needs a count (0 = all)");
            request.limit = (uint32_t) limit;
            i++;
        }
        else
        if (!fn)
            fn = argv [i];
        else
            return ctl_usage (ctl, "ls takes at most one FN");
    }
    if (fn) {
        if (strlen (fn) > IRH_LS_FN_MAX)
            return ctl_usage (ctl, "function name longer than %d bytes", IRH_LS_FN_MAX);
        strcpy (request.fn, fn);
    }
    zframe_t *frame = irh_ls_encode (&request);
    if (!frame)
        return ctl_usage (ctl, "function name is not valid UTF-8 text");
    irh_table_t *table = NULL;
    int rc = ctl_call_table (ctl, "store", &frame, &table);
    if (rc)
        return rc;
    ctl_print_table (ctl, table);
    irh_table_destroy (&table);
    return 0;
}

//  ---------------------------------------------------------------------
//  stats

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
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "store");
        ctl_json_table_object (ctl, store);
        ctl_json_key (ctl, "broker");
        ctl_json_table_object (ctl, broker);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        printf ("store:\n");
        irh_table_print (store, stdout);
        printf ("\nbroker:\n");
        irh_table_print (broker, stdout);
    }
    irh_table_destroy (&store);
    irh_table_destroy (&broker);
    return 0;
}

//  ---------------------------------------------------------------------
//  evict FN | evict --key HEX

int
ctl_cmd_evict (ctl_t *ctl, int argc, char **argv)
{
    irh_evict_t request;
    memset (&request, 0, sizeof request);
    const char *what = NULL;
    if (argc == 3 && streq (argv [1], "--key")) {
        if (irh_hash_from_hex (argv [2], request.key) != 0)
            return ctl_usage (ctl, "--key needs 64 hex digits");
        what = argv [2];
    }
    else
    if (argc == 2 && argv [1][0] != '-') {
        if (strlen (argv [1]) > IRH_EVICT_FN_MAX)
            return ctl_usage (ctl, "function name longer than %d bytes", IRH_EVICT_FN_MAX);
        strcpy (request.fn, argv [1]);
        what = argv [1];
    }
    else
        return ctl_usage (ctl, "evict needs FN or --key HEX");
    zframe_t *frame = irh_evict_encode (&request);
    if (!frame)
        return ctl_usage (ctl, "function name is not valid UTF-8 text");
    zframe_t *body = NULL;
    int rc = ctl_call_message (ctl, "store", &frame, &body);
    if (rc)
        return rc;
    irh_evicted_t evicted;
    rc = irh_evicted_decode (body, &evicted);
    zframe_destroy (&body);
    if (rc)
        return ctl_fail (ctl, "store: bad reply to evict: %s", irh_msgs_error ());
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, request.fn [0]? "fn": "key");
        ctl_json_str (ctl, what);
        ctl_json_key (ctl, "count");
        ctl_json_u64 (ctl, evicted.count);
        ctl_json_key (ctl, "bytes");
        ctl_json_u64 (ctl, evicted.bytes);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        char size [32];
        printf ("evicted %" PRIu64 " result%s (%s)\n", evicted.count,
                evicted.count == 1? "": "s", ctl_fmt_bytes (evicted.bytes, size, sizeof size));
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
//  store's own settings.

int
ctl_cmd_info (ctl_t *ctl, int argc, char **argv)
{
    (void) argv;
    if (argc != 1)
        return ctl_usage (ctl, "info takes no arguments");
    irh_paths_t *paths = ctl_paths (ctl);
    if (!paths)
        return CTL_EXIT_ERROR;
    //  Ask the supervisor who it is; a standalone actor (--endpoint) has
    //  no "sup", so ask the store itself.
    const char *who = ctl->endpoint_arg? "store": "sup";
    irh_ping_t ping = { 0 };
    zframe_t *frame = irh_ping_encode (&ping);
    zframe_t *body = NULL;
    int rc = ctl_call_message (ctl, who, &frame, &body);
    if (rc)
        return rc;
    irh_pong_t pong;
    rc = irh_pong_decode (body, &pong);
    zframe_destroy (&body);
    if (rc)
        return ctl_fail (ctl, "%s: bad reply to ping: %s", who, irh_msgs_error ());

    irh_info_t request = { 0 };
    frame = irh_info_encode (&request);
    irh_table_t *store = NULL;
    rc = ctl_call_table (ctl, "store", &frame, &store);
    if (rc)
        return rc;

    char pid [16];
    snprintf (pid, sizeof pid, "%u", pong.pid);
    const char *local [][2] = {
        { "ctl_version", IRH_VERSION },
        { "daemon_version", pong.version },
        { "daemon_pid", pid },
        { "home", paths->home },
        { "run", paths->run },
        { "store", paths->store },
        { "blobs", paths->blobs },
        { "config", paths->config },
        { "log", paths->log },
        { "endpoint", ctl_endpoint (ctl) },
        { NULL, NULL }
    };
    irh_table_t *mine = irh_table_new ("name:s\tvalue:s");
    for (int i = 0; local [i][0]; i++) {
        irh_table_row (mine);
        irh_table_str (mine, local [i][0]);
        irh_table_str (mine, local [i][1]);
    }
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "local");
        ctl_json_table_object (ctl, mine);
        ctl_json_key (ctl, "store");
        ctl_json_table_object (ctl, store);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        printf ("local:\n");
        irh_table_print (mine, stdout);
        printf ("\nstore:\n");
        irh_table_print (store, stdout);
    }
    irh_table_destroy (&mine);
    irh_table_destroy (&store);
    return 0;
}
