/*  irh_utf8.c: strict UTF-8 validation and encoding for the decoders of
    outside text, so every string they hand out is safe to print, to put
    in JSON and to pass on as a C string. */
#include "irh_utf8.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

size_t
irh_utf8_sequence (const char *text, size_t size)
{
    if (size == 0)
        return 0;
    const unsigned char *bytes = (const unsigned char *) text;
    unsigned char c = bytes [0];
    if (c < 0x80)
        return 1;
    size_t length;
    uint32_t point;
    if (c >= 0xc2 && c <= 0xdf)
        length = 2, point = c & 0x1f;
    else
    if (c >= 0xe0 && c <= 0xef)
        length = 3, point = c & 0x0f;
    else
    if (c >= 0xf0 && c <= 0xf4)
        length = 4, point = c & 0x07;
    else
        return 0;               //  Continuation byte, or 0xc0/0xc1/0xf5+
    if (length > size)
        return 0;
    for (size_t index = 1; index < length; index++) {
        if ((bytes [index] & 0xc0) != 0x80)
            return 0;
        point = (point << 6) | (bytes [index] & 0x3f);
    }
    if ((length == 3 && point < 0x800) || (length == 4 && point < 0x10000)
    ||  (point >= 0xd800 && point <= 0xdfff) || point > 0x10ffff)
        return 0;
    return length;
}

bool
irh_utf8_valid (const char *text, size_t size)
{
    assert (text || size == 0);
    size_t pos = 0;
    while (pos < size) {
        size_t length = irh_utf8_sequence (text + pos, size - pos);
        if (length == 0)
            return false;
        pos += length;
    }
    return true;
}

bool
irh_utf8_printable (const char *text, size_t size)
{
    if (!irh_utf8_valid (text, size))
        return false;
    for (size_t pos = 0; pos < size; pos++) {
        unsigned char byte = (unsigned char) text [pos];
        if (byte < 0x20 || byte == 0x7f)
            return false;
        //  C1 controls U+0080..U+009F are encoded C2 80..C2 9F.
        if (byte == 0xc2 && pos + 1 < size && (unsigned char) text [pos + 1] < 0xa0)
            return false;
    }
    return true;
}

int
irh_utf8_put (char *buffer, size_t *length, uint32_t point)
{
    assert (buffer);
    assert (length);
    if (point == 0 || (point >= 0xd800 && point <= 0xdfff) || point > 0x10ffff)
        return -1;
    unsigned char *out = (unsigned char *) buffer + *length;
    if (point < 0x80) {
        out [0] = (unsigned char) point;
        *length += 1;
    }
    else
    if (point < 0x800) {
        out [0] = (unsigned char) (0xc0 | (point >> 6));
        out [1] = (unsigned char) (0x80 | (point & 0x3f));
        *length += 2;
    }
    else
    if (point < 0x10000) {
        out [0] = (unsigned char) (0xe0 | (point >> 12));
        out [1] = (unsigned char) (0x80 | ((point >> 6) & 0x3f));
        out [2] = (unsigned char) (0x80 | (point & 0x3f));
        *length += 3;
    }
    else {
        out [0] = (unsigned char) (0xf0 | (point >> 18));
        out [1] = (unsigned char) (0x80 | ((point >> 12) & 0x3f));
        out [2] = (unsigned char) (0x80 | ((point >> 6) & 0x3f));
        out [3] = (unsigned char) (0x80 | (point & 0x3f));
        *length += 4;
    }
    return 0;
}

void
irh_utf8_test (bool verbose)
{
    if (verbose)
        printf (" * irh_utf8: ");
    assert (irh_utf8_valid ("", 0));
    assert (irh_utf8_valid ("plain ascii", 11));
    assert (irh_utf8_valid ("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    assert (!irh_utf8_valid ("\x80", 1));                 //  Lone continuation
    assert (!irh_utf8_valid ("\xc3", 1));                 //  Truncated
    assert (!irh_utf8_valid ("\xc0\xaf", 2));             //  Overlong '/'
    assert (!irh_utf8_valid ("\xe0\x80\xaf", 3));         //  Overlong, 3 bytes
    assert (!irh_utf8_valid ("\xed\xa0\x80", 3));         //  Surrogate
    assert (!irh_utf8_valid ("\xf4\x90\x80\x80", 4));     //  Past U+10FFFF
    assert (!irh_utf8_valid ("\xff", 1));
    assert (!irh_utf8_valid ("\xe2\x82", 2));
    assert (irh_utf8_sequence ("\xe2\x82\xac", 3) == 3);
    assert (irh_utf8_sequence ("\xe2\x82\xac", 2) == 0);
    assert (irh_utf8_sequence ("x", 0) == 0);
    assert (irh_utf8_printable ("caf\xc3\xa9 \xc2\xa0x", 8));
    assert (!irh_utf8_printable ("tab\there", 8));
    assert (!irh_utf8_printable ("del\x7f", 4));
    assert (!irh_utf8_printable ("c1\xc2\x85", 4));     //  NEL
    assert (!irh_utf8_printable ("\xc3", 1));

    //  Encoding round-trips through validation at every length
    uint32_t points [] = { 0x41, 0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0x10000, 0x10ffff };
    for (size_t index = 0; index < sizeof points / sizeof points [0]; index++) {
        char buffer [8];
        size_t length = 0;
        int rc = irh_utf8_put (buffer, &length, points [index]);
        assert (rc == 0);
        assert (length >= 1 && length <= 4);
        assert (irh_utf8_sequence (buffer, length) == length);
    }
    char buffer [8];
    size_t length = 0;
    assert (irh_utf8_put (buffer, &length, 0) == -1);
    assert (irh_utf8_put (buffer, &length, 0xd800) == -1);
    assert (irh_utf8_put (buffer, &length, 0x110000) == -1);
    assert (length == 0);
    irh_utf8_put (buffer, &length, 0x20ac);
    assert (length == 3 && memcmp (buffer, "\xe2\x82\xac", 3) == 0);
    if (verbose)
        printf ("OK\n");
}
