/*  irh_utf8.h: UTF-8 checks shared by the decoders of outside text
    (config files, tables). Strict: no overlong forms, no surrogates,
    nothing past U+10FFFF. */
#ifndef IRH_UTF8_H_INCLUDED
#define IRH_UTF8_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Length of the valid UTF-8 sequence starting at text (1..4), 0 if the
//  bytes there are not valid UTF-8 or size is 0.
size_t irh_utf8_sequence (const char *text, size_t size);
//  True if all size bytes are valid UTF-8.
bool irh_utf8_valid (const char *text, size_t size);
//  True if all size bytes are valid UTF-8 without control characters
//  (C0, DEL, C1): text that is safe to show in a log line or a table.
bool irh_utf8_printable (const char *text, size_t size);
//  Appends the encoding of point to buffer (which needs 4 bytes of room)
//  and advances *length; -1 for NUL, surrogates and non-characters past
//  U+10FFFF (nothing written).
int irh_utf8_put (char *buffer, size_t *length, uint32_t point);
void irh_utf8_test (bool verbose);

#endif
