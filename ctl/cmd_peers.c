/*  cmd_peers.c: "irohds-ctl peers" (the homie table of the other nodes,
    from service "gossip"), "irohds-ctl join tcp://HOST:PORT[#NODEID]" (add a
    peer at run time) and the node fields of "irohds-ctl info" (node id,
    node name, listen address), which need no daemon.
*/
#include "ctl.h"
#include "gossip.h"
#include "irh_config.h"
#include "irh_identity.h"
#include "irh_msgs.h"
#include <inttypes.h>
#include <stdlib.h>

int
ctl_node_fields (ctl_t *ctl, char *node_id, char *node_name, char *listen, size_t size)
{
    irh_paths_t *paths = ctl_paths (ctl);
    if (!paths)
        return CTL_EXIT_ERROR;
    snprintf (listen, size, "tcp://0.0.0.0:%d", GOSSIP_DEFAULT_PORT);
    node_id [0] = node_name [0] = 0;
    //  A home that does not exist is reported, never created (info must
    //  not leave one behind for a mistyped --home); in an existing home a
    //  missing identity is made here.
    struct stat st;
    if (stat (paths->home, &st) != 0 || !S_ISDIR (st.st_mode))
        return 0;
    char *err = NULL;
    irh_identity_t *identity = irh_identity_load_or_create (paths->home, &err);
    if (!identity) {
        int rc = ctl_fail (ctl, "node identity: %s", err ? err : "cannot be loaded");
        free (err);
        return rc;
    }
    snprintf (node_id, size, "%s", irh_identity_node_id (identity));
    snprintf (node_name, size, "%s", irh_identity_name (identity));
    irh_identity_destroy (&identity);
    if (stat (paths->config, &st) == 0 && S_ISREG (st.st_mode)) {
        irh_config_t *config = irh_config_load (paths->config);
        const char *value = config ? irh_config_str (config, "peers.listen", NULL) : NULL;
        if (value)
            snprintf (listen, size, "%s", value);
        irh_config_destroy (&config);
    }
    return 0;
}

static void
s_peers_json (ctl_t *ctl, irh_table_t *table)
{
    ctl_json_open (ctl, '[');
    for (size_t row = 0; row < irh_table_rows (table); row++) {
        ctl_json_open (ctl, '{');
        const char *fields [] = { "id", "name", "address", "state", NULL };
        for (int i = 0; fields [i]; i++) {
            ctl_json_key (ctl, fields [i]);
            ctl_json_str (ctl, ctl_cell_str (table, row, fields [i]));
        }
        uint64_t rtt = ctl_cell_u64 (table, row, "rtt_us");
        ctl_json_key (ctl, "rtt_ms");
        if (rtt)
            ctl_json_double (ctl, (double) rtt / 1000.0);
        else
            ctl_json_str (ctl, NULL);
        ctl_json_key (ctl, "cpu_idle");
        ctl_json_double (ctl, (double) ctl_cell_u64 (table, row, "cpu_idle_ppm") / 10000.0);
        ctl_json_key (ctl, "ram_free");
        ctl_json_u64 (ctl, ctl_cell_u64 (table, row, "ram_free"));
        ctl_json_key (ctl, "gpu");
        const char *gpu = ctl_cell_str (table, row, "gpu");
        if (*gpu) {
            ctl_json_open (ctl, '{');
            ctl_json_key (ctl, "model");
            ctl_json_str (ctl, gpu);
            ctl_json_key (ctl, "mem_free");
            ctl_json_u64 (ctl, ctl_cell_u64 (table, row, "gpu_mem_free"));
            ctl_json_close (ctl);
        }
        else
            ctl_json_str (ctl, NULL);
        ctl_json_key (ctl, "status");
        ctl_json_str (ctl, ctl_cell_str (table, row, "status"));
        ctl_json_key (ctl, "results");
        ctl_json_u64 (ctl, ctl_cell_u64 (table, row, "results"));
        ctl_json_key (ctl, "load");
        ctl_json_double (ctl, (double) ctl_cell_u64 (table, row, "load1_milli") / 1000.0);
        ctl_json_key (ctl, "version");
        ctl_json_str (ctl, ctl_cell_str (table, row, "version"));
        ctl_json_key (ctl, "last_seen_s");
        uint64_t seen = ctl_cell_u64 (table, row, "last_seen_ms");
        if (seen)
            ctl_json_double (ctl, (double) seen / 1000.0);
        else
            ctl_json_str (ctl, NULL);
        ctl_json_close (ctl);
    }
    ctl_json_close (ctl);
    ctl_json_end (ctl);
}

static void
s_peers_text (irh_table_t *table)
{
    irh_table_t *out = irh_table_new ("NAME:s\tID:s\tADDRESS:s\tSTATE:s\tCPU_IDLE:s\t"
                                      "RAM_FREE:s\tGPU:s\tSTATUS:s\tRTT:s\tRESULTS:u\tLAST_SEEN:s");
    for (size_t row = 0; row < irh_table_rows (table); row++) {
        char id [13], cpu [16], ram [32], gpu [96], rtt [24], seen [24];
        snprintf (id, sizeof id, "%.12s", ctl_cell_str (table, row, "id"));
        snprintf (cpu, sizeof cpu, "%.0f%%", (double) ctl_cell_u64 (table, row, "cpu_idle_ppm") / 1e4);
        ctl_fmt_bytes (ctl_cell_u64 (table, row, "ram_free"), ram, sizeof ram);
        const char *model = ctl_cell_str (table, row, "gpu");
        if (*model) {
            char mem [32];
            snprintf (gpu, sizeof gpu, "%.60s (%s free)", model,
                      ctl_fmt_bytes (ctl_cell_u64 (table, row, "gpu_mem_free"), mem, sizeof mem));
        }
        else
            snprintf (gpu, sizeof gpu, "-");
        uint64_t us = ctl_cell_u64 (table, row, "rtt_us");
        if (us)
            snprintf (rtt, sizeof rtt, "%.2f ms", (double) us / 1000.0);
        else
            snprintf (rtt, sizeof rtt, "-");
        uint64_t ms = ctl_cell_u64 (table, row, "last_seen_ms");
        if (ms)
            snprintf (seen, sizeof seen, "%.1fs ago", (double) ms / 1000.0);
        else
            snprintf (seen, sizeof seen, "-");
        irh_table_row (out);
        irh_table_str (out, ctl_cell_str (table, row, "name"));
        irh_table_str (out, id);
        irh_table_str (out, ctl_cell_str (table, row, "address"));
        irh_table_str (out, ctl_cell_str (table, row, "state"));
        irh_table_str (out, cpu);
        irh_table_str (out, ram);
        irh_table_str (out, gpu);
        irh_table_str (out, ctl_cell_str (table, row, "status"));
        irh_table_str (out, rtt);
        irh_table_u64 (out, ctl_cell_u64 (table, row, "results"));
        irh_table_str (out, seen);
    }
    if (irh_table_rows (out) == 0)
        printf ("no peers known yet\n");
    else
        irh_table_print (out, stdout);
    irh_table_destroy (&out);
}

//  "peers --stats": the counters of gossip and discovery (bad frames,
//  refused hellos, bad beacons, ...), one object per service with --json.
static int
s_peers_stats (ctl_t *ctl)
{
    irh_table_t *tables [2] = { NULL, NULL };
    irh_gossip_stats_t gossip = { 0 };
    zframe_t *frame = irh_gossip_stats_encode (&gossip);
    int rc = ctl_call_table (ctl, "gossip", &frame, &tables [0]);
    if (rc == 0) {
        irh_discovery_stats_t discovery = { 0 };
        frame = irh_discovery_stats_encode (&discovery);
        rc = ctl_call_table (ctl, "discovery", &frame, &tables [1]);
    }
    if (rc == 0) {
        const char *names [] = { "gossip", "discovery" };
        if (ctl->json)
            ctl_json_open (ctl, '{');
        for (int i = 0; i < 2; i++) {
            if (ctl->json) {
                ctl_json_key (ctl, names [i]);
                ctl_json_table_object (ctl, tables [i]);
            }
            else {
                printf ("%s%s:\n", i ? "\n" : "", names [i]);
                irh_table_print (tables [i], stdout);
            }
        }
        if (ctl->json) {
            ctl_json_close (ctl);
            ctl_json_end (ctl);
        }
    }
    irh_table_destroy (&tables [0]);
    irh_table_destroy (&tables [1]);
    return rc;
}

int
ctl_cmd_peers (ctl_t *ctl, int argc, char **argv)
{
    if (argc == 2 && streq (argv [1], "--stats"))
        return s_peers_stats (ctl);
    if (argc != 1)
        return ctl_usage (ctl, "peers takes no arguments but --stats");
    irh_gossip_peers_t request = { 0 };
    zframe_t *frame = irh_gossip_peers_encode (&request);
    irh_table_t *table = NULL;
    int rc = ctl_call_table (ctl, "gossip", &frame, &table);
    if (rc)
        return rc;
    if (ctl->json)
        s_peers_json (ctl, table);
    else
        s_peers_text (table);
    irh_table_destroy (&table);
    return CTL_EXIT_OK;
}

int
ctl_cmd_join (ctl_t *ctl, int argc, char **argv)
{
    if (argc != 2)
        return ctl_usage (ctl, "join takes one address: tcp://HOST:PORT[#NODEID]");
    irh_gossip_join_t request;
    memset (&request, 0, sizeof request);
    const char *hash = strchr (argv [1], '#');
    size_t len = hash ? (size_t) (hash - argv [1]) : strlen (argv [1]);
    if (len >= sizeof request.address)
        return ctl_usage (ctl, "join: address too long");
    memcpy (request.address, argv [1], len);
    if (!gossip_address_valid (request.address))
        return ctl_usage (ctl, "join: '%s' is not tcp://HOST:PORT[#NODEID]", argv [1]);
    if (hash) {
        uint8_t key [IRH_KEY_BYTES];
        if (irh_identity_key_from_id (hash + 1, key) != 0)
            return ctl_usage (ctl, "join: '%s' is not a node id (64 lowercase hex characters)",
                              hash + 1);
        snprintf (request.node_id, sizeof request.node_id, "%s", hash + 1);
    }
    zframe_t *frame = irh_gossip_join_encode (&request);
    zframe_t *body = NULL;
    int rc = ctl_call_message (ctl, "gossip", &frame, &body);
    zframe_destroy (&body);
    if (rc)
        return rc;
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "joining");
        ctl_json_str (ctl, argv [1]);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else
        printf ("joining %s\n", argv [1]);
    return CTL_EXIT_OK;
}
