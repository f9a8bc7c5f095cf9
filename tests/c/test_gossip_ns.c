//  Tests of the rules where a namespace meets the wire
//  (actors/gossip/gossip_ns.c), with a real secret file: the pinned
//  vectors of key blinding and of the pairwise membership proof (which
//  pyclient and tests/cluster/test_private_ns.py recompute with hashlib),
//  wire names, who may see what, proofs accepted, replayed, reflected or
//  forged, manifest MACs, and the counters.
#include "gossip_ns.h"
#include "irh_hash.h"
#include "irh_msgs.h"
#include "irh_nssecret.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Vectors (proto/keys.md, "Namespaces with a secret"): secret 00 01 .. 1f,
//  name "team".
#define S_ID    "81305aef82bc3daaaaaca3ffe7ef1902d28bb2068414ff287251843d4cf74694"
#define S_BLIND "9ef5ef78c1b62bcc6053da2fa8c866f6a1a8b781d61abc0a8147cc4e09dfd478"
#define S_PROOF "dd8ed43bf86f58638e97db8257b9f7aa9bd16ebb753a058c479070128d63735e"

static uint64_t
s_stat (gossip_ns_t *ns, const char *name)
{
    irh_table_t *table = irh_table_new ("name:s\tvalue:u");
    assert (table);
    gossip_ns_stats (ns, table);
    uint64_t value = UINT64_MAX;
    for (size_t row = 0; row < irh_table_rows (table); row++)
        if (strcmp (irh_table_get (table, row, "name"), name) == 0)
            value = strtoull (irh_table_get (table, row, "value"), NULL, 10);
    irh_table_destroy (&table);
    assert (value != UINT64_MAX);
    return value;
}

static zframe_t *
s_proof (const uint8_t *tags, size_t size, uint8_t flags)
{
    irh_peer_ns_proof_t msg = { .flags = flags, .tags = tags, .tags_size = size };
    zframe_t *frame = irh_peer_ns_proof_encode (&msg);
    assert (frame);
    return frame;
}

static int
s_proof_in (gossip_ns_t *ns, const uint8_t *from, const uint8_t *tags, size_t size)
{
    zframe_t *frame = s_proof (tags, size, 1);
    bool ask = false;
    int rc = gossip_ns_proof_in (ns, from, zframe_data (frame), zframe_size (frame), &ask);
    assert (rc != 0 || ask);
    zframe_destroy (&frame);
    return rc;
}

int
main (void)
{
    char dir [] = "/tmp/test_gossip_ns.XXXXXX";
    assert (mkdtemp (dir));
    irh_ns_token_t token;
    memset (&token, 0, sizeof token);
    snprintf (token.name, sizeof token.name, "team");
    for (int i = 0; i < IRH_NS_SECRET_BYTES; i++)
        token.secret [i] = (uint8_t) i;
    char *err = NULL;
    assert (irh_ns_file_save (dir, &token, &err) == 0);

    uint8_t a_id [32], b_id [32], c_id [32];
    memset (a_id, 0x11, 32);
    memset (b_id, 0x22, 32);
    memset (c_id, 0x33, 32);
    gossip_ns_t *a = gossip_ns_new (dir, a_id);
    gossip_ns_t *b = gossip_ns_new (dir, b_id);
    gossip_ns_t *c = gossip_ns_new (NULL, c_id);           //  no secret
    assert (s_stat (a, "ns_secrets") == 1 && s_stat (c, "ns_secrets") == 0);

    //  The client's lookup (one implementation of files and schedule).
    uint8_t id [32], blind [32];
    char error [256];
    assert (irh_ns_lookup (dir, "team", id, blind, error, sizeof error) == 1);
    assert (irh_ns_lookup (dir, "other", id, blind, error, sizeof error) == 0);
    char hex [65];
    irh_hash_hex (id, hex);
    assert (strcmp (hex, S_ID) == 0);

    //  Wire names: the id is the local and the wire name; a name, even a
    //  secret namespace's, is a public namespace on the wire. Keys travel
    //  as stored (the client blinded them: vector).
    char wire [GOSSIP_NS_WIRE_MAX];
    gossip_ns_wire (a, "team", wire);
    assert (strcmp (wire, "team") == 0);
    gossip_ns_wire (a, S_ID, wire);
    assert (strcmp (wire, S_ID) == 0);
    gossip_ns_wire (a, "public", wire);
    assert (strcmp (wire, "public") == 0);
    assert (gossip_ns_secret (a, "team") && gossip_ns_secret (a, S_ID));
    assert (!gossip_ns_secret (a, "public") && !gossip_ns_secret (c, S_ID));
    assert (strcmp (gossip_ns_name (a, S_ID), "team") == 0);
    uint8_t key [32], out [32];
    memset (key, 0x42, 32);
    irh_ns_keys_t keys;
    irh_ns_keys_derive (token.secret, "team", &keys);
    irh_ns_blind (&keys, key, out);
    irh_hash_hex (out, hex);
    assert (strcmp (hex, S_BLIND) == 0);
    irh_ns_keys_wipe (&keys);
    gossip_ns_key_out (a, S_ID, key, out);
    assert (memcmp (out, key, 32) == 0);

    //  The pairwise proof A -> B (vector), and nothing for a public one.
    uint8_t tag [32];
    assert (gossip_ns_proof (a, S_ID, b_id, tag) == GOSSIP_NS_AUTH);
    irh_hash_hex (tag, hex);
    assert (strcmp (hex, S_PROOF) == 0);
    assert (gossip_ns_proof (a, "public", b_id, tag) == 0);
    assert (gossip_ns_proof (a, "team", b_id, tag) == 0);
    assert (gossip_ns_proof (a, S_ID, b_id, tag) == GOSSIP_NS_AUTH);

    //  Before any proof: public namespaces are everyone's, the secret one
    //  no one's. Its name is a public namespace on the wire (accepted like
    //  any name), but what this node stored under it (not blinded) is
    //  never visible. Requests for the id are refused and counted.
    char ns [GOSSIP_NS_WIRE_MAX];
    assert (gossip_ns_visible (a, "public", c_id) && gossip_ns_member (a, "public", c_id));
    assert (!gossip_ns_visible (a, S_ID, b_id) && !gossip_ns_member (a, S_ID, b_id));
    assert (gossip_ns_member (a, S_ID, a_id));
    assert (gossip_ns_accept (a, "public", c_id, NULL, 0, ns) == 0 && strcmp (ns, "public") == 0);
    assert (gossip_ns_accept (a, S_ID, b_id, NULL, 0, ns) == -1);
    assert (gossip_ns_accept (a, "team", c_id, NULL, 0, ns) == 0 && strcmp (ns, "team") == 0);
    assert (gossip_ns_member (a, "team", c_id) && !gossip_ns_visible (a, "team", c_id));
    assert (gossip_ns_accept (a, "public", c_id, tag, 32, ns) == -1);
    assert (s_stat (a, "ns_refused") == 2);

    //  B proves it to A: B's tag for A, on B's link.
    gossip_ns_member_event (a, b_id, NULL, true);
    gossip_ns_member_event (a, c_id, NULL, true);
    uint8_t b_to_a [32];
    assert (gossip_ns_proof (b, S_ID, a_id, b_to_a) == 32);
    //  Sent by C (copied): a replay, counted, no membership.
    assert (s_proof_in (a, c_id, b_to_a, 32) == 0);
    assert (!gossip_ns_member (a, S_ID, c_id) && s_stat (a, "ns_bad_proofs") == 1);
    //  A's own tag for B, reflected by B: counted, no membership.
    uint8_t a_to_b [32];
    gossip_ns_proof (a, S_ID, b_id, a_to_b);
    assert (s_proof_in (a, b_id, a_to_b, 32) == 0);
    assert (!gossip_ns_member (a, S_ID, b_id) && s_stat (a, "ns_bad_proofs") == 2);
    //  Random: matches nothing, counted apart.
    uint8_t noise [64];
    memset (noise, 0x5a, sizeof noise);
    assert (s_proof_in (a, c_id, noise, 32) == 0 && s_stat (a, "ns_proofs_unmatched") == 1);
    //  Malformed: not a multiple of 32.
    assert (s_proof_in (a, b_id, noise, 31) == -1 && s_stat (a, "ns_bad_proofs") == 3);
    //  The real one, among noise.
    memcpy (noise + 32, b_to_a, 32);
    assert (s_proof_in (a, b_id, noise, 64) == 0);
    assert (gossip_ns_member (a, S_ID, b_id));
    assert (gossip_ns_visible (a, S_ID, b_id) && !gossip_ns_visible (a, "team", b_id));
    assert (!gossip_ns_member (a, S_ID, c_id));
    assert (s_stat (a, "ns_members") == 1);
    assert (gossip_ns_accept (a, S_ID, b_id, NULL, 0, ns) == 0 && strcmp (ns, S_ID) == 0);
    //  A request that carries its own proof (claims) is accepted too.
    uint8_t b_to_c [32];
    gossip_ns_proof (b, S_ID, c_id, b_to_c);
    gossip_ns_t *c2 = gossip_ns_new (dir, c_id);
    assert (gossip_ns_accept (c2, S_ID, b_id, b_to_c, 32, ns) == 0);
    assert (gossip_ns_member (c2, S_ID, b_id));
    assert (gossip_ns_accept (c2, S_ID, a_id, b_to_c, 32, ns) == -1);   //  not A's
    gossip_ns_destroy (&c2);
    //  Gone: its proof goes with it.
    gossip_ns_member_event (a, b_id, NULL, false);
    assert (!gossip_ns_member (a, S_ID, b_id) && s_stat (a, "ns_members") == 0);

    //  Manifest MACs: made by one member, checked by another; any change
    //  of key, record or namespace fails; public ones carry none.
    uint8_t record [100], mac [32];
    memset (record, 7, sizeof record);
    assert (gossip_ns_manifest_tag (a, S_ID, key, record, sizeof record, mac) == 32);
    assert (gossip_ns_manifest_check (b, S_ID, key, record, sizeof record, mac, 32) == 0);
    record [5] ^= 1;
    assert (gossip_ns_manifest_check (b, S_ID, key, record, sizeof record, mac, 32) == -1);
    record [5] ^= 1;
    key [0] ^= 1;
    assert (gossip_ns_manifest_check (b, S_ID, key, record, sizeof record, mac, 32) == -1);
    key [0] ^= 1;
    assert (gossip_ns_manifest_check (b, S_ID, key, record, sizeof record, mac, 0) == -1);
    assert (gossip_ns_manifest_tag (a, "public", key, record, sizeof record, mac) == 0);
    assert (gossip_ns_manifest_check (a, "public", key, record, sizeof record, NULL, 0) == 0);
    assert (gossip_ns_manifest_check (a, "public", key, record, sizeof record, mac, 32) == -1);

    //  A secret file with unsafe permissions: the lookup says why, and the
    //  client refuses (never public).
    char path [600];
    snprintf (path, sizeof path, "%s/%s.ns", dir, S_ID);
    assert (chmod (path, 0644) == 0);
    assert (irh_ns_lookup (dir, "team", id, blind, error, sizeof error) == -1);
    printf ("  refused: %s\n", error);
    assert (strstr (error, "0644") && strstr (error, "chmod"));
    assert (irh_ns_lookup (dir, "other", id, blind, error, sizeof error) == -1);
    gossip_ns_t *refusing = gossip_ns_new (dir, a_id);
    assert (s_stat (refusing, "ns_secrets") == 0 && s_stat (refusing, "ns_secrets_refused") == 1);
    gossip_ns_destroy (&refusing);

    gossip_ns_destroy (&a);
    gossip_ns_destroy (&b);
    gossip_ns_destroy (&c);
    assert (!a);
    unlink (path);
    rmdir (dir);
    printf ("test_gossip_ns: OK\n");
    return 0;
}
