/*  test_msign.c: signed manifests (common/irh_msign.c).

    The golden vector of proto/store-layout.md ("Signatures"): a fixed
    Ed25519 seed, key and manifest give exactly the documented canonical
    bytes (their BLAKE3-256) and signature, so another implementation can
    check itself against it. Then: every signed field, changed, breaks the
    signature; the fields each store changes (accessed_us, expires_us, the
    local_only flag) do not; a signature does not move to another key; an
    unsigned record or one without a producer never verifies; a node's own
    identity signs records that verify and name it.
*/
#include "irh_hash.h"
#include "irh_msign.h"
#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  The vector (proto/store-layout.md).
#define GOLDEN_CANONICAL_SIZE   248
#define GOLDEN_CANONICAL_HASH   "8bef1f018043c68aa4b3b647f5451a0832623e8c7d8029187553249cb05edf7d"
#define GOLDEN_SIGNATURE        "5cd1b708558fec8391309dc8a7b0caa2a429b55cd0eda912d964e933c8e2684f" \
                                "ef8845ee57af03acae3480ca9a25421c1dc5d09f48e745f4177825d5c872090d"

static void
s_hex (const uint8_t *data, size_t size, char *out)
{
    for (size_t i = 0; i < size; i++)
        sprintf (out + 2 * i, "%02x", data [i]);
}

//  The vector's manifest, signed with the seed 00 01 .. 1f.
static void
s_golden (uint8_t key [32], irh_manifest_t *m, uint8_t secret [64])
{
    uint8_t seed [32], public_key [32];
    for (int i = 0; i < 32; i++)
        seed [i] = (uint8_t) i;
    crypto_sign_seed_keypair (public_key, secret, seed);
    memset (key, 0x11, 32);
    memset (m, 0, sizeof *m);
    memset (m->blob, 0x22, 32);
    m->size = 1234;
    strcpy (m->codec, "pickle5");
    strcpy (m->fn, "pkg.mod.f");
    strcpy (m->ns, "lab");
    m->created_us = 1700000000000000ULL;
    m->accessed_us = 1700000000500000ULL;
    m->expires_us = 0;
    m->flops = 1000000000ULL;
    m->mem_bytes = 1 << 20;
    m->peak_mem = 1 << 21;
    m->result_bytes = 1234;
    m->wall_us = 1500000;
    m->cpu_us = 1400000;
    m->rss_growth = 4096;
    memset (m->origin, 0x33, 32);
    memcpy (m->sign_key, public_key, 32);
    m->flags = 1;
    uint8_t buf [IRH_MSIGN_CANONICAL_MAX], sig [64];
    size_t size = irh_msign_canonical (key, m, buf);
    crypto_sign_detached (sig, NULL, buf, size, secret);
    memcpy (m->sig_r, sig, 32);
    memcpy (m->sig_s, sig + 32, 32);
}

static void
s_test_golden (void)
{
    uint8_t key [32], secret [64];
    irh_manifest_t m;
    s_golden (key, &m, secret);
    uint8_t buf [IRH_MSIGN_CANONICAL_MAX], hash [32];
    size_t size = irh_msign_canonical (key, &m, buf);
    irh_blake3 (buf, size, hash);
    char hash_hex [65], sig_hex [129];
    uint8_t sig [64];
    memcpy (sig, m.sig_r, 32);
    memcpy (sig + 32, m.sig_s, 32);
    s_hex (hash, 32, hash_hex);
    s_hex (sig, 64, sig_hex);
    printf ("canonical %zu bytes, BLAKE3 %s\nsignature %s\n", size, hash_hex, sig_hex);
    fflush (stdout);
    assert (memcmp (buf, "irohds manifest v1\0", 19) == 0);
    assert (size == GOLDEN_CANONICAL_SIZE);
    assert (streq (hash_hex, GOLDEN_CANONICAL_HASH));
    assert (streq (sig_hex, GOLDEN_SIGNATURE));
    assert (irh_msign_present (&m));
    assert (irh_msign_verify (key, &m) == 0);
}

//  Each signed field changed: the signature no longer holds. Local fields
//  changed: it still does.
static void
s_test_fields (void)
{
    uint8_t key [32], secret [64];
    irh_manifest_t good, m;
    s_golden (key, &good, secret);
    int broken = 0;
    for (int field = 0; field < 18; field++) {
        m = good;
        switch (field) {
            case 0: m.blob [31] ^= 1; break;
            case 1: m.size++; break;
            case 2: strcpy (m.codec, "raw"); break;
            case 3: strcpy (m.fn, "pkg.mod.g"); break;
            case 4: strcpy (m.ns, "lab2"); break;
            case 5: m.created_us++; break;
            case 6: m.flops++; break;
            case 7: m.mem_bytes++; break;
            case 8: m.peak_mem++; break;
            case 9: m.result_bytes++; break;
            case 10: m.wall_us++; break;
            case 11: m.cpu_us++; break;
            case 12: m.rss_growth++; break;
            case 13: m.origin [0] ^= 0x80; break;
            case 14: m.sign_key [5] ^= 1; break;
            case 15: m.flags ^= 1; break;
            case 16: m.sig_r [0] ^= 1; break;
            case 17: m.sig_s [31] ^= 0x40; break;
        }
        assert (irh_msign_verify (key, &m) == -1);
        broken++;
    }
    assert (broken == 18);
    m = good;
    m.accessed_us += 1000;
    m.expires_us = 1800000000000000ULL;
    m.flags |= 2;
    assert (irh_msign_verify (key, &m) == 0);
    //  Another key: the signature does not move.
    uint8_t other [32];
    memcpy (other, key, 32);
    other [0] ^= 1;
    assert (irh_msign_verify (other, &good) == -1);
    //  Unsigned, or no producer: never valid.
    m = good;
    memset (m.sign_key, 0, 32);
    assert (!irh_msign_present (&m) && irh_msign_verify (key, &m) == -1);
    m = good;
    memset (m.origin, 0, 32);
    assert (irh_msign_verify (key, &m) == -1);
    //  Canonical bytes at the field limits fit the bound.
    m = good;
    memset (m.codec, 'c', IRH_MANIFEST_CODEC_MAX);
    m.codec [IRH_MANIFEST_CODEC_MAX] = 0;
    memset (m.fn, 'f', IRH_MANIFEST_FN_MAX);
    m.fn [IRH_MANIFEST_FN_MAX] = 0;
    memset (m.ns, 'n', IRH_MANIFEST_NS_MAX);
    m.ns [IRH_MANIFEST_NS_MAX] = 0;
    uint8_t buf [IRH_MSIGN_CANONICAL_MAX];
    assert (irh_msign_canonical (key, &m, buf) == IRH_MSIGN_CANONICAL_MAX);
}

//  A node's identity signs its own records: they name it and verify; the
//  record survives its encoding (what travels and what the store keeps).
static void
s_test_identity (void)
{
    char home [] = "/tmp/test_msign_XXXXXX";
    assert (mkdtemp (home));
    char *err = NULL;
    irh_identity_t *identity = irh_identity_load_or_create (home, &err);
    assert (identity);
    uint8_t key [32], secret [64];
    irh_manifest_t m;
    s_golden (key, &m, secret);
    memset (m.origin, 0, 32);
    memset (m.sign_key, 0, 32);
    irh_msign_sign (identity, key, &m);
    assert (memcmp (m.origin, irh_identity_curve_public (identity), 32) == 0);
    assert (memcmp (m.sign_key, irh_identity_sign_public (identity), 32) == 0);
    assert (irh_msign_verify (key, &m) == 0);
    uint8_t record [IRH_PEER_MANIFEST_MANIFEST_MAX];
    size_t size = irh_manifest_encode_buf (&m, record, sizeof record);
    irh_manifest_t back;
    assert (size && irh_manifest_decode_buf (record, size, &back) == 0);
    assert (irh_msign_verify (key, &back) == 0);
    //  A format-1 record (no signature fields) does not decode as format 2.
    assert (irh_manifest_decode_buf (record, size - 96, &back) == -1);
    irh_identity_destroy (&identity);
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", home);
    assert (system (command) == 0);
}

int
main (void)
{
    assert (sodium_init () >= 0);
    s_test_golden ();
    s_test_fields ();
    s_test_identity ();
    printf ("test_msign: OK\n");
    return 0;
}
