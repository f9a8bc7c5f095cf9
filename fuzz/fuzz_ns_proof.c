/*  fuzz_ns_proof.c: libFuzzer target for peer_ns_proof as the gossip
    actor takes it (actors/gossip/gossip_ns.c, gossip_ns_proof_in): the
    membership proofs of namespaces with a secret, from any peer.

    Input: one byte choosing the sender among three node ids, then the
    frame. This node holds one namespace with a secret ("team", the test
    vector's secret). Property: the sender becomes a member exactly when
    the frame decodes and carries its true pairwise tag (computed by a
    second gossip_ns whose node id is the sender's, so the tag's
    definition stays in one place); nothing else grants membership. */
#include "gossip_ns.h"
#include "irh_msgs.h"
#include "irh_nssecret.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_SENDERS 3

static gossip_ns_t *s_self;
static gossip_ns_t *s_sender [S_SENDERS];
static uint8_t s_ids [S_SENDERS][32];
static const uint8_t s_self_id [32] = { 0x11, 0x11, 0x11 };
static char s_id_hex [IRH_NS_ID_HEX + 1];

static void
s_setup (void)
{
    char dir [] = "/tmp/fuzz_ns_proof.XXXXXX";
    assert (mkdtemp (dir));
    irh_ns_token_t token;
    memset (&token, 0, sizeof token);
    snprintf (token.name, sizeof token.name, "team");
    for (int i = 0; i < IRH_NS_SECRET_BYTES; i++)
        token.secret [i] = (uint8_t) i;
    char *err = NULL;
    assert (irh_ns_file_save (dir, &token, &err) == 0);
    irh_ns_keys_t keys;
    irh_ns_keys_derive (token.secret, token.name, &keys);
    memcpy (s_id_hex, keys.id_hex, sizeof s_id_hex);
    irh_ns_keys_wipe (&keys);
    s_self = gossip_ns_new (dir, s_self_id);
    for (int i = 0; i < S_SENDERS; i++) {
        memset (s_ids [i], 0x20 + i, 32);
        s_sender [i] = gossip_ns_new (dir, s_ids [i]);
    }
    //  A known peer: replays of its pairs are told from noise.
    gossip_ns_member_event (s_self, s_ids [2], NULL, true);
    //  Keys are in memory now; the files are not needed.
    char path [600];
    snprintf (path, sizeof path, "%s/%s.ns", dir, s_id_hex);
    unlink (path);
    rmdir (dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_self)
        s_setup ();
    if (size < 1)
        return 0;
    int who = data [0] % S_SENDERS;
    const uint8_t *from = s_ids [who];
    data++;
    size--;
    bool ask = true;
    int rc = gossip_ns_proof_in (s_self, from, data, size, &ask);
    //  What a member of the namespace would have sent.
    uint8_t tag [GOSSIP_NS_AUTH];
    assert (gossip_ns_proof (s_sender [who], s_id_hex, s_self_id, tag) == GOSSIP_NS_AUTH);
    bool carried = false;
    irh_peer_ns_proof_t msg;
    if (irh_peer_ns_proof_decode_buf (data, size, &msg) == 0 && msg.tags_size % 32 == 0)
        for (size_t i = 0; i < msg.tags_size; i += 32)
            carried |= memcmp (msg.tags + i, tag, 32) == 0;
    assert (rc == 0 || !ask);
    assert (gossip_ns_member (s_self, s_id_hex, from) == carried);
    assert (gossip_ns_member (s_self, "team", from));          //  a name: public
    //  Forget it again: the next input starts from "not a member".
    gossip_ns_member_event (s_self, from, NULL, false);
    if (who == 2)
        gossip_ns_member_event (s_self, from, NULL, true);
    return 0;
}
