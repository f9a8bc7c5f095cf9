/*  test_sandbox.c: the network actors' sandbox (irh_sandbox) on the real
    kernel, in a temp home.

    Each case runs in a forked child, since a sandbox cannot be undone:
    the child applies a policy and checks what it may and may not do, then
    reports through its exit status. Which assertions apply is decided by
    asking the kernel (the Landlock ABI probe, PR_GET_SECCOMP), never by
    assuming: where Landlock is missing the test says so and checks the
    degrade path instead. The degrade path is also checked on a kernel
    that has both, by hiding them from the child with a seccomp filter of
    its own, so it is tested here too and not only on old kernels.
*/
#include "irh_identity.h"
#include "irh_paths.h"
#include "irh_sandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined (__SANITIZE_ADDRESS__)
#   define S_SANITIZED 1
#elif defined (__has_feature)
#   if __has_feature (address_sanitizer)
#       define S_SANITIZED 1
#   endif
#endif

//  In a child: report the failed check and exit 1.
#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: check failed: %s (errno %d: %s)\n", __FILE__, __LINE__, \
             #cond, errno, strerror (errno)); _exit (1); } } while (0)

static irh_paths_t *s_paths;
static char *s_identity;            //  <home>/identity
static bool s_landlock;             //  the kernel has Landlock
static bool s_seccomp;              //  the kernel has seccomp filters

static char *
s_path (const char *dir, const char *name)
{
    char *path = NULL;
    if (asprintf (&path, "%s/%s", dir, name) < 0)
        abort ();
    return path;
}

//  Creates (or truncates) dir/name for writing; returns the open(2) result
//  with errno kept, closing the descriptor.
static int
s_create (const char *dir, const char *name)
{
    char *path = s_path (dir, name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int saved = errno;
    if (fd >= 0) {
        if (write (fd, "x", 1) != 1)
            fd = -1;
        close (fd);
        fd = fd >= 0? 0: -1;
    }
    free (path);
    errno = saved;
    return fd;
}

static int
s_read_open (const char *path)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    int saved = errno;
    if (fd >= 0)
        close (fd);
    errno = saved;
    return fd >= 0? 0: -1;
}

//  Runs fn in a forked child; true if it exited 0.
static bool
s_in_child (const char *what, void (*fn) (void))
{
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0) {
        perror ("fork");
        exit (1);
    }
    if (pid == 0) {
        fn ();
        _exit (0);
    }
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    bool ok = WIFEXITED (status) && WEXITSTATUS (status) == 0;
    printf ("  %s: %s\n", what, ok? "ok": "FAILED");
    return ok;
}

static void
s_apply_network (bool needs_identity, int expect_rc, irh_sandbox_status_t *status)
{
    irh_sandbox_t *policy = irh_sandbox_network_actor (s_paths, needs_identity);
    CHECK (policy);
    char *err = NULL;
    int rc = irh_sandbox_apply (policy, status, &err);
    irh_sandbox_destroy (&policy);
    if (rc != expect_rc)
        fprintf (stderr, "apply: rc %d, expected %d (%s)\n", rc, expect_rc, err? err: "");
    CHECK (rc == expect_rc);
    CHECK ((rc == 0) == (err == NULL));
    free (err);
    CHECK (status->unconfined_threads == 0);
}

static void *
s_thread_main (void *arg)
{
    return arg;
}

//  The denied syscalls fail with EPERM; ordinary ones still work.
static void
s_check_syscalls (void)
{
#ifdef S_SANITIZED
    printf ("  (sanitized build: ptrace stays allowed for LeakSanitizer)\n");
#else
    //  Succeeds without the filter (the parent does not mind being asked).
    errno = 0;
    CHECK (ptrace (PTRACE_TRACEME, 0, NULL, NULL) == -1 && errno == EPERM);
#endif
    CHECK (setuid (getuid ()) == -1 && errno == EPERM);
    CHECK (setgid (getgid ()) == -1 && errno == EPERM);
    CHECK (personality (PER_LINUX | ADDR_NO_RANDOMIZE) == -1 && errno == EPERM);
    CHECK (personality (0xffffffff) != -1);
    CHECK (unshare (CLONE_NEWUSER) == -1 && errno == EPERM);
    CHECK (syscall (SYS_clone3, NULL, (size_t) 0) == -1 && errno == ENOSYS);
    //  Without the filter, root gets ENOENT here and others EPERM: the
    //  assertion can only fail-proof for root, so check it there.
    if (geteuid () == 0)
        CHECK (mount ("none", "/nonexistent-irohds-sandbox", "tmpfs", 0, NULL) == -1
               && errno == EPERM);
    char *argv [] = { "/bin/true", NULL };
    char *envp [] = { NULL };
    CHECK (execve ("/bin/true", argv, envp) == -1 && errno == EPERM);
    //  Threads and children still work: glibc falls back from clone3 to
    //  clone, whose flags the filter lets through.
    pthread_t thread;
    CHECK (pthread_create (&thread, NULL, s_thread_main, NULL) == 0);
    CHECK (pthread_join (thread, NULL) == 0);
    pid_t pid = fork ();
    CHECK (pid >= 0);
    if (pid == 0)
        _exit (7);
    int status;
    CHECK (waitpid (pid, &status, 0) == pid && WIFEXITED (status) && WEXITSTATUS (status) == 7);
}

//  The files every network actor may and may not touch.
static void
s_check_common_fs (void)
{
    errno = 0;
    CHECK (s_create (s_paths->store, "x") == -1 && errno == EACCES);
    CHECK (s_create (s_paths->blobs, "x") == -1 && errno == EACCES);
    CHECK (s_create (s_identity, "x") == -1 && errno == EACCES);
    CHECK (s_create (s_paths->home, "x") == -1 && errno == EACCES);
    CHECK (s_create ("/tmp", "irohds-sandbox-test") == -1 && errno == EACCES);
    char *data = s_path (s_paths->store, "data.mdb");
    CHECK (s_read_open (data) == -1 && errno == EACCES);
    free (data);
    CHECK (s_read_open (s_paths->store) == -1 && errno == EACCES);
    //  Config readable, not writable.
    CHECK (s_read_open (s_paths->config) == 0);
    CHECK (open (s_paths->config, O_WRONLY | O_CLOEXEC) == -1 && errno == EACCES);
    //  run/ is the actor's: files, directories, sockets' room, removal.
    CHECK (s_create (s_paths->run, "x") == 0);
    char *sub = s_path (s_paths->run, "sub");
    CHECK (mkdir (sub, 0700) == 0 && rmdir (sub) == 0);
    free (sub);
    char *made = s_path (s_paths->run, "x");
    CHECK (unlink (made) == 0);
    free (made);
    CHECK (s_create (s_paths->staging, "part") == 0);
    //  The log is appended to; the system is readable.
    CHECK (open (s_paths->log, O_WRONLY | O_APPEND | O_CLOEXEC) >= 0);
    CHECK (s_read_open ("/proc/self/status") == 0);
    CHECK (s_read_open ("/dev/urandom") == 0);
    CHECK (open ("/dev/null", O_WRONLY | O_CLOEXEC) >= 0);
}

static void
s_case_discovery (void)
{
    irh_sandbox_status_t status;
    s_apply_network (false, s_landlock && s_seccomp? 0: 1, &status);
    CHECK (status.no_new_privs);
    CHECK (status.landlock == s_landlock);
    CHECK (status.seccomp == s_seccomp);
    if (s_landlock) {
        s_check_common_fs ();
        //  Discovery cannot read the secret key, nor list identity/.
        char *secret = s_path (s_identity, "node.cert_secret");
        errno = 0;
        CHECK (s_read_open (secret) == -1 && errno == EACCES);
        CHECK (s_read_open (s_identity) == -1 && errno == EACCES);
        free (secret);
        //  Nor the namespace secrets.
        char *nsfile = s_path (s_paths->ns, "test.ns");
        CHECK (s_read_open (nsfile) == -1 && errno == EACCES);
        CHECK (s_read_open (s_paths->ns) == -1 && errno == EACCES);
        free (nsfile);
    }
    else {
        printf ("  Landlock not available on this kernel: checking the degrade path\n");
        CHECK (strstr (status.summary, "landlock=off"));
        //  Nothing is enforced, and the actor goes on.
        CHECK (s_create (s_paths->run, "degraded") == 0);
    }
    if (s_seccomp)
        s_check_syscalls ();
    else
        CHECK (strstr (status.summary, "seccomp=off"));
}

static void
s_case_gossip (void)
{
    irh_sandbox_status_t status;
    s_apply_network (true, s_landlock && s_seccomp? 0: 1, &status);
    if (!s_landlock) {
        printf ("  Landlock not available on this kernel: nothing to check for identity/\n");
        return;
    }
    s_check_common_fs ();
    //  Gossip reads its key (CURVE server), writes nothing in identity/.
    char *secret = s_path (s_identity, "node.cert_secret");
    CHECK (s_read_open (secret) == 0);
    CHECK (open (secret, O_WRONLY | O_CLOEXEC) == -1 && errno == EACCES);
    CHECK (unlink (secret) == -1 && errno == EACCES);
    free (secret);
    //  Gossip reads the namespace secrets; only irohds-ctl writes them.
    char *nsfile = s_path (s_paths->ns, "test.ns");
    CHECK (s_read_open (nsfile) == 0);
    CHECK (s_read_open (s_paths->ns) == 0);
    CHECK (open (nsfile, O_WRONLY | O_CLOEXEC) == -1 && errno == EACCES);
    CHECK (s_create (s_paths->ns, "new.ns") == -1 && errno == EACCES);
    free (nsfile);
}

//  Installs a filter that makes this process look like it runs on a
//  kernel without Landlock (landlock_create_ruleset: ENOSYS) and, if
//  hide_seccomp, without seccomp (PR_GET_SECCOMP: EINVAL).
static void
s_hide_features (bool hide_seccomp)
{
    struct sock_filter filter [] = {
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, arch)),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_create_ruleset, 0, 1),
        BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, SYS_prctl, 0, 3),
        BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, args [0])),
        BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, hide_seccomp? PR_GET_SECCOMP: 0xffffffff, 0, 1),
        BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
        BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog program = { .len = sizeof filter / sizeof filter [0], .filter = filter };
    CHECK (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK (prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0);
    CHECK (syscall (SYS_landlock_create_ruleset, NULL, 0, 1) == -1 && errno == ENOSYS);
}

//  No Landlock, no seccomp: apply says so, start-up goes on.
static void
s_case_degrade_both (void)
{
    s_hide_features (true);
    irh_sandbox_t *policy = irh_sandbox_network_actor (s_paths, false);
    irh_sandbox_status_t status;
    char *err = NULL;
    CHECK (irh_sandbox_apply (policy, &status, &err) == 1);
    irh_sandbox_destroy (&policy);
    CHECK (err && strstr (err, "no Landlock") && strstr (err, "no seccomp"));
    free (err);
    CHECK (!status.landlock && !status.seccomp && status.no_new_privs);
    CHECK (status.landlock_abi == 0);
    CHECK (strcmp (status.summary, "landlock=off seccomp=off nnp=on") == 0);
    //  Unrestricted, as the warning said.
    CHECK (s_create (s_paths->store, "degraded") == 0);
    CHECK (setuid (getuid ()) == 0);
}

//  No Landlock, seccomp present: the filter still goes in.
static void
s_case_degrade_landlock (void)
{
    s_hide_features (false);
    irh_sandbox_t *policy = irh_sandbox_network_actor (s_paths, false);
    irh_sandbox_status_t status;
    CHECK (irh_sandbox_apply (policy, &status, NULL) == 1);
    irh_sandbox_destroy (&policy);
    CHECK (!status.landlock && status.seccomp);
    CHECK (strstr (status.summary, "landlock=off seccomp=on"));
    CHECK (setuid (getuid ()) == -1 && errno == EPERM);
}

static void *
s_blocked_thread (void *arg)
{
    int *pipe_fds = arg;
    char byte;
    if (read (pipe_fds [0], &byte, 1) < 0)
        return NULL;
    return NULL;
}

//  A thread started before apply is reported as unconfined.
static void
s_case_late_apply (void)
{
    int pipe_fds [2];
    CHECK (pipe (pipe_fds) == 0);
    pthread_t thread;
    CHECK (pthread_create (&thread, NULL, s_blocked_thread, pipe_fds) == 0);
    irh_sandbox_t *policy = irh_sandbox_new ("late");
    irh_sandbox_status_t status;
    int rc = irh_sandbox_apply (policy, &status, NULL);
    irh_sandbox_destroy (&policy);
    CHECK (rc == (s_landlock && s_seccomp? 0: 1));
    CHECK (status.unconfined_threads == 1);
    CHECK (strstr (status.summary, "threads-unconfined"));
    CHECK (write (pipe_fds [1], "x", 1) == 1);
    CHECK (pthread_join (thread, NULL) == 0);
}

//  A symlink in a rule's place grants nothing, not its target.
static void
s_case_symlink_rule (void)
{
    char *link = s_path (s_paths->run, "to-store");
    CHECK (symlink (s_paths->store, link) == 0);
    irh_sandbox_t *policy = irh_sandbox_new ("symlink");
    CHECK (irh_sandbox_allow_write (policy, link) == 0);
    irh_sandbox_set_seccomp (policy, false);
    irh_sandbox_status_t status;
    CHECK (irh_sandbox_apply (policy, &status, NULL) == 0);
    irh_sandbox_destroy (&policy);
    CHECK (strstr (status.summary, "seccomp=unused"));
    CHECK (s_create (s_paths->store, "x") == -1 && errno == EACCES);
    CHECK (s_create (link, "x") == -1 && errno == EACCES);
    free (link);
}

int
main (int argc, char *argv [])
{
    (void) argc;
    (void) argv;
    printf (" * irh_sandbox: ");
    char home [] = "/tmp/irohds-sandbox-XXXXXX";
    if (!mkdtemp (home)) {
        perror ("mkdtemp");
        return 1;
    }
    char *err = NULL;
    s_paths = irh_paths_new (home, true, &err);
    irh_identity_t *identity = s_paths? irh_identity_load_or_create (home, &err): NULL;
    if (!identity) {
        fprintf (stderr, "set-up: %s\n", err? err: "?");
        return 1;
    }
    s_identity = s_path (home, "identity");
    //  What an actor finds at start: a config, a log it appends to, a
    //  store with its data file.
    char *data = s_path (s_paths->store, "data.mdb");
    char *nsfile = s_path (s_paths->ns, "test.ns");     //  a namespace secret
    const char *files [] = { s_paths->config, s_paths->log, data, nsfile };
    for (int index = 0; index < 4; index++) {
        FILE *file = fopen (files [index], "w");
        if (!file || fputs ("[node]\nname = \"sandbox\"\n", file) < 0 || fclose (file)) {
            perror (files [index]);
            return 1;
        }
    }
    free (data);
    free (nsfile);

    //  What the kernel offers, asked two ways where it can be: the ABI
    //  probe, and the LSM list when securityfs is mounted.
    int abi = irh_sandbox_landlock_abi ();
    s_landlock = abi > 0;
    s_seccomp = prctl (PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
    printf ("Landlock ABI %d, seccomp %s\n", abi, s_seccomp? "yes": "no");
    bool ok = true;
    FILE *lsm = fopen ("/sys/kernel/security/lsm", "re");
    if (lsm) {
        char list [512] = "";
        if (fgets (list, sizeof list, lsm) && (strstr (list, "landlock") != NULL) != s_landlock) {
            fprintf (stderr, "LSM list '%s' disagrees with the ABI probe (%d)\n", list, abi);
            ok = false;
        }
        fclose (lsm);
    }
    //  Misuse is refused, not half-recorded.
    irh_sandbox_t *policy = irh_sandbox_new ("misuse");
    if (irh_sandbox_allow_read (policy, "relative/path") != -1
    ||  irh_sandbox_allow_write (policy, "") != -1) {
        fprintf (stderr, "relative rule paths accepted\n");
        ok = false;
    }
    irh_sandbox_destroy (&policy);

    ok &= s_in_child ("discovery policy", s_case_discovery);
    ok &= s_in_child ("gossip policy", s_case_gossip);
    ok &= s_in_child ("degrade: no Landlock, no seccomp", s_case_degrade_both);
    if (s_seccomp)
        ok &= s_in_child ("degrade: no Landlock", s_case_degrade_landlock);
    ok &= s_in_child ("thread started before apply", s_case_late_apply);
    if (s_landlock)
        ok &= s_in_child ("symlink in a rule", s_case_symlink_rule);

    irh_identity_destroy (&identity);
    irh_paths_destroy (&s_paths);
    free (s_identity);
    char *command = NULL;
    if (asprintf (&command, "rm -rf '%s'", home) >= 0 && system (command) != 0)
        ok = false;
    free (command);
    printf (" * irh_sandbox: %s\n", ok? "OK": "FAILED");
    return ok? 0: 1;
}
