/*  fuzz_manifest_peek.c: libFuzzer target for the store's fast manifest
    reader (store_dbi_manifest_peek, actors/store/store_digest.c), which
    reads only a manifest record's namespace and flags when the store
    builds its key digests at open.

    A key must be in a digest exactly when its manifest decodes, or the
    digests and the database drift apart (a removal finds nothing to
    remove, or a key stays set for ever). So the peek must agree with the
    generated decoder on every input: it succeeds exactly when
    irh_manifest_decode_buf does, with the same namespace and flags. The
    input is tried as is and with its first byte forced to the manifest's
    id, so most runs reach the fields.
*/
#include "store_dbi.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void
s_agree (const uint8_t *data, size_t size)
{
    char ns [IRH_MANIFEST_NS_MAX + 1];
    uint32_t flags = 0;
    int peeked = store_dbi_manifest_peek (data, size, ns, &flags);
    irh_manifest_t m;
    int decoded = irh_manifest_decode_buf (data, size, &m);
    assert ((peeked == 0) == (decoded == 0));
    if (peeked == 0) {
        assert (strcmp (ns, m.ns) == 0);
        assert (flags == m.flags);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_agree (data, size);
    if (size < 1)
        return 0;
    uint8_t *copy = malloc (size);
    assert (copy);
    memcpy (copy, data, size);
    copy [0] = IRH_MSG_MANIFEST;
    s_agree (copy, size);
    free (copy);
    return 0;
}
