/*  irh_msign.c: canonical bytes, signing and checking of result manifests.
    The layout of the canonical string is in proto/store-layout.md
    ("Signatures"), with a golden vector that tests/c/test_msign.c checks.
    Cost (libsodium, a 248-byte string, measured on the 2-core test
    machine under load): one signature, ~30 us, per manifest served; one
    verification, ~75 us, per manifest answer before a fetch.
*/
#include "irh_msign.h"
#include "irh_wire.h"
#include <assert.h>
#include <string.h>

static bool
s_zero (const uint8_t *p, size_t size)
{
    uint8_t any = 0;
    for (size_t i = 0; i < size; i++)
        any |= p [i];
    return any == 0;
}

size_t
irh_msign_canonical (const uint8_t key [32], const irh_manifest_t *m, uint8_t *buf)
{
    assert (key && m && buf);
    uint8_t *p = buf;
    memcpy (p, IRH_MSIGN_DOMAIN, sizeof IRH_MSIGN_DOMAIN);     //  with its NUL
    p += sizeof IRH_MSIGN_DOMAIN;
    memcpy (p, key, 32);            p += 32;
    memcpy (p, m->blob, 32);        p += 32;
    p = irh_wire_put_u64 (p, m->size);
    p = irh_wire_put_str (p, m->codec);
    p = irh_wire_put_str (p, m->fn);
    p = irh_wire_put_str (p, m->ns);
    p = irh_wire_put_u64 (p, m->created_us);
    p = irh_wire_put_u64 (p, m->flops);
    p = irh_wire_put_u64 (p, m->mem_bytes);
    p = irh_wire_put_u64 (p, m->peak_mem);
    p = irh_wire_put_u64 (p, m->result_bytes);
    p = irh_wire_put_u64 (p, m->wall_us);
    p = irh_wire_put_u64 (p, m->cpu_us);
    p = irh_wire_put_u64 (p, m->rss_growth);
    memcpy (p, m->origin, 32);      p += 32;
    memcpy (p, m->sign_key, 32);    p += 32;
    //  Only bit 0 (FileRef) describes the result; local_only is a local choice.
    p = irh_wire_put_u32 (p, m->flags & 1U);
    size_t size = (size_t) (p - buf);
    assert (size <= IRH_MSIGN_CANONICAL_MAX);
    return size;
}

bool
irh_msign_present (const irh_manifest_t *m)
{
    assert (m);
    return !s_zero (m->sign_key, 32);
}

void
irh_msign_sign (irh_identity_t *identity, const uint8_t key [32], irh_manifest_t *m)
{
    assert (identity && key && m);
    memcpy (m->origin, irh_identity_curve_public (identity), 32);
    memcpy (m->sign_key, irh_identity_sign_public (identity), 32);
    uint8_t buf [IRH_MSIGN_CANONICAL_MAX], sig [IRH_SIGNATURE_BYTES];
    size_t size = irh_msign_canonical (key, m, buf);
    irh_identity_sign (identity, buf, size, sig);
    memcpy (m->sig_r, sig, 32);
    memcpy (m->sig_s, sig + 32, 32);
}

int
irh_msign_verify (const uint8_t key [32], const irh_manifest_t *m)
{
    assert (key && m);
    if (s_zero (m->origin, 32) || !irh_msign_present (m))
        return -1;
    uint8_t buf [IRH_MSIGN_CANONICAL_MAX], sig [IRH_SIGNATURE_BYTES];
    size_t size = irh_msign_canonical (key, m, buf);
    memcpy (sig, m->sig_r, 32);
    memcpy (sig + 32, m->sig_s, 32);
    return irh_identity_verify (m->sign_key, buf, size, sig);
}
