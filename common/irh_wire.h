/*  irh_wire.h: primitive encoders/decoders behind the generated codec.

    Generated code (irh_msgs.c) calls these; nothing else should need to.
    Readers never trust the input: every get checks bounds and limits and
    records why it failed in a thread-local error string.
*/
#ifndef IRH_WIRE_H_INCLUDED
#define IRH_WIRE_H_INCLUDED
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef struct {
    const uint8_t *pos;
    const uint8_t *end;
    const char *message;        //  message name, for error text
} irh_wire_reader_t;

uint8_t *irh_wire_put_u8 (uint8_t *p, uint8_t value);
uint8_t *irh_wire_put_u16 (uint8_t *p, uint16_t value);
uint8_t *irh_wire_put_u32 (uint8_t *p, uint32_t value);
uint8_t *irh_wire_put_u64 (uint8_t *p, uint64_t value);
uint8_t *irh_wire_put_str (uint8_t *p, const char *value);
uint8_t *irh_wire_put_bytes (uint8_t *p, const uint8_t *data, size_t size);

int irh_wire_get_id (irh_wire_reader_t *r, int id);
int irh_wire_get_u8 (irh_wire_reader_t *r, uint8_t *value, const char *field);
int irh_wire_get_u16 (irh_wire_reader_t *r, uint16_t *value, const char *field);
int irh_wire_get_u32 (irh_wire_reader_t *r, uint32_t *value, const char *field);
int irh_wire_get_u64 (irh_wire_reader_t *r, uint64_t *value, const char *field);
int irh_wire_get_h256 (irh_wire_reader_t *r, uint8_t *value, const char *field);
//  Copies into value (limit + 1 bytes), NUL-terminates; rejects embedded
//  NUL and invalid UTF-8.
int irh_wire_get_str (irh_wire_reader_t *r, char *value, size_t limit, const char *field);
int irh_wire_get_bytes (irh_wire_reader_t *r, const uint8_t **data, size_t *size,
                        size_t limit, const char *field);
//  Fails on trailing bytes.
int irh_wire_get_end (irh_wire_reader_t *r);

//  True if the bytes are valid UTF-8 without NUL.
bool irh_wire_utf8_valid (const uint8_t *data, size_t size);
//  Why the last get failed on this thread.
const char *irh_wire_error (void);
//  Record a decode error (printf-style); returns -1.
int irh_wire_fail (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

#endif
