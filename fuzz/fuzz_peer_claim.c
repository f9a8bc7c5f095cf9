/*  fuzz_peer_claim.c: libFuzzer target for the checks of claims across
    machines (actors/gossip/gossip_lease_check.c): every peer_claim_want
    a peer sends to the arbiter and every peer_claim an arbiter answers
    goes through its decoder and then gossip_lease_want_check or
    gossip_lease_answer_check before anything uses it. The input is one
    frame; its first byte picks the message, and for an answer two more
    bytes give the keys asked and the want the asker would have sent.
    Whatever the checks accept must stay inside the limits the arbiter
    and the merge rely on. */
#include "gossip_lease.h"
#include <assert.h>
#include <string.h>

static void
s_want (const uint8_t *data, size_t size)
{
    irh_peer_claim_want_t want;
    if (irh_peer_claim_want_decode_buf (data, size, &want) != 0)
        return;
    const char *why = NULL;
    if (gossip_lease_want_check (&want, &why) != 0) {
        assert (why && *why);
        return;
    }
    assert (want.kind <= 1 && (want.flags & ~3u) == 0 && want.flags != 2);
    assert (want.keys_size % 32 == 0 && want.keys_size / 32 <= GOSSIP_LEASE_KEYS_MAX);
    assert (want.done_size % 32 == 0 && want.done_size / 32 <= GOSSIP_LEASE_DONE_MAX);
    size_t len = strlen (want.holder);
    assert (len <= GOSSIP_LEASE_HOLDER_MAX);
    for (size_t i = 0; i < len; i++)
        assert (want.holder [i] > 0x20 && want.holder [i] < 0x7f);
    assert (len || (want.want == 0 && want.done_size == 0 && !(want.flags & 1)));
}

static void
s_answer (const uint8_t *data, size_t size, size_t keys, uint32_t wanted)
{
    irh_peer_claim_t answer;
    if (irh_peer_claim_decode_buf (data, size, &answer) != 0)
        return;
    const char *why = NULL;
    if (gossip_lease_answer_check (&answer, keys, wanted, &why) != 0) {
        assert (why && *why);
        return;
    }
    size_t n = answer.states_size;
    if (answer.status != 0) {
        //  A refusal carries no states, and is one of the known statuses.
        assert (answer.status >= 2 && answer.status <= 4 && n == 0);
        assert (answer.expires_size == 0 && answer.nodes_size == 0);
        return;
    }
    assert (n <= keys && answer.expires_size == 8 * n && answer.nodes_size == 32 * n);
    uint32_t granted = 0;
    for (size_t i = 0; i < n; i++) {
        assert (answer.states [i] <= 3);
        granted += answer.states [i] == 0;
    }
    assert (granted <= wanted);
    assert (n == keys || (wanted && granted == wanted));
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    if (data [0] & 1)
        s_want (data + 1, size - 1);
    else
        s_answer (data + 3, size - 3, data [1], data [2] % 4);
    return 0;
}
