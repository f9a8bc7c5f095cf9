/*  trust.c: the trust zones of the broker; see trust.h and
    docs/security.md for the policy and why.

    A handful of rows (one per actor of the table), looked up by service
    (register) or by pid (calls): a linear scan over at most ACTORS_MAX
    rows is cheaper than any hash at this size.
*/
#include "trust.h"
#include "irh_msgs.h"
#include <assert.h>
#include <czmq.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROWS_MAX 32

typedef struct {
    char name [IRH_SERVICE_MAX + 1];
    char service [IRH_SERVICE_MAX + 1];
    uint32_t pid;                       //  0: not running
    char token [IRH_TOKEN_SIZE + 1];    //  "" once void
    trust_call_t calls [TRUST_CALLS_MAX];
    size_t ncalls;
} row_t;

struct _trust_t {
    row_t rows [ROWS_MAX];
    size_t count;
    bool proc;                  //  /proc readable: ancestry can be checked
};

//  How far up trust_caller looks before it gives up (a longer chain is
//  nothing an actor makes on purpose; treated as unreadable).
#define ANCESTRY_MAX 64

//  Message id of a name from proto/*.def, -1 if none.
static int
s_command_id (const char *name)
{
    for (int id = 1; id < 256; id++) {
        const char *known = irh_msgs_name (id);
        if (known && streq (known, name))
            return id;
    }
    return -1;
}

int
trust_calls_parse (const char *text, trust_call_t *calls, size_t *count,
                   char *error, size_t error_size)
{
    assert (text && calls && count && error);
    *count = 0;
    char *copy = strdup (text);
    assert (copy);
    char *save = NULL;
    int rc = 0;
    for (char *item = strtok_r (copy, " +", &save); item; item = strtok_r (NULL, " +", &save)) {
        char *slash = strchr (item, '/');
        if (!slash) {
            snprintf (error, error_size, "'%.60s' is not service/command", item);
            rc = -1;
            break;
        }
        *slash = 0;
        const char *command = slash + 1;
        if (!irh_envelope_service_valid ((const uint8_t *) item, strlen (item))) {
            snprintf (error, error_size, "'%.60s' is not a service name", item);
            rc = -1;
            break;
        }
        int id = streq (command, "*") ? TRUST_ANY_COMMAND : s_command_id (command);
        if (id == -1 && !streq (command, "*")) {
            snprintf (error, error_size, "'%.60s' is not a message name", command);
            rc = -1;
            break;
        }
        if (*count == TRUST_CALLS_MAX) {
            snprintf (error, error_size, "more than %d calls", TRUST_CALLS_MAX);
            rc = -1;
            break;
        }
        snprintf (calls [*count].service, sizeof calls [*count].service, "%s", item);
        calls [*count].command = id;
        (*count)++;
    }
    free (copy);
    return rc;
}

trust_t *
trust_new (void)
{
    trust_t *self = (trust_t *) zmalloc (sizeof (trust_t));
    assert (self);
    self->proc = access ("/proc/self/stat", R_OK) == 0;
    return self;
}

void
trust_destroy (trust_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        sodium_memzero (*self_p, sizeof (trust_t));
        free (*self_p);
        *self_p = NULL;
    }
}

void
trust_set (trust_t *self, const char *name, const char *service, uint32_t pid,
           const char *token, const trust_call_t *calls, size_t count)
{
    assert (self && name && service && token);
    assert (strlen (token) == IRH_TOKEN_SIZE);
    assert (count <= TRUST_CALLS_MAX && (calls || count == 0));
    row_t *row = NULL;
    for (size_t i = 0; i < self->count && !row; i++)
        if (streq (self->rows [i].name, name))
            row = &self->rows [i];
    if (!row) {
        assert (self->count < ROWS_MAX);
        row = &self->rows [self->count++];
    }
    snprintf (row->name, sizeof row->name, "%s", name);
    snprintf (row->service, sizeof row->service, "%s", service);
    row->pid = pid;
    memcpy (row->token, token, IRH_TOKEN_SIZE + 1);
    if (count)
        memcpy (row->calls, calls, count * sizeof (trust_call_t));
    row->ncalls = count;
}

void
trust_forget_pid (trust_t *self, uint32_t pid)
{
    assert (self);
    for (size_t i = 0; i < self->count; i++)
        if (pid && self->rows [i].pid == pid) {
            self->rows [i].pid = 0;
            sodium_memzero (self->rows [i].token, sizeof self->rows [i].token);
        }
}

int
trust_register_check (trust_t *self, const char *service, uint32_t pid, uint32_t peer_pid,
                      const irh_frame_view_t *token, char *why, size_t why_size)
{
    assert (self && service && token && why);
    if (token->size == 0) {
        snprintf (why, why_size, "no registration token: only actors the supervisor "
                  "started may register a service");
        return -1;
    }
    bool known = false;
    for (size_t i = 0; i < self->count; i++) {
        row_t *row = &self->rows [i];
        if (!streq (row->service, service))
            continue;
        known = true;
        //  Every row of the service is compared, in constant time, so the
        //  answer says nothing about how much of a token was right.
        if (!row->pid || token->size != IRH_TOKEN_SIZE
        ||  sodium_memcmp (row->token, token->data, IRH_TOKEN_SIZE) != 0)
            continue;
        //  The right token from the wrong process (copied out of the
        //  actor) is refused too, where the kernel tells us the sender.
        if (pid != row->pid || (peer_pid && peer_pid != row->pid)) {
            snprintf (why, why_size, "token of actor %s (pid %u) presented by pid %u",
                      row->name, row->pid, peer_pid ? peer_pid : pid);
            return -1;
        }
        return 0;
    }
    if (known)
        snprintf (why, why_size, "wrong registration token for service %s", service);
    else
        snprintf (why, why_size, "no actor of the daemon serves %s", service);
    return -1;
}

static row_t *
s_row_by_pid (trust_t *self, uint32_t pid)
{
    for (size_t i = 0; i < self->count; i++)
        if (pid && self->rows [i].pid == pid)
            return &self->rows [i];
    return NULL;
}

//  Parent of pid from /proc/PID/stat (0 for a process whose parent is
//  outside our pid namespace), -1 if it cannot be read.
static int64_t
s_parent (uint32_t pid)
{
    char path [40];
    snprintf (path, sizeof path, "/proc/%u/stat", pid);
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd == -1)
        return -1;
    char text [1024];
    ssize_t size = read (fd, text, sizeof text);
    close (fd);
    return size > 0 ? irh_envelope_stat_ppid (text, (size_t) size) : -1;
}

uint32_t
trust_caller (trust_t *self, uint32_t peer_pid, uint32_t root_pid)
{
    assert (self);
    if (!peer_pid)
        return 0;
    if (s_row_by_pid (self, peer_pid))
        return peer_pid;
    if (!self->proc)
        return 0;               //  no /proc: only the actors themselves are known
    uint32_t pid = peer_pid;
    for (int depth = 0; depth < ANCESTRY_MAX; depth++) {
        if (s_row_by_pid (self, pid))
            return pid;
        if (pid == root_pid)
            return TRUST_STRANGER;
        if (pid <= 1)
            return 0;
        //  A process gone before we looked cannot show it is no actor's.
        int64_t parent = s_parent (pid);
        if (parent < 0)
            return TRUST_STRANGER;
        pid = (uint32_t) parent;
    }
    return TRUST_STRANGER;
}

int
trust_call_check (trust_t *self, uint32_t caller, const char *service, int command,
                  char *why, size_t why_size)
{
    assert (self && service && why);
    if (!caller)
        return 0;
    if (caller == TRUST_STRANGER) {
        snprintf (why, why_size, "a process under the daemon that is no actor may call "
                  "nothing");
        return -1;
    }
    for (size_t i = 0; i < self->count; i++) {
        row_t *row = &self->rows [i];
        if (row->pid != caller)
            continue;
        for (size_t j = 0; j < row->ncalls; j++)
            if (streq (row->calls [j].service, service)
            &&  (row->calls [j].command == TRUST_ANY_COMMAND
                 || row->calls [j].command == command))
                return 0;
        const char *name = command >= 0 ? irh_msgs_name (command) : NULL;
        if (name)
            snprintf (why, why_size, "actor %s may not call %s %s", row->name, service, name);
        else
            snprintf (why, why_size, "actor %s may not call %s (command %d)", row->name,
                      service, command);
        return -1;
    }
    //  The caller was an actor's when its connection was first seen, and
    //  that actor has exited since: what it left running gets nothing.
    snprintf (why, why_size, "the actor this process belongs to (pid %u) is gone", caller);
    return -1;
}

void
trust_test (bool verbose)
{
    if (verbose)
        printf (" * trust: ");
    trust_call_t calls [TRUST_CALLS_MAX];
    size_t count;
    char error [128];
    assert (trust_calls_parse ("store/get store/has+gossip/*", calls, &count, error,
                               sizeof error) == 0);
    assert (count == 3 && calls [0].command == IRH_MSG_GET && streq (calls [2].service, "gossip"));
    assert (calls [2].command == TRUST_ANY_COMMAND);
    assert (trust_calls_parse ("", calls, &count, error, sizeof error) == 0 && count == 0);
    assert (trust_calls_parse ("store/nonsense", calls, &count, error, sizeof error) == -1);
    assert (trust_calls_parse ("store", calls, &count, error, sizeof error) == -1);
    assert (trust_calls_parse ("BAD/get", calls, &count, error, sizeof error) == -1);

    trust_t *trust = trust_new ();
    char token [IRH_TOKEN_SIZE + 1];
    memset (token, 'a', IRH_TOKEN_SIZE);
    token [IRH_TOKEN_SIZE] = 0;
    assert (trust_calls_parse ("store/get", calls, &count, error, sizeof error) == 0);
    trust_set (trust, "gossip", "gossip", 100, token, calls, count);
    irh_frame_view_t good = { (const uint8_t *) token, IRH_TOKEN_SIZE };
    irh_frame_view_t none = { NULL, 0 };
    char bad [IRH_TOKEN_SIZE + 1];
    memcpy (bad, token, sizeof bad);
    bad [10] = 'b';
    irh_frame_view_t wrong = { (const uint8_t *) bad, IRH_TOKEN_SIZE };
    char why [200];
    assert (trust_register_check (trust, "gossip", 100, 100, &good, why, sizeof why) == 0);
    assert (trust_register_check (trust, "gossip", 100, 0, &good, why, sizeof why) == 0);
    assert (trust_register_check (trust, "gossip", 100, 100, &none, why, sizeof why) == -1);
    assert (trust_register_check (trust, "gossip", 100, 100, &wrong, why, sizeof why) == -1);
    assert (trust_register_check (trust, "gossip", 100, 101, &good, why, sizeof why) == -1);
    assert (trust_register_check (trust, "gossip", 101, 0, &good, why, sizeof why) == -1);
    assert (trust_register_check (trust, "store", 100, 100, &good, why, sizeof why) == -1);
    //  Calls: the actor's list; anyone else is a local client
    assert (trust_call_check (trust, 100, "store", IRH_MSG_GET, why, sizeof why) == 0);
    assert (trust_call_check (trust, 100, "store", IRH_MSG_EVICT, why, sizeof why) == -1);
    assert (strstr (why, "evict"));
    assert (trust_call_check (trust, 100, "sup", IRH_MSG_DOWN, why, sizeof why) == -1);
    assert (trust_call_check (trust, 100, "store", -1, why, sizeof why) == -1);
    assert (trust_call_check (trust, 0, "sup", IRH_MSG_DOWN, why, sizeof why) == 0);
    //  The process is gone: its token is void, and a caller still counted
    //  as its (a child it left running) gets nothing
    trust_forget_pid (trust, 100);
    assert (trust_register_check (trust, "gossip", 100, 100, &good, why, sizeof why) == -1);
    assert (trust_call_check (trust, 100, "store", IRH_MSG_GET, why, sizeof why) == -1);
    assert (strstr (why, "gone"));
    //  A restart: new pid and token, same row
    trust_set (trust, "gossip", "gossip", 200, bad, NULL, 0);
    assert (trust_register_check (trust, "gossip", 200, 200, &wrong, why, sizeof why) == 0);
    assert (trust_register_check (trust, "gossip", 200, 200, &good, why, sizeof why) == -1);
    assert (trust_call_check (trust, 200, "store", IRH_MSG_GET, why, sizeof why) == -1);

    //  Ancestry: a child of an actor is in the actor's zone; a process
    //  under the root (the daemon) but under no actor may call nothing;
    //  anyone else is a local client.
    uint32_t self_pid = (uint32_t) getpid ();
    fflush (stdout);
    pid_t child = fork ();
    assert (child >= 0);
    if (child == 0) {
        pause ();
        _exit (0);
    }
    trust_set (trust, "tester", "tester", self_pid, token, NULL, 0);
    assert (trust_caller (trust, self_pid, 1) == self_pid);
    assert (trust_caller (trust, (uint32_t) child, 1) == self_pid);
    assert (trust_call_check (trust, self_pid, "store", IRH_MSG_GET, why, sizeof why) == -1);
    trust_forget_pid (trust, self_pid);
    assert (trust_caller (trust, (uint32_t) child, self_pid) == TRUST_STRANGER);
    assert (trust_call_check (trust, TRUST_STRANGER, "store", IRH_MSG_PING, why,
                              sizeof why) == -1);
    assert (trust_caller (trust, (uint32_t) child, 0) == 0);
    assert (trust_caller (trust, self_pid, 0) == 0);
    kill (child, SIGKILL);
    waitpid (child, NULL, 0);
    trust_destroy (&trust);
    assert (trust == NULL);
    if (verbose)
        printf ("OK\n");
}
