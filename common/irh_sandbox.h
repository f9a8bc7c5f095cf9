/*  irh_sandbox.h: least privilege for actors that talk to the network.

    An actor builds a policy (the directories and files it may read, and
    those it may read and write), then applies it once, early: no_new_privs,
    then Landlock (filesystem), then a seccomp filter (syscalls). After
    that the process, and every process or thread it starts, can touch only
    what the policy lists and cannot make the denied syscalls, whatever a
    hostile peer makes it do.

    Apply BEFORE the first thread is started (before the first zsock,
    zactor or zsys_init): Landlock confines the calling thread and what it
    starts afterwards, never threads that already run. irh_sandbox_apply
    counts the process's threads and reports the ones it could not reach.

    Missing kernel support is not an error: the actor runs with what the
    kernel offers, a warning is logged, and the status says what is in
    force so `stats` can show it (see docs/security.md).
*/
#ifndef IRH_SANDBOX_H_INCLUDED
#define IRH_SANDBOX_H_INCLUDED
#include <stdbool.h>
#include "irh_paths.h"

typedef struct _irh_sandbox_t irh_sandbox_t;

//  What irh_sandbox_apply put in force.
typedef struct {
    int landlock_abi;           //  the kernel's Landlock ABI, 0 if it has none
    int landlock_used_abi;      //  the ABI the rules were written for (<= 3)
    bool landlock;              //  filesystem rules enforced
    bool seccomp;               //  syscall filter installed
    bool no_new_privs;
    int unconfined_threads;     //  threads that ran before apply (Landlock misses them)
    char summary [96];          //  one line for stats/logs, e.g.
                                //  "landlock=abi3 seccomp=on nnp=on"
} irh_sandbox_status_t;

//  An empty policy: no filesystem access at all, seccomp on. name is used
//  in log lines ("gossip").
irh_sandbox_t *irh_sandbox_new (const char *name);
void irh_sandbox_destroy (irh_sandbox_t **self_p);

//  Allow reading path (a directory: everything beneath it, listing
//  included; a file: that file). Paths are opened without following a
//  symlink at apply time; a symlink or a missing path is skipped (logged
//  at debug level), so a rule can only ever grant less. The policy keeps
//  a copy. Returns 0, or -1 if path is not absolute.
int irh_sandbox_allow_read (irh_sandbox_t *self, const char *path);
//  Allow reading and writing (create, remove, rename within, truncate;
//  never execute, never make device nodes) beneath path.
int irh_sandbox_allow_write (irh_sandbox_t *self, const char *path);
//  As allow_read, but resolves symlinks now (realpath); for system paths
//  such as /lib -> usr/lib, never for paths under the home.
int irh_sandbox_allow_system (irh_sandbox_t *self, const char *path);
//  Turn the seccomp part on or off (on by default).
void irh_sandbox_set_seccomp (irh_sandbox_t *self, bool enable);

//  The policy of a network-facing actor (discovery, gossip) in the home of
//  paths: read-write <home>/run/ and the log file; read-only the config
//  file, the system's libraries and the few files of /etc name resolution
//  needs, /proc and /sys (heartbeat figures), /dev/null, /dev/urandom and
//  the NVIDIA devices (NVML); nothing of <home>/store/ or <home>/blobs/;
//  <home>/identity/ read-only and <home>/peers/ (known-nodes pins)
//  read-write if needs_identity (gossip: CURVE server key, first-contact
//  pins), else neither (discovery reads its public node id before applying).
irh_sandbox_t *irh_sandbox_network_actor (irh_paths_t *paths, bool needs_identity);

//  Build the network-actor policy and apply it (apply logs the outcome). For discovery and gossip,
//  after their identity is loaded and before any socket or thread exists.
//  Returns what irh_sandbox_apply returns (-1 also when the policy cannot
//  be built); status (if not NULL) is filled either way.
int irh_sandbox_enter_network_actor (irh_paths_t *paths, bool needs_identity,
                                     irh_sandbox_status_t *status);

//  Apply policy to the calling process (once; it cannot be undone).
//  Fills status (if not NULL) and returns 0 when every part is in force;
//  1 when the kernel lacks Landlock or seccomp (degraded: a warning is
//  logged, and *err, if err is not NULL, gets a malloc'd message saying
//  what is missing); -1 when the kernel has the feature but applying it
//  failed (logged as an error, *err set). The actor should go on serving
//  in every case and show status.summary in its stats.
int irh_sandbox_apply (const irh_sandbox_t *policy, irh_sandbox_status_t *status, char **err);

//  The kernel's Landlock ABI version, 0 if it has no Landlock (or it is
//  disabled at boot).
int irh_sandbox_landlock_abi (void);

#endif
