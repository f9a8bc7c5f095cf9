/*  irh_msign.h: signatures of result manifests (proto/store-layout.md,
    "Signatures"; docs/security.md, "Signed results").

    A manifest record names its producer (origin, the node id that
    computed it) and carries the producer's Ed25519 public key (sign_key)
    and signature (sig_r, sig_s) of a canonical byte string: the domain
    "irohds manifest v1", the result key and every field that describes
    the result and never changes where it is stored. accessed_us,
    expires_us and the local_only flag are left out (each store changes
    them); the key is in, so a signature cannot be moved to another key.

    One definition for everyone: the gossip actor signs its own results
    when it serves them and checks peers' before a fetch, the store checks
    an ingest again, the tests check the golden vector.
*/
#ifndef IRH_MSIGN_H_INCLUDED
#define IRH_MSIGN_H_INCLUDED
#include "irh_identity.h"
#include "irh_msgs.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IRH_MSIGN_DOMAIN        "irohds manifest v1"
//  Longest canonical string: domain + NUL, fixed fields, the three strings at their limits.
#define IRH_MSIGN_CANONICAL_MAX (19 + 32 + 32 + 8 + 2 + IRH_MANIFEST_CODEC_MAX + 2 \
                                 + IRH_MANIFEST_FN_MAX + 2 + IRH_MANIFEST_NS_MAX + 8 * 8 \
                                 + 32 + 32 + 4)

//  The canonical bytes of manifest m under result key into buf (at least
//  IRH_MSIGN_CANONICAL_MAX bytes); returns their length.
size_t irh_msign_canonical (const uint8_t key [32], const irh_manifest_t *m, uint8_t *buf);

//  True if m carries a signature at all (sign_key not all zeros).
bool irh_msign_present (const irh_manifest_t *m);

//  Make m this node's signed record: origin = identity's node id,
//  sign_key = its Ed25519 public key, sig = signature of the canonical bytes.
void irh_msign_sign (irh_identity_t *identity, const uint8_t key [32], irh_manifest_t *m);

//  0 if m names a producer (origin not zeros) and carries a valid
//  signature of key and its fields under its own sign_key; else -1. What
//  binds sign_key to origin is the caller's business (the producer's
//  hello, docs/security.md).
int irh_msign_verify (const uint8_t key [32], const irh_manifest_t *m);

#endif
