/*  fuzz_peer.c: libFuzzer target for the peer protocol's input path as a
    member sees it: the input is one packet (compound framing of
    proto/peer.def messages) handed to swim_on_message of a node that
    knows a few members, so the framing, every peer decoder and the merge
    rules (alive / suspect / dead / push-pull) all run on hostile bytes.
    The first input byte picks the sender (a known member or a stranger).
    Nothing may crash, leak or trip an assert; then a few ticks must run
    clean on whatever state the packet left behind.
*/
#include "swim.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    int64_t now;
    size_t sent;
} s_host_t;

static void
s_send (void *arg, const uint8_t *to_id, const char *to_address, const uint8_t *data,
        size_t size)
{
    assert (to_id || to_address);
    assert (data && size > 0);
    ((s_host_t *) arg)->sent++;
}

static int64_t
s_now (void *arg)
{
    return ((s_host_t *) arg)->now;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    s_host_t host = { .now = 5000 };
    swim_host_t callbacks = { .send = s_send, .now = s_now, .arg = &host };
    swim_config_t config;
    swim_config_default (&config);
    swim_node_t node;
    memset (&node, 0, sizeof (node));
    snprintf (node.address, sizeof (node.address), "tcp://198.18.0.1:7470");
    swim_t *swim = swim_new (&node, &config, &callbacks);
    //  Members with ids 0x01.., 0x02.., 0x03.. (ours is all zero).
    for (uint8_t i = 1; i <= 3; i++) {
        memset (node.id, i, sizeof (node.id));
        snprintf (node.address, sizeof (node.address), "tcp://198.18.0.%u:7470", i);
        swim_add_member (swim, &node, i);
    }
    uint8_t from [SWIM_ID_SIZE];
    memset (from, data [0] % 5, sizeof (from));
    swim_on_message (swim, from, data + 1, size - 1);
    for (int i = 0; i < 4; i++) {
        host.now += 700;
        swim_tick (swim, host.now);
    }
    assert (swim_size (swim) <= SWIM_MEMBERS_MAX);
    swim_destroy (&swim);
    return 0;
}
