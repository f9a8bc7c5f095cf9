/*  irh_envelope.c: the pure decoder of the broker envelope (IRC1 / IRW1).

    Everything a broker or standalone actor receives from outside goes
    through irh_envelope_decode first; it never trusts a length, never
    reads past a frame and never allocates, so it is cheap to fuzz
    (fuzz/fuzz_broker.c).
*/
#include "irh_envelope.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int
s_fail (irh_envelope_t *env, const char *code, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (env->error_text, sizeof env->error_text, format, args);
    va_end (args);
    env->error_code = code;
    return -1;
}

static bool
s_is (const irh_frame_view_t *frame, const char *text)
{
    size_t len = strlen (text);
    return frame->size == len && (len == 0 || memcmp (frame->data, text, len) == 0);
}

bool
irh_envelope_service_valid (const uint8_t *data, size_t size)
{
    if (size < 1 || size > IRH_SERVICE_MAX)
        return false;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = data [i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

static bool
s_rid_valid (const irh_frame_view_t *frame)
{
    return frame->size >= 1 && frame->size <= IRH_RID_MAX;
}

static bool
s_routing_id_valid (const irh_frame_view_t *frame)
{
    return frame->size >= 1 && frame->size <= IRH_ROUTING_ID_MAX;
}

//  Decimal pid: 1..10 digits, fits u32, not 0.
static int
s_parse_pid (const irh_frame_view_t *frame, uint32_t *pid)
{
    if (frame->size < 1 || frame->size > 10)
        return -1;
    uint64_t value = 0;
    for (size_t i = 0; i < frame->size; i++) {
        if (frame->data [i] < '0' || frame->data [i] > '9')
            return -1;
        value = value * 10 + (frame->data [i] - '0');
    }
    if (value == 0 || value > UINT32_MAX)
        return -1;
    *pid = (uint32_t) value;
    return 0;
}

static void
s_reset (irh_envelope_t *env, const irh_frame_view_t *frames, size_t count)
{
    memset (env, 0, sizeof *env);
    env->frames = count;
    for (size_t i = 0; i < count; i++)
        env->bytes += frames [i].size;
}

static int
s_decode_client (const irh_frame_view_t *frames, size_t count, irh_envelope_t *env)
{
    env->kind = IRH_ENV_CLIENT_REQUEST;
    //  Take what can be read first, so that an error reply can be addressed.
    if (count >= 2 && irh_envelope_service_valid (frames [1].data, frames [1].size))
        env->service = frames [1];
    if (count >= 3 && s_rid_valid (&frames [2]))
        env->rid = frames [2];
    if (count < 4)
        return s_fail (env, "malformed", "request has %zu frames, needs at least 4", count);
    if (env->service.size == 0)
        return s_fail (env, "malformed", "service must be 1-%d bytes of [a-z0-9_.-]",
                       IRH_SERVICE_MAX);
    if (env->rid.size == 0)
        return s_fail (env, "malformed", "request id must be 1-%d bytes", IRH_RID_MAX);
    env->body = 3;
    return 0;
}

static int
s_decode_worker (const irh_frame_view_t *frames, size_t count, irh_envelope_t *env)
{
    env->kind = IRH_ENV_WORKER;
    if (count < 2 || frames [1].size != 1)
        return s_fail (env, "malformed", "worker message without a command byte");
    env->command = frames [1].data [0];
    switch (env->command) {
        case IRH_CMD_READY:
            //  The token frame is optional here so that a READY without
            //  one is refused (and counted) as such, not as malformed.
            if (count != 4 && count != 5)
                return s_fail (env, "malformed", "READY has %zu frames, needs 4 or 5", count);
            if (!irh_envelope_service_valid (frames [2].data, frames [2].size))
                return s_fail (env, "malformed", "READY with an invalid service name");
            env->service = frames [2];
            if (s_parse_pid (&frames [3], &env->pid))
                return s_fail (env, "malformed", "READY with an invalid pid");
            if (count == 5) {
                if (frames [4].size == 0 || frames [4].size > IRH_TOKEN_SIZE)
                    return s_fail (env, "malformed", "READY with a token of %zu bytes",
                                   frames [4].size);
                env->token = frames [4];
            }
            return 0;
        case IRH_CMD_REFUSED:
            if (count != 3 || frames [2].size > IRH_ERROR_TEXT_MAX)
                return s_fail (env, "malformed", "REFUSED needs one text frame");
            env->text = frames [2];
            return 0;
        case IRH_CMD_REQUEST:
            if (count < 5)
                return s_fail (env, "malformed", "REQUEST has %zu frames, needs 5+", count);
            if (!s_routing_id_valid (&frames [2]) || !s_rid_valid (&frames [3]))
                return s_fail (env, "malformed", "REQUEST with an invalid client or rid");
            env->client = frames [2];
            env->rid = frames [3];
            env->body = 4;
            return 0;
        case IRH_CMD_REPLY:
            if (count < 5)
                return s_fail (env, "malformed", "REPLY has %zu frames, needs 5+", count);
            if (!s_routing_id_valid (&frames [2]) || !s_rid_valid (&frames [3]))
                return s_fail (env, "malformed", "REPLY with an invalid client or rid");
            env->client = frames [2];
            env->rid = frames [3];
            if (s_is (&frames [4], IRH_STATUS_OK))
                env->status_ok = true;
            else
            if (s_is (&frames [4], IRH_STATUS_ERR)) {
                if (count != 7)
                    return s_fail (env, "malformed", "ERR reply needs code and text");
                if (!irh_envelope_service_valid (frames [5].data, frames [5].size))
                    return s_fail (env, "malformed", "ERR reply with an invalid code");
            }
            else
                return s_fail (env, "malformed", "REPLY status is neither OK nor ERR");
            env->body = 5;
            return 0;
        case IRH_CMD_HEARTBEAT:
        case IRH_CMD_DISCONNECT:
            if (count != 2)
                return s_fail (env, "malformed", "%s with extra frames",
                               env->command == IRH_CMD_HEARTBEAT ? "HEARTBEAT" : "DISCONNECT");
            return 0;
        default:
            return s_fail (env, "malformed", "unknown worker command 0x%02x", env->command);
    }
}

uint32_t
irh_envelope_peer_pid (const char *address)
{
    if (!address)
        return 0;
    const char *last = strrchr (address, ':');
    if (!last || !last [1])
        return 0;
    uint64_t value = 0;
    for (const char *c = last + 1; *c; c++) {
        if (*c < '0' || *c > '9' || c - last > 10)
            return 0;
        value = value * 10 + (uint64_t) (*c - '0');
    }
    //  "host:uid:gid:pid": three colons or it is not ours to read.
    int colons = 0;
    for (const char *c = address; *c; c++)
        colons += *c == ':';
    return colons >= 3 && value <= UINT32_MAX ? (uint32_t) value : 0;
}

int64_t
irh_envelope_stat_ppid (const char *text, size_t size)
{
    if (!text)
        return -1;
    //  The last ')' ends comm, whatever comm holds.
    const char *close = NULL;
    for (size_t i = 0; i < size; i++)
        if (text [i] == ')')
            close = text + i;
    if (!close)
        return -1;
    const char *end = text + size;
    const char *c = close + 1;
    //  " S " then the ppid digits
    if (end - c < 4 || c [0] != ' ' || c [2] != ' ')
        return -1;
    c += 3;
    uint64_t value = 0;
    size_t digits = 0;
    while (c < end && *c >= '0' && *c <= '9' && digits < 11) {
        value = value * 10 + (uint64_t) (*c++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 10 || value > UINT32_MAX || (c < end && *c != ' '))
        return -1;
    return (int64_t) value;
}

int
irh_envelope_decode (const irh_frame_view_t *frames, size_t count, uint64_t max_bytes,
                     irh_envelope_t *env)
{
    assert (env);
    assert (frames || count == 0);
    s_reset (env, frames, count);
    if (max_bytes == 0)
        max_bytes = IRH_MESSAGE_MAX;
    if (count == 0)
        return s_fail (env, "malformed", "empty message");

    int rc;
    if (s_is (&frames [0], IRH_PROTO_CLIENT))
        rc = s_decode_client (frames, count, env);
    else
    if (s_is (&frames [0], IRH_PROTO_WORKER))
        rc = s_decode_worker (frames, count, env);
    else {
        //  Still try to find a rid, in case it is a client of another version.
        if (count >= 3 && s_rid_valid (&frames [2]))
            env->rid = frames [2];
        return s_fail (env, "version", "unknown protocol (expected %s or %s)",
                       IRH_PROTO_CLIENT, IRH_PROTO_WORKER);
    }
    if (rc == 0 && env->bytes > max_bytes)
        return s_fail (env, "too-big", "message of %llu bytes is over the limit of %llu",
                       (unsigned long long) env->bytes, (unsigned long long) max_bytes);
    return rc;
}

int
irh_envelope_decode_reply (const irh_frame_view_t *frames, size_t count, irh_envelope_t *env)
{
    assert (env);
    assert (frames || count == 0);
    s_reset (env, frames, count);
    env->kind = IRH_ENV_CLIENT_REPLY;
    if (count < 4)
        return s_fail (env, "malformed", "reply has %zu frames, needs 4+", count);
    if (!s_is (&frames [0], IRH_PROTO_CLIENT))
        return s_fail (env, "version", "reply is not %s", IRH_PROTO_CLIENT);
    if (s_rid_valid (&frames [2]))
        env->rid = frames [2];
    else
        return s_fail (env, "malformed", "reply with an invalid rid");
    env->service = frames [1];
    if (s_is (&frames [3], IRH_STATUS_OK))
        env->status_ok = true;
    else
    if (s_is (&frames [3], IRH_STATUS_ERR)) {
        if (count < 6)
            return s_fail (env, "malformed", "ERR reply without code and text");
    }
    else
        return s_fail (env, "malformed", "reply status is neither OK nor ERR");
    env->body = 4;
    return 0;
}

size_t
irh_envelope_views (zmsg_t *msg, irh_frame_view_t *views, size_t capacity)
{
    assert (msg);
    size_t count = 0;
    for (zframe_t *frame = zmsg_first (msg); frame && count < capacity;
         frame = zmsg_next (msg)) {
        views [count].data = zframe_data (frame);
        views [count].size = zframe_size (frame);
        count++;
    }
    return count;
}

void
irh_envelope_add_error (zmsg_t *msg, const irh_frame_view_t *service,
                        const irh_frame_view_t *rid, const char *code, const char *text)
{
    assert (msg && service && rid && code && text);
    zmsg_addstr (msg, IRH_PROTO_CLIENT);
    zmsg_addmem (msg, service->data, service->size);
    if (rid->size)
        zmsg_addmem (msg, rid->data, rid->size);
    else
        zmsg_addstr (msg, "?");
    zmsg_addstr (msg, IRH_STATUS_ERR);
    zmsg_addstr (msg, code);
    zmsg_addstr (msg, text);
}

//  --------------------------------------------------------------------------
//  Self test

static int
s_decode_strings (const char **parts, size_t count, irh_envelope_t *env)
{
    irh_frame_view_t views [16];
    assert (count <= 16);
    for (size_t i = 0; i < count; i++) {
        views [i].data = (const uint8_t *) parts [i];
        views [i].size = strlen (parts [i]);
    }
    return irh_envelope_decode (views, count, 0, env);
}

void
irh_envelope_test (bool verbose)
{
    if (verbose)
        printf (" * irh_envelope: ");
    irh_envelope_t env;

    const char *req [] = { "IRC1", "store", "r1", "body" };
    assert (s_decode_strings (req, 4, &env) == 0);
    assert (env.kind == IRH_ENV_CLIENT_REQUEST && env.body == 3);
    assert (env.service.size == 5 && env.rid.size == 2);

    const char *noservice [] = { "IRC1", "Bad!", "r1", "body" };
    assert (s_decode_strings (noservice, 4, &env) == -1);
    assert (streq (env.error_code, "malformed") && env.rid.size == 2);

    const char *short_req [] = { "IRC1", "store", "r1" };
    assert (s_decode_strings (short_req, 3, &env) == -1);
    assert (streq (env.error_code, "malformed") && env.rid.size == 2);

    const char *version [] = { "IRC9", "store", "r7", "x" };
    assert (s_decode_strings (version, 4, &env) == -1);
    assert (streq (env.error_code, "version") && env.rid.size == 2);

    const char *ready [] = { "IRW1", "\x01", "store", "1234" };
    assert (s_decode_strings (ready, 4, &env) == 0);
    assert (env.command == IRH_CMD_READY && env.pid == 1234);
    const char *badpid [] = { "IRW1", "\x01", "store", "12a" };
    assert (s_decode_strings (badpid, 4, &env) == -1);
    const char *token [] = { "IRW1", "\x01", "store", "1234", "abcd" };
    assert (s_decode_strings (token, 5, &env) == 0 && env.token.size == 4);
    const char *emptytoken [] = { "IRW1", "\x01", "store", "1234", "" };
    assert (s_decode_strings (emptytoken, 5, &env) == -1);
    const char *refused [] = { "IRW1", "\x06", "no token" };
    assert (s_decode_strings (refused, 3, &env) == 0 && env.text.size == 8);
    assert (s_decode_strings (refused, 2, &env) == -1);
    assert (irh_envelope_peer_pid ("localhost:0:0:14054") == 14054);
    assert (irh_envelope_peer_pid ("localhost:1000:1000:") == 0);
    assert (irh_envelope_peer_pid ("127.0.0.1") == 0);
    assert (irh_envelope_peer_pid ("x:1:2:99999999999") == 0);
    assert (irh_envelope_peer_pid ("x:1:2:3a") == 0);
    assert (irh_envelope_peer_pid (NULL) == 0);
    const char *stat = "123 (a) b) S 45 123 ...";
    assert (irh_envelope_stat_ppid (stat, strlen (stat)) == 45);
    const char *stat2 = "7 (x) R 1 7";
    assert (irh_envelope_stat_ppid (stat2, strlen (stat2)) == 1);
    assert (irh_envelope_stat_ppid ("7 (x) R 0 7", 11) == 0);
    assert (irh_envelope_stat_ppid ("7 (x) R ", 8) == -1);
    assert (irh_envelope_stat_ppid ("7 (x R 1", 8) == -1);
    assert (irh_envelope_stat_ppid ("7 (x) R 99999999999 ", 20) == -1);
    assert (irh_envelope_stat_ppid (NULL, 0) == -1);

    const char *reply [] = { "IRW1", "\x03", "cli", "r1", "OK", "b" };
    assert (s_decode_strings (reply, 6, &env) == 0 && env.status_ok && env.body == 5);
    const char *errreply [] = { "IRW1", "\x03", "cli", "r1", "ERR", "not-found", "no" };
    assert (s_decode_strings (errreply, 7, &env) == 0 && !env.status_ok);
    const char *badstatus [] = { "IRW1", "\x03", "cli", "r1", "MAYBE" };
    assert (s_decode_strings (badstatus, 5, &env) == -1);

    const char *hb [] = { "IRW1", "\x04" };
    assert (s_decode_strings (hb, 2, &env) == 0 && env.command == IRH_CMD_HEARTBEAT);
    const char *cmd9 [] = { "IRW1", "\x09" };
    assert (s_decode_strings (cmd9, 2, &env) == -1);

    //  Size limit
    irh_frame_view_t views [4] = {
        { (const uint8_t *) "IRC1", 4 }, { (const uint8_t *) "echo", 4 },
        { (const uint8_t *) "r", 1 }, { (const uint8_t *) "0123456789", 10 } };
    assert (irh_envelope_decode (views, 4, 12, &env) == -1);
    assert (streq (env.error_code, "too-big"));
    assert (irh_envelope_decode (views, 4, 19, &env) == 0);
    assert (irh_envelope_decode (NULL, 0, 0, &env) == -1);

    //  Client replies
    const char *creply [] = { "IRC1", "store", "r1", "ERR", "not-found", "gone" };
    irh_frame_view_t cviews [6];
    for (size_t i = 0; i < 6; i++) {
        cviews [i].data = (const uint8_t *) creply [i];
        cviews [i].size = strlen (creply [i]);
    }
    assert (irh_envelope_decode_reply (cviews, 6, &env) == 0 && !env.status_ok);
    assert (irh_envelope_decode_reply (cviews, 5, &env) == -1);

    //  An error reply built here decodes as one; an unreadable rid is "?";
    //  views stop at capacity.
    zmsg_t *msg = zmsg_new ();
    irh_frame_view_t service = { (const uint8_t *) "store", 5 }, norid = { NULL, 0 };
    irh_envelope_add_error (msg, &service, &norid, "malformed", "bad");
    assert (zmsg_size (msg) == 6);
    assert (irh_envelope_views (msg, cviews, 6) == 6);
    assert (irh_envelope_decode_reply (cviews, 6, &env) == 0 && !env.status_ok);
    assert (env.rid.size == 1 && env.rid.data [0] == '?');
    assert (env.service.size == 5 && memcmp (env.service.data, "store", 5) == 0);
    assert (irh_envelope_views (msg, cviews, 4) == 4);
    assert (cviews [3].size == 3 && memcmp (cviews [3].data, "ERR", 3) == 0);
    zmsg_destroy (&msg);

    if (verbose)
        printf ("OK\n");
}
