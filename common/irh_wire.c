/*  irh_wire.c: bounds-checked primitives for the generated message codec.
    All integers are big-endian so captures read the same on any host. */
#include "irh_wire.h"
#include "irh_utf8.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char s_error [256];

int
irh_wire_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (s_error, sizeof (s_error), format, args);
    va_end (args);
    return -1;
}

const char *
irh_wire_error (void)
{
    return s_error [0] ? s_error : "no error";
}

uint8_t *
irh_wire_put_u8 (uint8_t *p, uint8_t value)
{
    *p++ = value;
    return p;
}

uint8_t *
irh_wire_put_u16 (uint8_t *p, uint16_t value)
{
    *p++ = (uint8_t) (value >> 8);
    *p++ = (uint8_t) value;
    return p;
}

uint8_t *
irh_wire_put_u32 (uint8_t *p, uint32_t value)
{
    for (int shift = 24; shift >= 0; shift -= 8)
        *p++ = (uint8_t) (value >> shift);
    return p;
}

uint8_t *
irh_wire_put_u64 (uint8_t *p, uint64_t value)
{
    for (int shift = 56; shift >= 0; shift -= 8)
        *p++ = (uint8_t) (value >> shift);
    return p;
}

uint8_t *
irh_wire_put_str (uint8_t *p, const char *value)
{
    size_t len = strlen (value);
    assert (len <= 0xFFFF);
    p = irh_wire_put_u16 (p, (uint16_t) len);
    memcpy (p, value, len);
    return p + len;
}

uint8_t *
irh_wire_put_bytes (uint8_t *p, const uint8_t *data, size_t size)
{
    assert (size <= 0xFFFFFFFFu);
    p = irh_wire_put_u32 (p, (uint32_t) size);
    if (size)
        memcpy (p, data, size);
    return p + size;
}

static int
s_need (irh_wire_reader_t *r, size_t size, const char *field)
{
    if (!r->pos || (size_t) (r->end - r->pos) < size)
        return irh_wire_fail ("%s.%s: truncated", r->message, field);
    return 0;
}

int
irh_wire_get_id (irh_wire_reader_t *r, int id)
{
    if (s_need (r, 1, "id"))
        return -1;
    if (*r->pos != id)
        return irh_wire_fail ("%s: wrong message id %d", r->message, *r->pos);
    r->pos++;
    return 0;
}

static uint64_t
s_get_be (irh_wire_reader_t *r, size_t size)
{
    uint64_t value = 0;
    for (size_t i = 0; i < size; i++)
        value = (value << 8) | *r->pos++;
    return value;
}

int
irh_wire_get_u8 (irh_wire_reader_t *r, uint8_t *value, const char *field)
{
    if (s_need (r, 1, field))
        return -1;
    *value = (uint8_t) s_get_be (r, 1);
    return 0;
}

int
irh_wire_get_u16 (irh_wire_reader_t *r, uint16_t *value, const char *field)
{
    if (s_need (r, 2, field))
        return -1;
    *value = (uint16_t) s_get_be (r, 2);
    return 0;
}

int
irh_wire_get_u32 (irh_wire_reader_t *r, uint32_t *value, const char *field)
{
    if (s_need (r, 4, field))
        return -1;
    *value = (uint32_t) s_get_be (r, 4);
    return 0;
}

int
irh_wire_get_u64 (irh_wire_reader_t *r, uint64_t *value, const char *field)
{
    if (s_need (r, 8, field))
        return -1;
    *value = s_get_be (r, 8);
    return 0;
}

int
irh_wire_get_h256 (irh_wire_reader_t *r, uint8_t *value, const char *field)
{
    if (s_need (r, 32, field))
        return -1;
    memcpy (value, r->pos, 32);
    r->pos += 32;
    return 0;
}

bool
irh_wire_utf8_valid (const uint8_t *data, size_t size)
{
    //  Strings on the wire carry no NUL (C sees them as C strings), and
    //  are otherwise strict UTF-8, exactly what Python's decoder accepts.
    return memchr (data, 0, size) == NULL && irh_utf8_valid ((const char *) data, size);
}

int
irh_wire_get_str (irh_wire_reader_t *r, char *value, size_t limit, const char *field)
{
    uint16_t len;
    if (irh_wire_get_u16 (r, &len, field))
        return -1;
    if (len > limit)
        return irh_wire_fail ("%s.%s: length %u over limit %zu", r->message, field,
                              len, limit);
    if (s_need (r, len, field))
        return -1;
    if (!irh_wire_utf8_valid (r->pos, len))
        return irh_wire_fail ("%s.%s: not UTF-8 or has NUL", r->message, field);
    memcpy (value, r->pos, len);
    value [len] = 0;
    r->pos += len;
    return 0;
}

int
irh_wire_get_bytes (irh_wire_reader_t *r, const uint8_t **data, size_t *size,
                    size_t limit, const char *field)
{
    uint32_t len;
    if (irh_wire_get_u32 (r, &len, field))
        return -1;
    if (len > limit)
        return irh_wire_fail ("%s.%s: length %u over limit %zu", r->message, field,
                              len, limit);
    if (s_need (r, len, field))
        return -1;
    *data = r->pos;
    *size = len;
    r->pos += len;
    return 0;
}

int
irh_wire_get_end (irh_wire_reader_t *r)
{
    if (r->pos != r->end)
        return irh_wire_fail ("%s: %zu trailing bytes", r->message,
                              (size_t) (r->end - r->pos));
    return 0;
}
