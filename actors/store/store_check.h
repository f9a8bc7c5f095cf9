/*  store_check.h: deciding at start whether the store's LMDB environment
    can be trusted, and setting a damaged one aside (store_check.c).
*/
#ifndef STORE_CHECK_H_INCLUDED
#define STORE_CHECK_H_INCLUDED
#include <stddef.h>

//  Check the environment in store_dir before it is opened for writing (a
//  missing one is fine). 0 when it can be used; -1 with why set when it
//  must be set aside. Leaves the "opening" marker, which
//  store_check_opened removes once the environment is open.
int store_check_env (const char *store_dir, char *why, size_t why_size);
void store_check_opened (const char *store_dir);
//  Rename store_dir to <store_dir>.corrupt-<UTC time>; *moved_to gets the
//  new path (malloc'd). 0 or -1.
int store_check_reset (const char *store_dir, char **moved_to);
//  While serving: arm once with the store directory, then
//  store_check_suspect (reason) (async-signal-safe) records that the
//  environment made the store crash, for the next start to act on.
void store_check_arm (const char *store_dir);
void store_check_suspect (const char *reason);

#endif
