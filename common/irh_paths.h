/*  irh_paths.h: where everything lives (proto/store-layout.md).

    Home: --home, else $IROHDS_HOME, else $XDG_DATA_HOME/irohds, else
    ~/.local/share/irohds; created mode 0700. Runtime sockets live under
    <home>/run/ and must fit an ipc path (< 107 bytes): if they would not,
    irh_paths_new fails with a message saying so (no silent truncation).
*/
#ifndef IRH_PATHS_H_INCLUDED
#define IRH_PATHS_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *home;            //  absolute
    char *run;             //  <home>/run
    char *store;           //  <home>/store       (LMDB environment)
    char *blobs;           //  <home>/blobs       (large results, read-only files)
    char *staging;         //  <home>/run/staging (clients write large puts here)
    char *fetch;           //  <home>/fetch       (gossip writes fetched results here for
                           //  the store to ingest; same filesystem as blobs/)
    char *ns;              //  <home>/ns          (namespace secret files, 0600;
                           //  read by gossip only, docs/namespaces.md)
    char *ns_peers;        //  <home>/peers/ns_bootstrap (the peers named by joined
                           //  tokens, no secret; read by discovery at start)
    char *config;          //  <home>/config.toml
    char *log;             //  <home>/irohds.log
    char *pidfile;         //  <home>/run/irohds-daemon.pid
    char *lockfile;        //  <home>/run/irohds-daemon.lock
    char *broker;          //  ipc://<home>/run/broker.ipc
    char *broker_path;     //  <home>/run/broker.ipc
} irh_paths_t;

//  Resolve (home may be NULL) and, if create, make the directories (0700).
//  On failure returns NULL and, if err is not NULL, a malloc'd message.
irh_paths_t *irh_paths_new (const char *home, bool create, char **err);
void irh_paths_destroy (irh_paths_t **self_p);
//  ipc:// endpoint for a named socket under run/, e.g. "store" ->
//  ipc://<home>/run/store.ipc; malloc'd, NULL if it would be too long.
char *irh_paths_ipc (irh_paths_t *self, const char *name);
//  Path of a blob file: <home>/blobs/<hex[0:2]>/<hex>; malloc'd.
char *irh_paths_blob (irh_paths_t *self, const char *hex);
void irh_paths_test (bool verbose);

#endif
