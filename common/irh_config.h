/*  irh_config.h: the one parser of <home>/config.toml.

    A TOML subset: comments, [section] headers, key = value with values
    that are integers (with optional size/time suffixes: KiB MiB GiB TiB,
    ms s m h d), floats, booleans, "strings" and ["arrays", "of strings"].
    Keys are addressed as "section.key". Unknown keys and malformed lines
    are reported with file:line and counted, never fatal: the key keeps its
    default. A missing file is an empty config.
*/
#ifndef IRH_CONFIG_H_INCLUDED
#define IRH_CONFIG_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _irh_config_t irh_config_t;

//  Parse a file; NULL path or missing file gives an empty config.
irh_config_t *irh_config_load (const char *path);
//  Parse text (for tests and fuzzing); name is used in messages.
irh_config_t *irh_config_parse (const char *text, size_t size, const char *name);
void irh_config_destroy (irh_config_t **self_p);

//  Getters return the default when the key is absent or of the wrong type
//  (a wrong type is also recorded as an error). A value with a time unit
//  ("30s", "250ms") reads as milliseconds from irh_config_u64 and as
//  seconds from irh_config_double; size units ("64 MiB") are bytes.
uint64_t irh_config_u64 (irh_config_t *self, const char *key, uint64_t dflt);
//  An integer that must lie in [low, high]: outside it, the problem is
//  recorded in the error list (with file:line) and dflt is returned. Use
//  it for every value that cannot work outside a range.
uint64_t irh_config_u64_range (irh_config_t *self, const char *key, uint64_t dflt,
                               uint64_t low, uint64_t high);
double irh_config_double (irh_config_t *self, const char *key, double dflt);
bool irh_config_bool (irh_config_t *self, const char *key, bool dflt);
const char *irh_config_str (irh_config_t *self, const char *key, const char *dflt);
//  Array of strings: count and item i (NULL past the end).
size_t irh_config_list_size (irh_config_t *self, const char *key);
const char *irh_config_list_item (irh_config_t *self, const char *key, size_t index);

//  Problems found (parse errors, type errors), and their messages.
size_t irh_config_errors (irh_config_t *self);
const char *irh_config_error (irh_config_t *self, size_t index);
void irh_config_test (bool verbose);

#endif
