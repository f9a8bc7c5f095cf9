/*  fuzz_broker.c: libFuzzer target for the broker's envelope decoder
    (common/irh_envelope.c), the first code to touch anything a client or
    worker sends to the broker or to a standalone actor.

    Input layout: the fuzz bytes are cut into frames, each preceded by a
    one-byte length (a length past the end takes the rest), so the fuzzer
    can shape frame lists freely. Both the request/worker decoder and the
    client-side reply decoder run on the same frames; on success the views
    they return must lie inside the input. The same bytes, as a string,
    also go through the peer-pid parser the broker runs on ZeroMQ's
    Peer-Address property, and the parent-pid parser it runs on
    /proc/PID/stat (whose comm field a process chooses itself).
*/
#include "irh_envelope.h"
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FRAMES_MAX 64

static void
s_check_view (const irh_frame_view_t *view, const uint8_t *data, size_t size)
{
    if (view->size == 0)
        return;
    assert (view->data >= data && view->data + view->size <= data + size);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    irh_frame_view_t frames [FRAMES_MAX];
    size_t count = 0;
    size_t pos = 0;
    while (pos < size && count < FRAMES_MAX) {
        size_t len = data [pos++];
        if (len > size - pos)
            len = size - pos;
        frames [count].data = data + pos;
        frames [count].size = len;
        count++;
        pos += len;
    }
    irh_envelope_t env;
    //  A small limit too, so the too-big path is reached.
    uint64_t limits [2] = { 0, 64 };
    for (int i = 0; i < 2; i++) {
        int rc = irh_envelope_decode (frames, count, limits [i], &env);
        if (rc == 0) {
            assert (env.kind == IRH_ENV_CLIENT_REQUEST || env.kind == IRH_ENV_WORKER);
            assert (env.body <= count);
            s_check_view (&env.service, data, size);
            s_check_view (&env.rid, data, size);
            s_check_view (&env.client, data, size);
            s_check_view (&env.token, data, size);
            s_check_view (&env.text, data, size);
            assert (env.token.size <= IRH_TOKEN_SIZE);
            if (env.kind == IRH_ENV_CLIENT_REQUEST) {
                assert (irh_envelope_service_valid (env.service.data, env.service.size));
                assert (env.rid.size >= 1 && env.rid.size <= IRH_RID_MAX);
            }
        }
        else {
            assert (env.error_code);
            assert (strlen (env.error_text) < sizeof env.error_text);
            assert (env.rid.size <= IRH_RID_MAX);
        }
    }
    if (irh_envelope_decode_reply (frames, count, &env) == 0) {
        assert (env.body == 4 && count >= 4);
        s_check_view (&env.rid, data, size);
    }
    char *text = (char *) malloc (size + 1);
    assert (text);
    memcpy (text, data, size);
    text [size] = 0;
    uint32_t pid = irh_envelope_peer_pid (text);
    assert (pid == 0 || strchr (text, ':'));
    int64_t ppid = irh_envelope_stat_ppid ((const char *) data, size);
    assert (ppid == -1 || (ppid <= UINT32_MAX && memchr (data, ')', size)));
    free (text);
    return 0;
}
