/*  cmd_each.c: "irohds-ctl each NS [--keys] [--state S] [--limit N]": the
    progress of the run-once passes of a namespace (irohds.each,
    run_once; docs/run-once.md), from the store's each_list.

    Without --keys: the counts (known, done, running, pending) and the
    running keys with their holder and lease end. With --keys: one row per
    recorded key (store key, name, state, holder, expires_us), optionally
    only those in state S, at most N. A namespace with a secret here is
    stored under its id (docs/namespaces.md): NS is looked up by name.
*/
#include "ctl.h"
#include "irh_msgs.h"
#include "irh_nssecret.h"
#include <inttypes.h>
#include <sodium.h>
#include <stdlib.h>

static int
s_list (ctl_t *ctl, const char *ns, bool counts, const char *state, uint32_t limit,
        irh_table_t **table_p)
{
    irh_each_list_t request;
    memset (&request, 0, sizeof (request));
    snprintf (request.ns, sizeof (request.ns), "%s", ns);
    request.counts = counts ? 1 : 0;
    snprintf (request.state, sizeof (request.state), "%s", state);
    request.limit = limit;
    zframe_t *frame = irh_each_list_encode (&request);
    assert (frame);
    return ctl_call_table (ctl, "store", &frame, table_p);
}

//  The namespace the store keeps ns's tasks under: ns, or the id (hex,
//  into id_hex) of a namespace with a secret of that name here. 0, or -1
//  when the secret files cannot be read (printed: a refused file may hold
//  ns's secret, so ns is not looked at as public).
static int
s_store_ns (ctl_t *ctl, const char *ns, char id_hex [2 * IRH_NS_KEY_BYTES + 1],
            const char **store_ns)
{
    *store_ns = ns;
    irh_paths_t *paths = ctl_paths (ctl);
    if (!paths || !*ns)
        return 0;               //  the default namespace never has a secret
    uint8_t id [IRH_NS_KEY_BYTES], blind [IRH_NS_KEY_BYTES];
    char error [256] = "";
    int found = irh_ns_lookup (paths->ns, ns, id, blind, error, sizeof error);
    sodium_memzero (blind, sizeof blind);
    if (found < 0) {
        ctl_fail (ctl, "namespace secrets: %s", error);
        return -1;
    }
    if (found == 1) {
        sodium_bin2hex (id_hex, 2 * IRH_NS_KEY_BYTES + 1, id, sizeof id);
        *store_ns = id_hex;
    }
    return 0;
}

//  Counts and running keys of ns (shown by its name, asked by store_ns).
static int
s_summary (ctl_t *ctl, const char *ns, const char *store_ns, uint32_t limit)
{
    irh_table_t *counts = NULL, *running = NULL;
    int rc = s_list (ctl, store_ns, true, "", 0, &counts);
    if (!rc)
        rc = s_list (ctl, store_ns, false, "running", limit, &running);
    if (rc) {
        irh_table_destroy (&counts);
        return rc;
    }
    uint64_t value [4] = { 0, 0, 0, 0 };
    const char *names [4] = { "known", "done", "running", "pending" };
    for (size_t r = 0; r < irh_table_rows (counts); r++)
        for (int i = 0; i < 4; i++)
            if (streq (ctl_cell_str (counts, r, "state"), names [i]))
                value [i] = ctl_cell_u64 (counts, r, "count");
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "ns");
        ctl_json_str (ctl, ns);
        for (int i = 0; i < 4; i++) {
            ctl_json_key (ctl, names [i]);
            ctl_json_u64 (ctl, value [i]);
        }
        ctl_json_key (ctl, "holders");
        ctl_json_table (ctl, running);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else {
        printf ("%s: %" PRIu64 " known, %" PRIu64 " done, %" PRIu64 " running, %" PRIu64
                " pending\n", *ns ? ns : "(default namespace)",
                value [0], value [1], value [2], value [3]);
        size_t rows = irh_table_rows (running);
        if (rows)
            printf ("%-40s  %-16s  %s\n", "HOLDER", "LEASE ENDS", "KEY");
        for (size_t r = 0; r < rows; r++) {
            char when [64];
            ctl_fmt_time (ctl_cell_u64 (running, r, "expires_us"), when, sizeof (when));
            printf ("%-40s  %-16s  %s\n", ctl_cell_str (running, r, "holder"), when,
                    ctl_cell_str (running, r, "name"));
        }
    }
    irh_table_destroy (&counts);
    irh_table_destroy (&running);
    return 0;
}

int
ctl_cmd_each (ctl_t *ctl, int argc, char **argv)
{
    const char *ns = NULL, *state = "";
    bool keys = false;
    uint64_t limit = 0;
    for (int i = 1; i < argc; i++) {
        if (streq (argv [i], "--keys"))
            keys = true;
        else
        if (streq (argv [i], "--state") || strncmp (argv [i], "--state=", 8) == 0) {
            state = argv [i][7] == '=' ? argv [i] + 8 : i + 1 < argc ? argv [++i] : "";
            if (!streq (state, "done") && !streq (state, "running") && !streq (state, "pending"))
                return ctl_usage (ctl, "--state is done, running or pending");
            keys = true;
        }
        else
        if (streq (argv [i], "--limit") || strncmp (argv [i], "--limit=", 8) == 0) {
            const char *value = argv [i][7] == '=' ? argv [i] + 8 : i + 1 < argc ? argv [++i] : NULL;
            char *end = NULL;
            limit = value ? strtoull (value, &end, 10) : 0;
            if (!value || !*value || *end || value [0] == '-' || limit > UINT32_MAX)
                return ctl_usage (ctl, "--limit needs a count (0 = all)");
        }
        else
        if (!ns)
            ns = argv [i];
        else
            return ctl_usage (ctl, "each takes one NS");
    }
    if (!ns)
        return ctl_usage (ctl, "each needs a namespace (\"\" for the default one)");
    if (strlen (ns) > IRH_EACH_LIST_NS_MAX)
        return ctl_usage (ctl, "namespace longer than %d bytes", IRH_EACH_LIST_NS_MAX);
    char id_hex [2 * IRH_NS_KEY_BYTES + 1];
    const char *store_ns;
    if (s_store_ns (ctl, ns, id_hex, &store_ns) != 0)
        return 1;
    if (!keys)
        return s_summary (ctl, ns, store_ns, (uint32_t) limit);
    irh_table_t *table = NULL;
    int rc = s_list (ctl, store_ns, false, state, (uint32_t) limit, &table);
    if (rc)
        return rc;
    rc = ctl_print_table (ctl, table);
    irh_table_destroy (&table);
    return rc;
}
