/*  cmd_fetch.c: "irohds-ctl fetches": the transfers of results from peers
    under way on this node (service "gossip", request gossip_fetches, all
    keys), as a table or, with --json, an array of objects with the
    gossip table's own columns (key, blob, ns, fn, size, received,
    rate_bps, sources, elapsed_ms, state).

    The table comes from the daemon: each cell is checked for its column
    type by the JSON writer (ctl_json_cell), and the text form only prints
    cells, so a malformed row cannot break the output.
*/
#include "ctl.h"
#include "irh_msgs.h"
#include <inttypes.h>
#include <stdlib.h>

//  The gossip table gives the live holders as short node ids separated
//  by commas; at most the first 12 digits of each are shown.
static void
s_short_sources (const char *sources, char *buf, size_t size)
{
    size_t used = 0;
    buf [0] = 0;
    while (*sources && used + 1 < size) {
        const char *end = strchr (sources, ',');
        size_t len = end ? (size_t) (end - sources) : strlen (sources);
        int n = snprintf (buf + used, size - used, "%s%.*s", used ? "," : "",
                          (int) (len < 12 ? len : 12), sources);
        if (n < 0 || (size_t) n >= size - used)
            break;
        used += (size_t) n;
        sources += len + (end ? 1 : 0);
    }
    if (!buf [0])
        snprintf (buf, size, "-");
}

static void
s_fetches_text (irh_table_t *table)
{
    irh_table_t *out = irh_table_new ("KEY:s\tFN:s\tSTATE:s\tRECEIVED:s\tSIZE:s\tDONE:s\t"
                                      "RATE:s\tELAPSED:s\tSOURCES:s");
    for (size_t row = 0; row < irh_table_rows (table); row++) {
        char key [13], got [32], size [32], done [16], rate [40], elapsed [32], sources [128];
        snprintf (key, sizeof key, "%.12s", ctl_cell_str (table, row, "key"));
        uint64_t total = ctl_cell_u64 (table, row, "size");
        uint64_t received = ctl_cell_u64 (table, row, "received");
        ctl_fmt_bytes (received, got, sizeof got);
        ctl_fmt_bytes (total, size, sizeof size);
        if (total)
            snprintf (done, sizeof done, "%.0f%%",
                      100.0 * (double) (received > total ? total : received) / (double) total);
        else
            snprintf (done, sizeof done, "-");
        char per_s [32];
        //  rate_bps is bytes (not bits) per second, docs/transfer.md.
        ctl_fmt_bytes (ctl_cell_u64 (table, row, "rate_bps"), per_s, sizeof per_s);
        snprintf (rate, sizeof rate, "%s/s", per_s);
        ctl_fmt_ms (ctl_cell_u64 (table, row, "elapsed_ms"), elapsed, sizeof elapsed);
        s_short_sources (ctl_cell_str (table, row, "sources"), sources, sizeof sources);
        irh_table_row (out);
        irh_table_str (out, key);
        irh_table_str (out, ctl_cell_str (table, row, "fn"));
        irh_table_str (out, ctl_cell_str (table, row, "state"));
        irh_table_str (out, got);
        irh_table_str (out, size);
        irh_table_str (out, done);
        irh_table_str (out, rate);
        irh_table_str (out, elapsed);
        irh_table_str (out, sources);
    }
    if (irh_table_rows (out) == 0)
        printf ("no transfers under way\n");
    else
        irh_table_print (out, stdout);
    irh_table_destroy (&out);
}

int
ctl_cmd_fetches (ctl_t *ctl, int argc, char **argv)
{
    (void) argv;
    if (argc != 1)
        return ctl_usage (ctl, "fetches takes no arguments");
    irh_gossip_fetches_t request;
    memset (&request, 0, sizeof request);       //  key zeros: every transfer
    zframe_t *frame = irh_gossip_fetches_encode (&request);
    irh_table_t *table = NULL;
    int rc = ctl_call_table (ctl, "gossip", &frame, &table);
    if (rc)
        return rc;
    if (ctl->json)
        ctl_print_table (ctl, table);
    else
        s_fetches_text (table);
    irh_table_destroy (&table);
    return CTL_EXIT_OK;
}
