/*  test_key_vectors.c: the C side of the golden key vectors.

    proto/vectors/keys.json holds canonical encodings made by the Python
    client and the BLAKE3-256 key of each. Checking irh_blake3 (encoding)
    == key for every vector proves both sides hash the same bytes to the
    same keys. The file is found through $IROHDS_SOURCE (set by ctest for
    the Python suites), else relative to this source file's own path.

    The JSON is parsed ad hoc: every "encoding": "<hex>" is followed, in
    the same object, by "key": "<hex>". Anything else in the file is
    ignored; a malformed vector fails the test with its position.
*/
#include "irh_hash.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
s_read_file (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *data = NULL;
    size_t used = 0, cap = 0;
    while (true) {
        if (cap - used < 65536) {
            cap = cap ? cap * 2 : 131072;
            data = realloc (data, cap + 1);
            assert (data);
        }
        size_t got = fread (data + used, 1, cap - used, file);
        used += got;
        if (got == 0)
            break;
    }
    fclose (file);
    data [used] = 0;
    *size = used;
    return data;
}

static int
s_hexval (char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

//  Finds `"field": "` from *cursor, decodes the hex string after it into a
//  fresh buffer. Returns the buffer (caller frees) or NULL when the field is
//  absent; sets *bad on a malformed string.
static uint8_t *
s_next_hex (const char **cursor, const char *field, size_t *size, bool *bad)
{
    char pattern [64];
    snprintf (pattern, sizeof pattern, "\"%s\": \"", field);
    const char *at = strstr (*cursor, pattern);
    if (!at)
        return NULL;
    const char *hex = at + strlen (pattern);
    const char *end = strchr (hex, '"');
    if (!end || (end - hex) % 2) {
        *bad = true;
        return NULL;
    }
    size_t n = (size_t) (end - hex) / 2;
    uint8_t *out = malloc (n ? n : 1);
    assert (out);
    for (size_t i = 0; i < n; i++) {
        int hi = s_hexval (hex [2 * i]), lo = s_hexval (hex [2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free (out);
            *bad = true;
            return NULL;
        }
        out [i] = (uint8_t) (hi * 16 + lo);
    }
    *size = n;
    *cursor = end + 1;
    return out;
}

int
main (void)
{
    char path [4096];
    const char *source = getenv ("IROHDS_SOURCE");
    if (source && *source)
        snprintf (path, sizeof path, "%s/proto/vectors/keys.json", source);
    else {
        //  __FILE__ is <source>/tests/c/test_key_vectors.c (CMake passes
        //  absolute paths).
        snprintf (path, sizeof path, "%s", __FILE__);
        char *cut = strstr (path, "tests/c/test_key_vectors.c");
        assert (cut);
        strcpy (cut, "proto/vectors/keys.json");
    }
    size_t size = 0;
    char *json = s_read_file (path, &size);
    if (!json) {
        fprintf (stderr, "test_key_vectors: cannot read %s\n", path);
        return 1;
    }
    printf (" * key vectors from %s (%zu bytes)\n", path, size);

    const char *cursor = json;
    int checked = 0, failed = 0;
    while (true) {
        bool bad = false;
        size_t enc_size = 0, key_size = 0;
        uint8_t *encoding = s_next_hex (&cursor, "encoding", &enc_size, &bad);
        if (!encoding) {
            if (bad) {
                fprintf (stderr, "malformed encoding at offset %zu\n",
                         (size_t) (cursor - json));
                failed++;
            }
            break;
        }
        uint8_t *key = s_next_hex (&cursor, "key", &key_size, &bad);
        if (!key || key_size != IRH_HASH_SIZE) {
            fprintf (stderr, "vector %d: missing or malformed key\n", checked);
            free (encoding);
            free (key);
            failed++;
            break;
        }
        uint8_t digest [IRH_HASH_SIZE];
        irh_blake3 (encoding, enc_size, digest);
        if (!irh_hash_equal (digest, key)) {
            char hex [IRH_HASH_HEX_SIZE];
            fprintf (stderr, "vector %d: blake3 = %s, golden key differs\n",
                     checked, irh_hash_hex (digest, hex));
            failed++;
        }
        //  The check must be able to fail: a one-bit change in the encoding
        //  must change the key.
        if (enc_size > 0) {
            encoding [enc_size / 2] ^= 0x01;
            irh_blake3 (encoding, enc_size, digest);
            assert (!irh_hash_equal (digest, key));
        }
        //  Streaming over the same bytes, split unevenly, agrees too.
        if (enc_size > 0) {
            encoding [enc_size / 2] ^= 0x01;
            irh_hasher_t *hasher = irh_hasher_new ();
            assert (hasher);
            irh_hasher_update (hasher, encoding, enc_size / 3);
            irh_hasher_update (hasher, encoding + enc_size / 3, enc_size - enc_size / 3);
            irh_hasher_final (hasher, digest);
            irh_hasher_destroy (&hasher);
            assert (hasher == NULL);
            assert (irh_hash_equal (digest, key));
        }
        free (encoding);
        free (key);
        checked++;
    }
    free (json);
    printf (" * %d vectors checked, %d failed\n", checked, failed);
    //  A parse that silently found nothing would pass vacuously.
    if (checked < 50) {
        fprintf (stderr, "test_key_vectors: only %d vectors found\n", checked);
        return 1;
    }
    return failed ? 1 : 0;
}
