/*  irh_sandbox.c: no_new_privs, Landlock and a seccomp filter for the
    network-facing actors (see irh_sandbox.h, docs/security.md).

    Landlock: the rules are written for the newest ABI this file knows
    (3: truncate) and cut down to what the running kernel has, the way the
    kernel documentation asks: ABI 1 has no REFER (renaming or linking
    across directories is then always refused, which we can live with),
    ABI 2 no TRUNCATE. Newer ABIs (network ports, ioctl, scoping) are not
    used yet; their rights stay unhandled, that is allowed.

    seccomp: a default-allow filter with a deny list, not an allow list.
    The actors run CZMQ, libzmq, libsodium, glibc's resolver and, in test
    builds, the sanitizer runtimes, whose syscall sets change with every
    release; an allow list would break them in ways only seen in the field.
    The deny list holds what a network actor never needs and what an
    attacker wants first (debugging other processes, mounts, namespaces,
    kernel modules, BPF, identity changes, exec). A denied call returns
    EPERM instead of killing the process: a library that probes a call
    (glibc, the sanitizers) gets an ordinary error and the actor keeps
    running and logging, while the call itself still never happens. The
    only exception is clone3, which returns ENOSYS: its flags sit in
    memory a filter cannot read, and ENOSYS makes glibc fall back to
    clone, whose flags the filter does check.
*/
#include "irh_sandbox.h"
#include "irh_log.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

//  Debian 12's kernel headers stop at ABI 2; the value is fixed by the
//  kernel's ABI, so defining it here is safe.
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#   define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#define S_LANDLOCK_ABI_MAX 3

//  Sanitizer builds: LeakSanitizer stops the world with ptrace at exit.
#if defined (__SANITIZE_ADDRESS__)
#   define S_SANITIZED 1
#elif defined (__has_feature)
#   if __has_feature (address_sanitizer)
#       define S_SANITIZED 1
#   endif
#endif

#define S_FS_ABI1 (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE \
    | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR \
    | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE \
    | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR \
    | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK \
    | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK \
    | LANDLOCK_ACCESS_FS_MAKE_SYM)
#define S_FS_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
//  Read-write never includes EXECUTE, MAKE_CHAR or MAKE_BLOCK.
#define S_FS_WRITE (S_FS_READ | LANDLOCK_ACCESS_FS_WRITE_FILE \
    | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE \
    | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG \
    | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO \
    | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER \
    | LANDLOCK_ACCESS_FS_TRUNCATE)
//  The rights the kernel accepts on a rule for a file (not a directory).
#define S_FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE \
    | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE)

typedef struct {
    char *path;
    uint64_t access;
} s_rule_t;

struct _irh_sandbox_t {
    char *name;
    s_rule_t *rules;
    size_t nrules;
    bool seccomp;
};

//  Syscalls a network actor never makes, each refused with EPERM.
static const char *s_denied [] = {
    //  other processes' memory
    "ptrace", "process_vm_readv", "process_vm_writev",
    //  file systems, mounts, the root, file handles that skip path checks
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
    "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "quotactl",
    //  the kernel itself
    "kexec_load", "kexec_file_load", "bpf", "init_module", "finit_module",
    "delete_module", "reboot", "syslog", "iopl", "ioperm", "uselib", "acct",
    "perf_event_open", "userfaultfd", "lookup_dcookie", "vhangup",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",
    "settimeofday", "clock_settime", "clock_adjtime",
    //  identity and namespaces
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setfsuid", "setfsgid", "setgroups", "unshare", "setns",
    //  running other programs (Landlock refuses it too where present)
    "execve", "execveat",
    NULL
};

//  Namespace flags refused on clone.
static const uint64_t s_clone_ns_flags [] = {
    CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS,
    CLONE_NEWIPC, CLONE_NEWCGROUP
};


irh_sandbox_t *
irh_sandbox_new (const char *name)
{
    assert (name);
    irh_sandbox_t *self = calloc (1, sizeof (irh_sandbox_t));
    if (!self)
        return NULL;
    self->name = strdup (name);
    self->seccomp = true;
    if (!self->name)
        irh_sandbox_destroy (&self);
    return self;
}

void
irh_sandbox_destroy (irh_sandbox_t **self_p)
{
    assert (self_p);
    irh_sandbox_t *self = *self_p;
    if (self) {
        for (size_t index = 0; index < self->nrules; index++)
            free (self->rules [index].path);
        free (self->rules);
        free (self->name);
        free (self);
        *self_p = NULL;
    }
}

static int
s_add_rule (irh_sandbox_t *self, const char *path, uint64_t access)
{
    assert (self);
    assert (path);
    if (path [0] != '/')
        return -1;
    s_rule_t *rules = realloc (self->rules, (self->nrules + 1) * sizeof (s_rule_t));
    if (!rules)
        return -1;
    self->rules = rules;
    char *copy = strdup (path);
    if (!copy)
        return -1;
    self->rules [self->nrules].path = copy;
    self->rules [self->nrules].access = access;
    self->nrules++;
    return 0;
}

int
irh_sandbox_allow_read (irh_sandbox_t *self, const char *path)
{
    return s_add_rule (self, path, S_FS_READ);
}

int
irh_sandbox_allow_write (irh_sandbox_t *self, const char *path)
{
    return s_add_rule (self, path, S_FS_WRITE);
}

int
irh_sandbox_allow_system (irh_sandbox_t *self, const char *path)
{
    assert (self);
    assert (path);
    char *resolved = realpath (path, NULL);
    if (!resolved) {
        irh_debug ("sandbox %s: skipping %s (%s)", self->name, path, strerror (errno));
        return path [0] == '/'? 0: -1;
    }
    int rc = s_add_rule (self, resolved, S_FS_READ);
    free (resolved);
    return rc;
}

void
irh_sandbox_set_seccomp (irh_sandbox_t *self, bool enable)
{
    assert (self);
    self->seccomp = enable;
}

irh_sandbox_t *
irh_sandbox_network_actor (irh_paths_t *paths, bool needs_identity)
{
    assert (paths);
    irh_sandbox_t *self = irh_sandbox_new (needs_identity? "gossip": "discovery");
    if (!self)
        return NULL;
    //  The system: shared libraries (dlopen of NSS modules, NVML), name
    //  resolution, certificates, time zones; heartbeat figures from /proc
    //  and /sys. Not the whole of /etc: nothing there is ours to read.
    static const char *system [] = {
        "/usr", "/lib", "/lib64", "/lib32", "/etc/ld.so.cache",
        "/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf",
        "/etc/host.conf", "/etc/services", "/etc/protocols", "/etc/localtime",
        "/etc/ssl", "/proc", "/sys", "/dev/urandom", "/dev/random", NULL
    };
    static const char *devices [] = {
        "/dev/null", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia0",
        "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3", "/dev/nvidia4",
        "/dev/nvidia5", "/dev/nvidia6", "/dev/nvidia7", NULL
    };
    int rc = 0;
    for (int index = 0; system [index]; index++)
        rc |= irh_sandbox_allow_system (self, system [index]);
    for (int index = 0; devices [index]; index++)
        if (access (devices [index], F_OK) == 0)
            rc |= irh_sandbox_allow_write (self, devices [index]);
    //  The home: run/ (sockets, staging) and the shared log read-write,
    //  the config read-only; store/ not at all (gossip: blobs/ read-only
    //  and fetch/ read-write, below).
    rc |= irh_sandbox_allow_write (self, paths->run);
    rc |= irh_sandbox_allow_write (self, paths->log);
    rc |= irh_sandbox_allow_read (self, paths->config);
    if (needs_identity) {
        char *identity = NULL;
        if (asprintf (&identity, "%s/identity", paths->home) < 0)
            identity = NULL;
        rc |= identity? irh_sandbox_allow_read (self, identity): -1;
        free (identity);
        //  The known-nodes pins (trust on first use) that gossip writes.
        char *peers = NULL;
        if (asprintf (&peers, "%s/peers", paths->home) < 0)
            peers = NULL;
        rc |= peers? irh_sandbox_allow_write (self, peers): -1;
        free (peers);
        //  Namespace secrets (docs/namespaces.md): gossip authenticates
        //  a secret namespace's traffic with keys derived from them, so it
        //  reads <home>/ns/ (never writes: irohds-ctl does). Discovery,
        //  which talks to strangers on the LAN, gets no rule for it.
        rc |= irh_sandbox_allow_read (self, paths->ns);
        //  Serving results to peers reads the store's blob files (the
        //  path the store names, opened read-only); fetching stages the
        //  peers' bytes under fetch/ for the store to ingest. The store's
        //  LMDB stays out of reach (network actors never write it), and
        //  discovery gets neither.
        rc |= irh_sandbox_allow_read (self, paths->blobs);
        rc |= irh_sandbox_allow_write (self, paths->fetch);
    }
    if (rc)
        irh_sandbox_destroy (&self);
    return self;
}

int
irh_sandbox_enter_network_actor (irh_paths_t *paths, bool needs_identity,
                                 irh_sandbox_status_t *status)
{
    irh_sandbox_status_t local;
    if (!status)
        status = &local;
    memset (status, 0, sizeof *status);
    snprintf (status->summary, sizeof status->summary, "landlock=off seccomp=off");
    irh_sandbox_t *policy = irh_sandbox_network_actor (paths, needs_identity);
    if (!policy) {
        irh_error ("sandbox: cannot build the network actor policy; running without it");
        return -1;
    }
    char *err = NULL;
    int rc = irh_sandbox_apply (policy, status, &err);
    irh_sandbox_destroy (&policy);
    free (err);                 //  apply has logged the outcome
    return rc;
}

int
irh_sandbox_landlock_abi (void)
{
    long abi = syscall (SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi > 0? (int) abi: 0;
}

//  Threads of this process, from /proc/self/status; 0 if unknown.
static int
s_thread_count (void)
{
    FILE *file = fopen ("/proc/self/status", "re");
    if (!file)
        return 0;
    char line [256];
    int threads = 0;
    while (fgets (line, sizeof line, file))
        if (sscanf (line, "Threads: %d", &threads) == 1)
            break;
    fclose (file);
    return threads;
}

//  Logs a problem, appends it to *err (several parts may degrade at
//  once) and returns rc.
static int
s_problem (char **err, int rc, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
static int
s_problem (char **err, int rc, const char *format, ...)
{
    char *message = NULL;
    va_list args;
    va_start (args, format);
    if (vasprintf (&message, format, args) < 0)
        message = NULL;
    va_end (args);
    irh_log (rc < 0? IRH_LOG_ERROR: IRH_LOG_WARN, "%s", message? message: "sandbox problem");
    if (err && message && *err) {
        char *both = NULL;
        if (asprintf (&both, "%s; %s", *err, message) >= 0) {
            free (*err);
            *err = both;
        }
    }
    else
    if (err && message) {
        *err = message;
        message = NULL;
    }
    free (message);
    return rc;
}

//  Landlock: 0 enforced, 1 kernel lacks it, -1 failed.
static int
s_apply_landlock (const irh_sandbox_t *self, irh_sandbox_status_t *status, char **err)
{
    status->landlock_abi = irh_sandbox_landlock_abi ();
    if (status->landlock_abi == 0)
        return s_problem (err, 1, "sandbox %s: the kernel has no Landlock (%s);"
                          " the filesystem is not restricted", self->name, strerror (errno));
    int abi = status->landlock_abi < S_LANDLOCK_ABI_MAX? status->landlock_abi: S_LANDLOCK_ABI_MAX;
    uint64_t handled = S_FS_ABI1;
    if (abi >= 2)
        handled |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
    status->landlock_used_abi = abi;

    struct landlock_ruleset_attr attr = { .handled_access_fs = handled };
    int ruleset = (int) syscall (SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0)
        return s_problem (err, -1, "sandbox %s: landlock_create_ruleset: %s",
                          self->name, strerror (errno));
    int rc = 0;
    for (size_t index = 0; index < self->nrules && rc == 0; index++) {
        const s_rule_t *rule = &self->rules [index];
        //  O_NOFOLLOW: a symlink planted in the home must not widen the
        //  rule to its target; it is skipped instead (less access).
        int fd = open (rule->path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
        struct stat info;
        if (fd < 0 || fstat (fd, &info) || S_ISLNK (info.st_mode)) {
            irh_debug ("sandbox %s: no rule for %s (%s)", self->name, rule->path,
                       fd < 0? strerror (errno): "a symlink");
            if (fd >= 0)
                close (fd);
            continue;
        }
        struct landlock_path_beneath_attr beneath = {
            .allowed_access = rule->access & handled, .parent_fd = fd
        };
        if (!S_ISDIR (info.st_mode))
            beneath.allowed_access &= S_FS_FILE;
        if (syscall (SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &beneath, 0))
            rc = s_problem (err, -1, "sandbox %s: landlock_add_rule %s: %s",
                            self->name, rule->path, strerror (errno));
        close (fd);
    }
    if (rc == 0 && syscall (SYS_landlock_restrict_self, ruleset, 0))
        rc = s_problem (err, -1, "sandbox %s: landlock_restrict_self: %s",
                        self->name, strerror (errno));
    close (ruleset);
    status->landlock = rc == 0;
    return rc;
}

//  Builds the deny-list filter; NULL on a library error.
static scmp_filter_ctx
s_seccomp_filter (void)
{
    scmp_filter_ctx ctx = seccomp_init (SCMP_ACT_ALLOW);
    if (!ctx)
        return NULL;
    //  TSYNC: threads already running get the filter too. Raw return
    //  codes: tell "kernel lacks it" (EINVAL) from other failures.
    int rc = seccomp_attr_set (ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    rc |= seccomp_attr_set (ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
    for (int index = 0; s_denied [index] && rc == 0; index++) {
#ifdef S_SANITIZED
        if (strcmp (s_denied [index], "ptrace") == 0)
            continue;
#endif
        int nr = seccomp_syscall_resolve_name (s_denied [index]);
        if (nr != __NR_SCMP_ERROR)
            rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), nr, 0);
    }
    //  personality: only the query (0xffffffff); setting any persona or
    //  flag (no ASLR, READ_IMPLIES_EXEC, ...) is refused.
    if (rc == 0) {
        //  Comparisons spelled out: clang's -Wmissing-field-initializers
        //  rejects libseccomp's SCMP_A0 macro with two arguments.
        struct scmp_arg_cmp query = { .arg = 0, .op = SCMP_CMP_NE,
                                      .datum_a = 0xffffffffULL, .datum_b = 0 };
        rc = seccomp_rule_add_array (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (personality),
                                     1, &query);
    }
    for (size_t index = 0; rc == 0 && index < sizeof s_clone_ns_flags / sizeof (uint64_t); index++)
        rc = seccomp_rule_add_array (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (clone), 1,
                                     &(struct scmp_arg_cmp) {
                                         .arg = 0, .op = SCMP_CMP_MASKED_EQ,
                                         .datum_a = s_clone_ns_flags [index],
                                         .datum_b = s_clone_ns_flags [index] });
    if (rc == 0)
        rc = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), SCMP_SYS (clone3), 0);
    if (rc) {
        seccomp_release (ctx);
        ctx = NULL;
    }
    return ctx;
}

//  seccomp: 0 installed, 1 kernel lacks it, -1 failed.
static int
s_apply_seccomp (const irh_sandbox_t *self, irh_sandbox_status_t *status, char **err)
{
    //  PR_GET_SECCOMP fails with EINVAL on a kernel built without seccomp.
    if (prctl (PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL)
        return s_problem (err, 1, "sandbox %s: the kernel has no seccomp;"
                          " syscalls are not filtered", self->name);
    scmp_filter_ctx ctx = s_seccomp_filter ();
    if (!ctx)
        return s_problem (err, -1, "sandbox %s: cannot build the seccomp filter", self->name);
    int rc = seccomp_load (ctx);
    seccomp_release (ctx);
    if (rc == -EINVAL || rc == -ENOSYS || rc == -EOPNOTSUPP)
        return s_problem (err, 1, "sandbox %s: the kernel refuses seccomp filters (%s);"
                          " syscalls are not filtered", self->name, strerror (-rc));
    if (rc)
        return s_problem (err, -1, "sandbox %s: seccomp_load: %s", self->name, strerror (-rc));
    status->seccomp = true;
    return 0;
}

int
irh_sandbox_apply (const irh_sandbox_t *self, irh_sandbox_status_t *status, char **err)
{
    assert (self);
    irh_sandbox_status_t local;
    if (!status)
        status = &local;
    memset (status, 0, sizeof *status);

    //  Counted before Landlock: afterwards /proc may be out of reach.
    int threads = s_thread_count ();
    status->unconfined_threads = threads > 1? threads - 1: 0;
    if (status->unconfined_threads)
        irh_warn ("sandbox %s: %d thread(s) already run and escape Landlock;"
                  " apply the sandbox before the first socket", self->name,
                  status->unconfined_threads);

    //  Both Landlock (without CAP_SYS_ADMIN) and seccomp need it, and it
    //  keeps a set-uid binary from regaining what we drop.
    int rc = 0;
    if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
        status->no_new_privs = true;
    else
        rc = s_problem (err, 1, "sandbox %s: cannot set no_new_privs: %s",
                        self->name, strerror (errno));
    if (status->no_new_privs) {
        int landlock = s_apply_landlock (self, status, err);
        int seccomp = self->seccomp? s_apply_seccomp (self, status, err): 0;
        rc = landlock < 0 || seccomp < 0? -1: landlock > 0 || seccomp > 0? 1: 0;
    }
    char landlock [16];
    if (status->landlock)
        snprintf (landlock, sizeof landlock, "abi%d", status->landlock_used_abi);
    snprintf (status->summary, sizeof status->summary, "landlock=%s seccomp=%s nnp=%s%s",
              status->landlock? landlock: "off",
              status->seccomp? "on": self->seccomp? "off": "unused",
              status->no_new_privs? "on": "off",
              status->unconfined_threads? " threads-unconfined": "");
    irh_info ("sandbox %s: %s", self->name, status->summary);
    return rc;
}
