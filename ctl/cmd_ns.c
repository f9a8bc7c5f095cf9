/*  cmd_ns.c: "irohds-ctl ns create|join|ls|leave": namespaces with a
    secret (docs/namespaces.md). The secrets are files under <home>/ns/
    (irh_nssecret.h); this is their only writer. These commands work
    without a daemon; when one runs, "ns join" also asks its gossip service
    to contact the token's node at once.

    After every change <home>/peers/ns_bootstrap is rewritten with the
    nodes the tokens name (not this node), so discovery contacts them at
    every start of the daemon as it does peers.bootstrap.
*/
#include "ctl.h"
#include "gossip.h"
#include "irh_config.h"
#include "irh_file.h"
#include "irh_identity.h"
#include "irh_known.h"
#include "irh_log.h"
#include "irh_msgs.h"
#include "irh_nssecret.h"
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <unistd.h>

//  Size of each buffer handed to ctl_node_fields (one size for all three).
#define S_FIELD 256

//  The secret files under dir; each refused one is reported on stderr
//  (and counted in list->refused). An exit code if dir cannot be read.
static int
s_list_load (ctl_t *ctl, const char *dir, irh_ns_list_t *list)
{
    char *err = NULL;
    if (irh_ns_list_load (dir, list, &err) != 0) {
        int rc = ctl_fail (ctl, "ns: %s", err ? err : dir);
        free (err);
        return rc;
    }
    for (size_t i = 0; i < list->refused; i++)
        fprintf (stderr, "irohds-ctl: ns: %s\n", list->errors [i]);
    return 0;
}

//  Paths with the home made (create and join write into it).
static irh_paths_t *
s_paths_made (ctl_t *ctl)
{
    char *err = NULL;
    irh_paths_t *paths = irh_paths_new (ctl->home_arg, true, &err);
    if (!paths)
        ctl_fail (ctl, "%s", err ? err : "cannot make the irohds home");
    free (err);
    return paths;
}

//  Rewrites <home>/peers/ns_bootstrap from the namespaces' tokens as the
//  secret files now are (after a join or a leave changed them).
static int
s_write_bootstrap (ctl_t *ctl, irh_paths_t *paths, const char *own_id)
{
    irh_ns_list_t loaded, *list = &loaded;
    int loaded_rc = s_list_load (ctl, paths->ns, list);
    if (loaded_rc != 0)
        return loaded_rc;
    char *dir = strdup (paths->ns_peers);
    char *slash = dir ? strrchr (dir, '/') : NULL;
    if (!slash) {
        free (dir);
        irh_ns_list_free (list);
        return ctl_fail (ctl, "out of memory");
    }
    *slash = 0;
    zlist_t *lines = zlist_new ();
    zlist_autofree (lines);
    zlist_comparefn (lines, (zlist_compare_fn *) strcmp);
    for (size_t i = 0; i < list->count; i++) {
        irh_ns_token_t *token = &list->items [i].token;
        if (!*token->address || streq (token->node_id, own_id))
            continue;
        char line [IRH_NS_ADDRESS_MAX + IRH_NS_ID_HEX + 3];
        snprintf (line, sizeof line, "%s#%s\n", token->address, token->node_id);
        if (!zlist_exists (lines, line))
            zlist_append (lines, line);
    }
    char *text = strdup ("# peers named by joined namespace tokens (irohds-ctl ns join);\n"
                         "# rewritten by irohds-ctl, read by the discovery actor at start\n");
    for (char *line = (char *) zlist_first (lines); line && text;
         line = (char *) zlist_next (lines)) {
        char *more = NULL;
        if (asprintf (&more, "%s%s", text, line) < 0)
            more = NULL;
        free (text);
        text = more;
    }
    zlist_destroy (&lines);
    irh_ns_list_free (list);
    char *err = NULL;
    int rc = text ? irh_file_private_dir (dir, &err) : irh_error_set (&err, "out of memory");
    if (rc == 0)
        rc = irh_file_write (dir, slash + 1, text, 0600, true, &err) < 0 ? -1 : 0;
    if (rc != 0)
        rc = ctl_fail (ctl, "ns: %s", err ? err : "cannot write the bootstrap list");
    free (err);
    free (text);
    free (dir);
    return rc;
}

//  This node's id and the address it advertises (peers.advertise, else
//  peers.listen with the running gossip's port, a wildcard host replaced
//  by the first interface address): what "ns create" puts in the token.
static int
s_own_address (ctl_t *ctl, irh_paths_t *paths, const char *given, char *node_id,
               char *address, bool *running)
{
    char id [S_FIELD], name [S_FIELD], listen [S_FIELD];
    int rc = ctl_node_fields (ctl, id, name, listen, S_FIELD);
    if (rc)
        return rc;
    if (strlen (id) != IRH_NS_ID_HEX)
        return ctl_fail (ctl, "ns: no node identity in %s", paths->home);
    memcpy (node_id, id, IRH_NS_ID_HEX + 1);
    *running = false;
    if (given) {
        if (!gossip_address_valid (given))
            return ctl_usage (ctl, "ns create: --address '%s' is not tcp://HOST:PORT", given);
        snprintf (address, IRH_NS_ADDRESS_MAX + 1, "%s", given);
        return 0;
    }
    const char *colon = strrchr (listen, ':');
    int port = colon ? atoi (colon + 1) : GOSSIP_DEFAULT_PORT;
    if (ctl_maybe_running (ctl)) {
        irh_gossip_stats_t request = { 0 };
        zframe_t *frame = irh_gossip_stats_encode (&request);
        zmsg_t *reply = NULL;
        if (ctl_call_quiet (ctl, "gossip", &frame, ctl->timeout_ms, &reply, NULL) == 0) {
            irh_table_t *table = irh_table_decode (reply);
            for (size_t row = 0; table && row < irh_table_rows (table); row++)
                if (streq (ctl_cell_str (table, row, "name"), "port")) {
                    port = (int) ctl_cell_u64 (table, row, "value");
                    *running = true;
                }
            irh_table_destroy (&table);
        }
        zmsg_destroy (&reply);
    }
    irh_config_t *config = irh_config_load (paths->config);
    irh_known_advertise (config ? irh_config_str (config, "peers.advertise", NULL) : NULL,
                         listen, port, address, IRH_NS_ADDRESS_MAX + 1);
    irh_config_destroy (&config);
    if (!gossip_address_valid (address))
        return ctl_fail (ctl, "ns create: this node's address '%s' is not tcp://HOST:PORT; "
                         "give one with --address", address);
    return 0;
}

static int
s_print_token (ctl_t *ctl, const irh_ns_token_t *token, const char *id)
{
    char *err = NULL;
    char *text = irh_ns_token_encode (token, &err);
    if (!text) {
        int rc = ctl_fail (ctl, "ns: %s", err ? err : "cannot encode the token");
        free (err);
        return rc;
    }
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "token");
        ctl_json_str (ctl, text);
        ctl_json_key (ctl, "name");
        ctl_json_str (ctl, token->name);
        ctl_json_key (ctl, "id");
        ctl_json_str (ctl, id);
        ctl_json_key (ctl, "bootstrap");
        if (*token->address) {
            char peer [IRH_NS_ADDRESS_MAX + IRH_NS_ID_HEX + 2];
            snprintf (peer, sizeof peer, "%s#%s", token->address, token->node_id);
            ctl_json_str (ctl, peer);
        }
        else
            ctl_json_str (ctl, NULL);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else
        printf ("%s\n", text);
    sodium_memzero (text, strlen (text));
    free (text);
    return 0;
}

static int
s_ns_create (ctl_t *ctl, const char *name, const char *address_arg)
{
    if (!irh_ns_name_valid (name))
        return ctl_usage (ctl, "ns create: a namespace name is 1..%d bytes of printable UTF-8",
                          IRH_NS_NAME_MAX);
    irh_paths_t *paths = s_paths_made (ctl);
    if (!paths)
        return CTL_EXIT_ERROR;
    irh_ns_token_t token;
    memset (&token, 0, sizeof token);
    bool running = false;
    int rc = s_own_address (ctl, paths, address_arg, token.node_id, token.address, &running);
    irh_ns_list_t list;
    if (rc == 0)
        rc = s_list_load (ctl, paths->ns, &list);
    else
        memset (&list, 0, sizeof list);
    if (rc == 0 && irh_ns_list_find (&list, name))
        rc = ctl_fail (ctl, "ns create: namespace '%s' exists already (irohds-ctl ns ls; "
                       "ns leave %s first to replace its secret)", name, name);
    char *err = NULL;
    irh_ns_keys_t keys;
    memset (&keys, 0, sizeof keys);
    if (rc == 0) {
        snprintf (token.name, sizeof token.name, "%s", name);
        irh_ns_secret_make (token.secret);
        irh_ns_keys_derive (token.secret, token.name, &keys);
        if (irh_ns_file_save (paths->ns, &token, &err) != 0)
            rc = ctl_fail (ctl, "ns create: %s", err ? err : "cannot write the secret");
    }
    irh_ns_list_free (&list);
    if (rc == 0) {
        if (!running && !address_arg)
            fprintf (stderr, "irohds-ctl: note: the daemon is not running; the token names "
                     "%s from the config (check peers can reach it, or give --address)\n",
                     token.address);
        rc = s_print_token (ctl, &token, keys.id_hex);
        irh_ns_keys_wipe (&keys);
    }
    free (err);
    sodium_memzero (&token, sizeof token);
    irh_paths_destroy (&paths);
    return rc;
}

//  Asks a running daemon's gossip to contact the token's node now. Not
//  running is fine (discovery reads ns_bootstrap at start); a refusal is
//  reported. Returns whether it was asked.
static bool
s_contact (ctl_t *ctl, const irh_ns_token_t *token)
{
    if (!*token->address || !ctl_maybe_running (ctl))
        return false;
    irh_gossip_join_t request;
    memset (&request, 0, sizeof request);
    snprintf (request.address, sizeof request.address, "%s", token->address);
    snprintf (request.node_id, sizeof request.node_id, "%s", token->node_id);
    zframe_t *frame = irh_gossip_join_encode (&request);
    zmsg_t *reply = NULL;
    const char *code = NULL;
    int rc = ctl_call_quiet (ctl, "gossip", &frame, ctl->timeout_ms, &reply, &code);
    zmsg_destroy (&reply);
    if (rc == CTL_EXIT_ERROR)
        fprintf (stderr, "irohds-ctl: ns join: the daemon's gossip did not take %s#%s (%s); "
                 "discovery retries it at the next start\n", token->address,
                 token->node_id, code ? code : "error");
    return rc == 0;
}

static int
s_ns_join (ctl_t *ctl, const char *text)
{
    irh_ns_token_t token;
    char *err = NULL;
    if (irh_ns_token_decode (text, strlen (text), &token, &err) != 0) {
        int rc = ctl_fail (ctl, "ns join: %s", err ? err : "bad token");
        free (err);
        return rc;
    }
    irh_paths_t *paths = s_paths_made (ctl);
    char node_id [S_FIELD] = "", name [S_FIELD], listen [S_FIELD];
    int rc = paths ? ctl_node_fields (ctl, node_id, name, listen, S_FIELD)
                   : CTL_EXIT_ERROR;
    irh_ns_list_t list;
    memset (&list, 0, sizeof list);
    if (rc == 0)
        rc = s_list_load (ctl, paths->ns, &list);
    irh_ns_keys_t keys;
    irh_ns_keys_derive (token.secret, token.name, &keys);
    irh_ns_entry_t *known = rc == 0 ? irh_ns_list_find (&list, token.name) : NULL;
    bool again = known && streq (known->id, keys.id_hex);
    if (known && !again)
        rc = ctl_fail (ctl, "ns join: namespace '%s' is joined already with another secret; "
                       "irohds-ctl ns leave %s first", token.name, token.name);
    if (rc == 0 && !again && irh_ns_file_save (paths->ns, &token, &err) != 0)
        rc = ctl_fail (ctl, "ns join: %s", err ? err : "cannot write the secret");
    irh_ns_list_free (&list);
    if (rc == 0)
        rc = s_write_bootstrap (ctl, paths, node_id);
    if (rc == 0) {
        bool own = streq (token.node_id, node_id);
        bool asked = !own && s_contact (ctl, &token);
        char what [600];
        snprintf (what, sizeof what, "joined namespace '%s'%s; %s", token.name,
                  again ? " (already joined)" : "",
                  !*token.address || own ? "the token names no other node"
                  : asked ? "contacting its node now" : "its node is contacted when the daemon starts");
        if (ctl->json) {
            ctl_json_open (ctl, '{');
            ctl_json_key (ctl, "joined");
            ctl_json_str (ctl, token.name);
            ctl_json_key (ctl, "id");
            ctl_json_str (ctl, keys.id_hex);
            ctl_json_key (ctl, "contacting");
            ctl_json_bool (ctl, asked);
            ctl_json_close (ctl);
            ctl_json_end (ctl);
        }
        else
            printf ("%s\n", what);
    }
    irh_ns_keys_wipe (&keys);
    sodium_memzero (&token, sizeof token);
    free (err);
    irh_paths_destroy (&paths);
    return rc;
}

static int
s_ns_ls (ctl_t *ctl, bool show_secret)
{
    irh_paths_t *paths = ctl_paths (ctl);
    if (!paths)
        return CTL_EXIT_ERROR;
    irh_ns_list_t list;
    int rc = s_list_load (ctl, paths->ns, &list);
    if (rc)
        return rc;
    if (ctl->json)
        ctl_json_open (ctl, '[');
    irh_table_t *out = irh_table_new (show_secret ? "NAME:s\tID:s\tBOOTSTRAP:s\tTOKEN:s"
                                                  : "NAME:s\tID:s\tBOOTSTRAP:s");
    for (size_t i = 0; i < list.count; i++) {
        irh_ns_token_t *token = &list.items [i].token;
        char peer [IRH_NS_ADDRESS_MAX + IRH_NS_ID_HEX + 2] = "";
        if (*token->address)
            snprintf (peer, sizeof peer, "%s#%s", token->address, token->node_id);
        char *text = show_secret ? irh_ns_token_encode (token, NULL) : NULL;
        if (ctl->json) {
            ctl_json_open (ctl, '{');
            ctl_json_key (ctl, "name");
            ctl_json_str (ctl, token->name);
            ctl_json_key (ctl, "id");
            ctl_json_str (ctl, list.items [i].id);
            ctl_json_key (ctl, "bootstrap");
            ctl_json_str (ctl, *peer ? peer : NULL);
            if (show_secret) {
                ctl_json_key (ctl, "token");
                ctl_json_str (ctl, text);
            }
            ctl_json_close (ctl);
        }
        else {
            char id [17];
            snprintf (id, sizeof id, "%.16s", list.items [i].id);
            irh_table_row (out);
            irh_table_str (out, token->name);
            irh_table_str (out, id);
            irh_table_str (out, *peer ? peer : "-");
            if (show_secret)
                irh_table_str (out, text ? text : "?");
        }
        if (text)
            sodium_memzero (text, strlen (text));
        free (text);
    }
    if (ctl->json) {
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else
    if (list.count)
        irh_table_print (out, stdout);
    else
    if (!list.refused)
        printf ("no namespaces with a secret (irohds-ctl ns create NAME, ns join TOKEN)\n");
    irh_table_destroy (&out);
    rc = list.refused ? ctl_fail (ctl, "ns ls: %zu secret file(s) refused (see above)", list.refused)
                  : 0;
    irh_ns_list_free (&list);
    return rc;
}

static int
s_ns_leave (ctl_t *ctl, const char *name)
{
    irh_paths_t *paths = ctl_paths (ctl);
    if (!paths)
        return CTL_EXIT_ERROR;
    irh_ns_list_t list;
    int rc = s_list_load (ctl, paths->ns, &list);
    irh_ns_entry_t *item = rc == 0 ? irh_ns_list_find (&list, name) : NULL;
    if (rc == 0 && !item)
        rc = ctl_fail (ctl, "ns leave: no namespace '%s' here (irohds-ctl ns ls)", name);
    if (rc == 0 && unlink (item->path) != 0)
        rc = ctl_fail (ctl, "ns leave: %s: %s", item->path, strerror (errno));
    irh_ns_list_free (&list);
    char node_id [S_FIELD] = "", node_name [S_FIELD], listen [S_FIELD];
    if (rc == 0)
        rc = ctl_node_fields (ctl, node_id, node_name, listen, S_FIELD);
    if (rc == 0)
        rc = s_write_bootstrap (ctl, paths, node_id);
    if (rc == 0) {
        if (ctl->json) {
            ctl_json_open (ctl, '{');
            ctl_json_key (ctl, "left");
            ctl_json_str (ctl, name);
            ctl_json_close (ctl);
            ctl_json_end (ctl);
        }
        else
            printf ("left namespace '%s' (its secret is deleted)\n", name);
    }
    return rc;
}

int
ctl_cmd_ns (ctl_t *ctl, int argc, char **argv)
{
    const char *verb = argc > 1 ? argv [1] : "";
    bool show_secret = false;
    const char *address = NULL;
    const char *args [2] = { NULL, NULL };
    int nargs = 0;
    for (int i = 2; i < argc; i++) {
        if (streq (argv [i], "--show-secret"))
            show_secret = true;
        else
        if (strncmp (argv [i], "--address=", 10) == 0)
            address = argv [i] + 10;
        else
        if (streq (argv [i], "--address") && i + 1 < argc)
            address = argv [++i];
        else
        if (nargs < 2)
            args [nargs++] = argv [i];
        else
            return ctl_usage (ctl, "ns %s: too many arguments", verb);
    }
    if ((show_secret && !streq (verb, "ls")) || (address && !streq (verb, "create")))
        return ctl_usage (ctl, "ns: --show-secret is for ls, --address for create");
    if (streq (verb, "create") && nargs == 1)
        return s_ns_create (ctl, args [0], address);
    if (streq (verb, "join") && nargs == 1)
        return s_ns_join (ctl, args [0]);
    if (streq (verb, "ls") && nargs == 0)
        return s_ns_ls (ctl, show_secret);
    if (streq (verb, "leave") && nargs == 1)
        return s_ns_leave (ctl, args [0]);
    return ctl_usage (ctl, "ns takes: create NAME [--address tcp://HOST:PORT] | join TOKEN | "
                      "ls [--show-secret] | leave NAME");
}
