/*  store_scratch.h: a store in a fresh temporary directory, for the store's
    self-tests, benchmarks and fuzz targets (never the actor). One place
    for the directory layout they all need (store/, blobs/, staging/,
    fetch/ under one mkdtemp root) and for removing it again, read-only
    blob files included.
*/
#ifndef STORE_SCRATCH_H_INCLUDED
#define STORE_SCRATCH_H_INCLUDED

#include "store_db.h"

typedef struct {
    char root [64];
    char store [128], blobs [128], staging [128], fetch [128];
} store_scratch_t;

//  Make /tmp/irh-<tag>-XXXXXX and fill in the paths under it (the store
//  makes the subdirectories itself). Asserts: a test cannot go on without.
void store_scratch_make (store_scratch_t *self, const char *tag);
//  Open a store on the scratch paths; asserts that it opens (the reason
//  on stderr first).
store_db_t *store_scratch_open (store_scratch_t *self, const store_db_config_t *config);
//  Remove the whole scratch tree (links are removed, never followed).
void store_scratch_remove (store_scratch_t *self);

#endif
