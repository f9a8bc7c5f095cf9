/*  store_scratch.c: temporary stores for the store's self-tests,
    benchmarks and fuzz targets (store_scratch.h).
*/
#define _XOPEN_SOURCE 700
#include "store_scratch.h"
#include <assert.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

void
store_scratch_make (store_scratch_t *self, const char *tag)
{
    assert (self && tag);
    snprintf (self->root, sizeof self->root, "/tmp/irh-%s-XXXXXX", tag);
    assert (mkdtemp (self->root));
    snprintf (self->store, sizeof self->store, "%s/store", self->root);
    snprintf (self->blobs, sizeof self->blobs, "%s/blobs", self->root);
    snprintf (self->staging, sizeof self->staging, "%s/staging", self->root);
    snprintf (self->fetch, sizeof self->fetch, "%s/fetch", self->root);
}

store_db_t *
store_scratch_open (store_scratch_t *self, const store_db_config_t *config)
{
    assert (self && config);
    char *err = NULL;
    store_db_t *db = store_db_new (self->store, self->blobs, self->staging, config, &err);
    if (!db)
        fprintf (stderr, "store_db_new: %s\n", err ? err : "?");
    assert (db);
    return db;
}

//  Blob files are 0444 and their directories may have been made
//  read-only by a test: make each directory writable before its entries
//  go (FTW_DEPTH visits entries first, so chmod on the way down).
static int
s_writable (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) ftw;
    if (flag == FTW_D)
        chmod (path, (st->st_mode & 07777) | S_IRWXU);
    return 0;
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st, (void) flag, (void) ftw;
    remove (path);
    return 0;
}

void
store_scratch_remove (store_scratch_t *self)
{
    assert (self);
    if (!self->root [0])
        return;
    nftw (self->root, s_writable, 16, FTW_PHYS);
    nftw (self->root, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    self->root [0] = 0;
}
