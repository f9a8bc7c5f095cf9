/*  irh_hash.h: BLAKE3 (Debian's official C sources) and xxHash glue.

    BLAKE3-256 names results and blobs; xxHash64 is for non-adversarial
    fast checks (e.g. hash-table buckets, fingerprints), never for content
    identity. Exported from libirohds so the Python client can hash through
    ctypes with the same code.
*/
#ifndef IRH_HASH_H_INCLUDED
#define IRH_HASH_H_INCLUDED
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define IRH_HASH_SIZE 32
#define IRH_HASH_HEX_SIZE 65     //  64 hex digits + NUL

typedef struct _irh_hasher_t irh_hasher_t;

//  One-shot BLAKE3-256.
void irh_blake3 (const void *data, size_t size, uint8_t out [IRH_HASH_SIZE]);
//  BLAKE3-256 of a file's contents, read with large sequential reads.
//  Returns 0, or -1 with errno set.
int irh_blake3_file (const char *path, uint8_t out [IRH_HASH_SIZE], uint64_t *size);
//  Same, of an open descriptor from its current offset.
int irh_blake3_fd (int fd, uint8_t out [IRH_HASH_SIZE], uint64_t *size);

//  Streaming BLAKE3.
irh_hasher_t *irh_hasher_new (void);
void irh_hasher_update (irh_hasher_t *self, const void *data, size_t size);
void irh_hasher_final (irh_hasher_t *self, uint8_t out [IRH_HASH_SIZE]);
void irh_hasher_reset (irh_hasher_t *self);
void irh_hasher_destroy (irh_hasher_t **self_p);

//  xxHash XXH3-64.
uint64_t irh_xxh64 (const void *data, size_t size, uint64_t seed);

//  Lower-case hex of a 32-byte hash into out (65 bytes).
char *irh_hash_hex (const uint8_t hash [IRH_HASH_SIZE], char out [IRH_HASH_HEX_SIZE]);
//  Parse 64 hex digits; 0 on success, -1 on anything else.
int irh_hash_from_hex (const char *hex, uint8_t out [IRH_HASH_SIZE]);
//  Constant-time compare.
bool irh_hash_equal (const uint8_t a [IRH_HASH_SIZE], const uint8_t b [IRH_HASH_SIZE]);

void irh_hash_test (bool verbose);

#endif
