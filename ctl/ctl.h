/*  ctl.h: the inside of irohds-ctl, the command-line client of the broker.

    Every command is one function

        int ctl_cmd_NAME (ctl_t *ctl, int argc, char **argv);

    listed in the command table in ctl.c. argv [0] is the command name and
    argv [1..argc-1] its own arguments; global options (--home, --endpoint,
    --json, --timeout, -v) have already been taken out wherever they stood.
    The function returns the process exit code (CTL_EXIT_*).

    API for command files (e.g. cmd_cap.c, owned by the capability helper):

    - ctl->json says whether to print one JSON document instead of text.
    - ctl_call (ctl, "cap", &frame, &reply) sends one request (the message
      frame is taken) and waits at most ctl->timeout_ms. It returns 0 and
      the reply body frames (message frame or table header first), or an
      exit code after printing the one error line itself (3 = daemon not
      running, 1 = service error). Just return that code.
    - ctl_call_message () is the same for replies of one message (it
      returns that frame), ctl_call_table () for replies that are tables.
    - ctl_print_table () prints a table as aligned text or JSON.
    - ctl_json_* write JSON to stdout with commas handled, so a command can
      combine tables and fields into one document.
    - ctl_fail () prints "irohds-ctl: <text>" on stderr and returns 1;
      ctl_usage () prints the usage on stderr and returns 2.
*/
#ifndef CTL_H_INCLUDED
#define CTL_H_INCLUDED
#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "irh_client.h"
#include "irh_paths.h"
#include "irh_table.h"

#define CTL_EXIT_OK        0
#define CTL_EXIT_ERROR     1   //  service answered ERR, or a local failure
#define CTL_EXIT_USAGE     2
#define CTL_EXIT_NOT_RUNNING 3

#define CTL_JSON_DEPTH 16

typedef struct {
    const char *home_arg;       //  --home, or NULL
    const char *endpoint_arg;   //  --endpoint, or NULL
    bool json;                  //  --json
    bool verbose;               //  -v
    int timeout_ms;             //  --timeout, default 3000
    //  Private: resolved lazily so "key" works with no home at all.
    irh_paths_t *paths;
    char *endpoint;
    irh_client_t *client;
    int json_depth;
    bool json_comma [CTL_JSON_DEPTH];
    char json_bracket [CTL_JSON_DEPTH];
    bool checked;               //  ctl_check_running passed once
    bool json_after_key;
    const char *command;        //  the command being run, e.g. "ls"
} ctl_t;

//  Resolved paths (home not created), or NULL after printing why.
irh_paths_t *ctl_paths (ctl_t *ctl);
//  Endpoint to talk to: --endpoint, else the home's broker. NULL after
//  printing why (home could not be resolved).
const char *ctl_endpoint (ctl_t *ctl);
//  0 if something may be listening at the endpoint; CTL_EXIT_NOT_RUNNING
//  (after printing the one line) when it is an ipc:// path with no socket
//  file or nobody accepting on it. Never waits.
int ctl_check_running (ctl_t *ctl);
//  The same check, silent: false when surely not running.
bool ctl_maybe_running (ctl_t *ctl);

//  One request/reply. *request_p is taken. On 0, *reply_p holds the body.
int ctl_call (ctl_t *ctl, const char *service, zframe_t **request_p, zmsg_t **reply_p);
//  Same, for replies of one message: on 0, *body_p is its frame (the
//  caller decodes and destroys it); an empty reply is an error.
int ctl_call_message (ctl_t *ctl, const char *service, zframe_t **request_p,
                      zframe_t **body_p);
//  Same, for replies that are tables.
int ctl_call_table (ctl_t *ctl, const char *service, zframe_t **request_p,
                    irh_table_t **table_p);
//  Same, but timeout given and errors not printed: returns 0, 3 (no answer)
//  or 1 (ERR; *code_p gets the code if code_p is not NULL).
int ctl_call_quiet (ctl_t *ctl, const char *service, zframe_t **request_p,
                    int timeout_ms, zmsg_t **reply_p, const char **code_p);
//  Forget the connection (after the daemon went away or was started).
void ctl_disconnect (ctl_t *ctl);

//  Print a table: aligned text, or (ctl->json) a JSON array of objects.
int ctl_print_table (ctl_t *ctl, irh_table_t *table);

//  JSON output on stdout.
//  Cell of column name in a reply table: as u64 (0 when absent or not a
//  number), as text ("" when absent).
uint64_t ctl_cell_u64 (irh_table_t *table, size_t row, const char *name);
const char *ctl_cell_str (irh_table_t *table, size_t row, const char *name);
void ctl_json_open (ctl_t *ctl, char bracket);      //  '{' or '['
void ctl_json_close (ctl_t *ctl);                   //  closes the innermost
void ctl_json_key (ctl_t *ctl, const char *key);
void ctl_json_str (ctl_t *ctl, const char *value);  //  NULL gives null
void ctl_json_u64 (ctl_t *ctl, uint64_t value);
void ctl_json_i64 (ctl_t *ctl, int64_t value);
void ctl_json_double (ctl_t *ctl, double value);
void ctl_json_bool (ctl_t *ctl, bool value);
//  A table cell by its column type (u i f b as numbers/booleans when they
//  parse, else as a string: outside input never breaks the document).
void ctl_json_cell (ctl_t *ctl, char type, const char *value);
//  A table as an array of objects.
void ctl_json_table (ctl_t *ctl, irh_table_t *table);
//  One row of a table as an object.
void ctl_json_row (ctl_t *ctl, irh_table_t *table, size_t row);
//  A two-column (name, value) table as one object.
void ctl_json_table_object (ctl_t *ctl, irh_table_t *table);
//  Newline after the top-level document.
void ctl_json_end (ctl_t *ctl);

int ctl_fail (ctl_t *ctl, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
int ctl_usage (ctl_t *ctl, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  Human forms of durations and sizes, into buf.
char *ctl_fmt_ms (uint64_t ms, char *buf, size_t size);
char *ctl_fmt_bytes (uint64_t bytes, char *buf, size_t size);
//  Wall-clock time (microseconds since the epoch) in local time,
//  "2026-12-02 11:40"; "-" for 0.
char *ctl_fmt_time (uint64_t us, char *buf, size_t size);
//  How long before now_us: "just now", "42s ago", "3m ago", "5h ago",
//  "2d ago"; past a week the local date instead; "-" for 0.
char *ctl_fmt_ago (uint64_t us, uint64_t now_us, char *buf, size_t size);
//  True if s is 1..max decimal digits.
bool ctl_all_digits (const char *s, size_t max);
//  True if the qualified function name fn is name, or ends with "." name
//  (so "features" matches "__main__.features", never "myfeatures").
bool ctl_fn_matches (const char *fn, const char *name);

//  Commands.
int ctl_cmd_status (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_ping (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_each (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_up (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_down (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_ls (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_stats (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_evict (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_gc (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_info (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_key (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_cap (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_peers (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_join (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_fetches (ctl_t *ctl, int argc, char **argv);
int ctl_cmd_ns (ctl_t *ctl, int argc, char **argv);
//  This node's id, name and peers.listen (cmd_peers.c); creates the
//  identity if missing, but never the home (id and name "" then).
//  0 or an exit code (message printed).
int ctl_node_fields (ctl_t *ctl, char *node_id, char *node_name, char *listen, size_t size);

#endif
