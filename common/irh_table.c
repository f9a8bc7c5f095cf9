/*  irh_table.c: the table replies of proto/README.md §3: build them in
    actors, decode them in irohds-ctl (strictly: they come over a socket),
    and print them as aligned text for people or typed JSON for scripts.

    Cells are kept as text, unescaped, exactly as the wire types define
    them; the decoder checks every cell against its column type so the
    printers can rely on it (a 'u' cell is digits, an 's' cell is valid
    UTF-8 without NUL, and so on).
*/
#include "irh_table.h"
#include "irh_msgs.h"
#include "irh_utf8.h"
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IRH_TABLE_COLUMNS_MAX 256
#define IRH_TABLE_NAME_MAX    64

struct _irh_table_t {
    size_t columns;
    char **names;
    char *types;
    char ***rows;               //  rows [row][col]: unescaped cell text
    size_t rows_count;
    size_t rows_max;
    size_t filled;              //  Values added to the last row so far
};

//  --------------------------------------------------------------------
//  Header

static bool
s_name_valid (const char *name, size_t length)
{
    if (length == 0 || length > IRH_TABLE_NAME_MAX)
        return false;
    for (size_t index = 0; index < length; index++) {
        char c = name [index];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
        ||    c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

//  Parses "name:type\tname:type..." into a new, empty table; NULL if the
//  columns are malformed.
static irh_table_t *
s_table_from_columns (const char *spec, size_t size)
{
    irh_table_t *self = calloc (1, sizeof (irh_table_t));
    if (!self)
        return NULL;
    size_t columns = 1;
    for (size_t index = 0; index < size; index++)
        columns += spec [index] == '\t';
    if (columns > IRH_TABLE_COLUMNS_MAX)
        goto fail;
    self->names = calloc (columns, sizeof (char *));
    self->types = calloc (columns + 1, 1);
    if (!self->names || !self->types)
        goto fail;
    size_t start = 0;
    for (size_t col = 0; col < columns; col++) {
        const char *tab = memchr (spec + start, '\t', size - start);
        size_t end = tab? (size_t) (tab - spec): size;
        //  "name:t": the type is the single character after the last ':'
        if (end - start < 3 || spec [end - 2] != ':'
        ||  !strchr (IRH_TABLE_TYPES, spec [end - 1]) || spec [end - 1] == 0)
            goto fail;
        size_t length = end - start - 2;
        if (!s_name_valid (spec + start, length))
            goto fail;
        self->names [col] = strndup (spec + start, length);
        self->columns = col + 1;        //  So a failure below frees this name
        if (!self->names [col])
            goto fail;
        for (size_t other = 0; other < col; other++)
            if (strcmp (self->names [other], self->names [col]) == 0)
                goto fail;      //  JSON objects and lookups need unique names
        self->types [col] = spec [end - 1];
        start = end + 1;
    }
    return self;
fail:
    irh_table_destroy (&self);
    return NULL;
}

irh_table_t *
irh_table_new (const char *columns)
{
    assert (columns);
    irh_table_t *self = s_table_from_columns (columns, strlen (columns));
    assert (self);              //  The column spec is written by programmers
    return self;
}

void
irh_table_destroy (irh_table_t **self_p)
{
    assert (self_p);
    irh_table_t *self = *self_p;
    if (!self)
        return;
    for (size_t row = 0; row < self->rows_count; row++) {
        for (size_t col = 0; col < self->columns; col++)
            free (self->rows [row][col]);
        free (self->rows [row]);
    }
    free (self->rows);
    if (self->names)
        for (size_t col = 0; col < self->columns; col++)
            free (self->names [col]);
    free (self->names);
    free (self->types);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------
//  Builder

static int
s_add_row (irh_table_t *self)
{
    if (self->rows_count == self->rows_max) {
        size_t max = self->rows_max? self->rows_max * 2: 16;
        char ***rows = realloc (self->rows, max * sizeof (char **));
        if (!rows)
            return -1;
        self->rows = rows;
        self->rows_max = max;
    }
    char **cells = calloc (self->columns, sizeof (char *));
    if (!cells)
        return -1;
    self->rows [self->rows_count++] = cells;
    self->filled = 0;
    return 0;
}

void
irh_table_row (irh_table_t *self)
{
    assert (self);
    assert (self->rows_count == 0 || self->filled == self->columns);
    int rc = s_add_row (self);
    assert (rc == 0);
}

//  Takes text (malloc'd) as the next cell of the current row.
static void
s_add_cell (irh_table_t *self, char type, char *text)
{
    assert (self);
    assert (self->rows_count > 0);              //  irh_table_row first
    assert (self->filled < self->columns);      //  One value per column
    assert (self->types [self->filled] == type);
    assert (text);
    self->rows [self->rows_count - 1][self->filled++] = text;
}

void
irh_table_u64 (irh_table_t *self, uint64_t value)
{
    char *text = NULL;
    int rc = asprintf (&text, "%" PRIu64, value);
    assert (rc > 0);
    s_add_cell (self, 'u', text);
}

void
irh_table_i64 (irh_table_t *self, int64_t value)
{
    char *text = NULL;
    int rc = asprintf (&text, "%" PRId64, value);
    assert (rc > 0);
    s_add_cell (self, 'i', text);
}

void
irh_table_double (irh_table_t *self, double value)
{
    char text [40];
    if (isnan (value))
        strcpy (text, "nan");
    else
    if (isinf (value))
        strcpy (text, value > 0? "inf": "-inf");
    else
        //  The shortest text that reads back as the same double
        for (int precision = 1; precision <= 17; precision++) {
            snprintf (text, sizeof text, "%.*g", precision, value);
            if (strtod (text, NULL) == value)
                break;
        }
    char *copy = strdup (text);
    assert (copy);
    s_add_cell (self, 'f', copy);
}

void
irh_table_str (irh_table_t *self, const char *value)
{
    if (!value)
        value = "";
    //  Values often carry outside text (function names, peer names): a
    //  byte that is not UTF-8 becomes '?' so the table stays decodable.
    size_t length = strlen (value);
    char *copy = malloc (length + 1);
    assert (copy);
    size_t pos = 0;
    while (pos < length) {
        size_t sequence = irh_utf8_sequence (value + pos, length - pos);
        if (sequence == 0) {
            copy [pos++] = '?';
            continue;
        }
        memcpy (copy + pos, value + pos, sequence);
        pos += sequence;
    }
    copy [length] = 0;
    s_add_cell (self, 's', copy);
}

void
irh_table_hex (irh_table_t *self, const uint8_t *data, size_t size)
{
    assert (data || size == 0);
    char *text = malloc (size * 2 + 1);
    assert (text);
    for (size_t index = 0; index < size; index++) {
        text [index * 2] = "0123456789abcdef" [data [index] >> 4];
        text [index * 2 + 1] = "0123456789abcdef" [data [index] & 15];
    }
    text [size * 2] = 0;
    s_add_cell (self, 'x', text);
}

void
irh_table_bool (irh_table_t *self, bool value)
{
    char *text = strdup (value? "1": "0");
    assert (text);
    s_add_cell (self, 'b', text);
}

void
irh_table_append (irh_table_t *self, zmsg_t *msg)
{
    assert (self);
    assert (msg);
    assert (self->rows_count == 0 || self->filled == self->columns);
    size_t size = 3;
    for (size_t col = 0; col < self->columns; col++)
        size += strlen (self->names [col]) + 3;
    char *header = malloc (size);
    assert (header);
    size_t length = 0;
    memcpy (header, "T1\t", 3);
    length = 3;
    for (size_t col = 0; col < self->columns; col++)
        length += (size_t) sprintf (header + length, "%s%s:%c", col? "\t": "",
                                    self->names [col], self->types [col]);
    zmsg_addmem (msg, header, length);
    free (header);

    for (size_t row = 0; row < self->rows_count; row++) {
        size = 0;
        for (size_t col = 0; col < self->columns; col++)
            size += strlen (self->rows [row][col]) * 2 + 1;
        char *frame = malloc (size + 1);
        assert (frame);
        length = 0;
        for (size_t col = 0; col < self->columns; col++) {
            if (col)
                frame [length++] = '\t';
            for (const char *c = self->rows [row][col]; *c; c++)
                if (*c == '\\' || *c == '\t' || *c == '\n') {
                    frame [length++] = '\\';
                    frame [length++] = *c == '\\'? '\\': *c == '\t'? 't': 'n';
                }
                else
                    frame [length++] = *c;
        }
        zmsg_addmem (msg, frame, length);
        free (frame);
    }
}

//  --------------------------------------------------------------------
//  Decoder

//  "0" or [1-9][0-9]* of at most digits characters.
static bool
s_canonical_digits (const char *text, size_t size)
{
    if (size == 0 || (text [0] == '0' && size > 1))
        return false;
    for (size_t index = 0; index < size; index++)
        if (text [index] < '0' || text [index] > '9')
            return false;
    return true;
}

static bool
s_valid_u64 (const char *text, size_t size)
{
    if (!s_canonical_digits (text, size) || size > 20)
        return false;
    return size < 20 || memcmp (text, "18446744073709551615", 20) <= 0;
}

static bool
s_valid_i64 (const char *text, size_t size)
{
    bool negative = size > 0 && text [0] == '-';
    text += negative;
    size -= negative;
    if (!s_canonical_digits (text, size) || size > 19)
        return false;
    return size < 19 || memcmp (text, negative? "9223372036854775808":
                                              "9223372036854775807", 19) <= 0;
}

//  A JSON number, or inf, -inf, nan.
static bool
s_valid_double (const char *text, size_t size)
{
    if ((size == 3 && (memcmp (text, "inf", 3) == 0 || memcmp (text, "nan", 3) == 0))
    ||  (size == 4 && memcmp (text, "-inf", 4) == 0))
        return true;
    size_t pos = 0;
    if (pos < size && text [pos] == '-')
        pos++;
    size_t start = pos;
    while (pos < size && text [pos] >= '0' && text [pos] <= '9')
        pos++;
    if (pos == start || (text [start] == '0' && pos - start > 1))
        return false;
    if (pos < size && text [pos] == '.') {
        start = ++pos;
        while (pos < size && text [pos] >= '0' && text [pos] <= '9')
            pos++;
        if (pos == start)
            return false;
    }
    if (pos < size && (text [pos] == 'e' || text [pos] == 'E')) {
        pos++;
        if (pos < size && (text [pos] == '+' || text [pos] == '-'))
            pos++;
        start = pos;
        while (pos < size && text [pos] >= '0' && text [pos] <= '9')
            pos++;
        if (pos == start)
            return false;
    }
    return pos == size;
}

//  Checks one raw cell against its type; returns it unescaped (malloc'd)
//  or NULL if it is malformed.
static char *
s_decode_cell (char type, const char *raw, size_t size)
{
    bool valid = true;
    if (type == 'u')
        valid = s_valid_u64 (raw, size);
    else
    if (type == 'i')
        valid = s_valid_i64 (raw, size);
    else
    if (type == 'f')
        valid = s_valid_double (raw, size);
    else
    if (type == 'b')
        valid = size == 1 && (raw [0] == '0' || raw [0] == '1');
    else
    if (type == 'x') {
        valid = size % 2 == 0;
        for (size_t index = 0; index < size && valid; index++)
            valid = (raw [index] >= '0' && raw [index] <= '9')
                 || (raw [index] >= 'a' && raw [index] <= 'f');
    }
    if (!valid)
        return NULL;
    char *text = malloc (size + 1);
    if (!text)
        return NULL;
    if (type != 's') {
        memcpy (text, raw, size);
        text [size] = 0;
        return text;
    }
    size_t length = 0;
    for (size_t index = 0; index < size; index++) {
        char c = raw [index];
        if (c == 0 || c == '\n')
            goto fail;
        if (c == '\\') {
            if (++index == size)
                goto fail;
            c = raw [index];
            if (c == 'n')
                c = '\n';
            else
            if (c == 't')
                c = '\t';
            else
            if (c != '\\')
                goto fail;
        }
        text [length++] = c;
    }
    text [length] = 0;
    if (irh_utf8_valid (text, length))
        return text;
fail:
    free (text);
    return NULL;
}

//  Adds one row from a raw frame; -1 if it is malformed.
static int
s_decode_row (irh_table_t *self, const char *data, size_t size)
{
    if (memchr (data, 0, size) || memchr (data, '\n', size) || s_add_row (self) == -1)
        return -1;
    char **cells = self->rows [self->rows_count - 1];
    size_t start = 0;
    for (size_t col = 0; col < self->columns; col++) {
        if (start > size)
            return -1;              //  Fewer cells than columns
        const char *tab = memchr (data + start, '\t', size - start);
        size_t end = tab? (size_t) (tab - data): size;
        if (tab && col + 1 == self->columns)
            return -1;              //  More cells than columns
        cells [col] = s_decode_cell (self->types [col], data + start, end - start);
        if (!cells [col])
            return -1;
        self->filled = col + 1;
        start = end + 1;
    }
    return 0;
}

irh_table_t *
irh_table_decode (zmsg_t *msg)
{
    assert (msg);
    zframe_t *frame = zmsg_pop (msg);
    if (!frame)
        return NULL;
    const char *data = (const char *) zframe_data (frame);
    size_t size = zframe_size (frame);
    irh_table_t *self = NULL;
    if (size > 3 && memcmp (data, "T1\t", 3) == 0
    &&  !memchr (data, 0, size) && !memchr (data, '\n', size))
        self = s_table_from_columns (data + 3, size - 3);
    zframe_destroy (&frame);

    //  Every frame is consumed, whatever happens.
    while ((frame = zmsg_pop (msg))) {
        //  An empty frame may have no data pointer at all
        const char *row = zframe_size (frame)? (const char *) zframe_data (frame): "";
        if (self && s_decode_row (self, row, zframe_size (frame)) == -1)
            irh_table_destroy (&self);
        zframe_destroy (&frame);
    }
    return self;
}

size_t
irh_table_columns (irh_table_t *self)
{
    assert (self);
    return self->columns;
}

size_t
irh_table_rows (irh_table_t *self)
{
    assert (self);
    return self->rows_count;
}

const char *
irh_table_column_name (irh_table_t *self, size_t col)
{
    assert (self);
    return col < self->columns? self->names [col]: NULL;
}

char
irh_table_column_type (irh_table_t *self, size_t col)
{
    assert (self);
    return col < self->columns? self->types [col]: 0;
}

const char *
irh_table_cell (irh_table_t *self, size_t row, size_t col)
{
    assert (self);
    if (row >= self->rows_count || col >= self->columns)
        return NULL;
    return self->rows [row][col];
}

const char *
irh_table_get (irh_table_t *self, size_t row, const char *name)
{
    assert (self);
    assert (name);
    for (size_t col = 0; col < self->columns; col++)
        if (strcmp (self->names [col], name) == 0)
            return irh_table_cell (self, row, col);
    return NULL;
}

//  --------------------------------------------------------------------
//  Printing

//  "1.5 MiB": sizes for people (text form only; JSON keeps the number).
static char *
s_human_bytes (const char *digits)
{
    static const char *units [] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    char *text = NULL;
    uint64_t bytes = strtoull (digits, NULL, 10);
    if (bytes < 1024) {
        if (asprintf (&text, "%" PRIu64 " B", bytes) < 0)
            text = NULL;
        return text;
    }
    double value = (double) bytes;
    size_t unit = 0;
    while (value >= 1024 && unit < 6) {
        value /= 1024;
        unit++;
    }
    //  1023.96 KiB would print as "1024.0 KiB"; say "1.0 MiB" instead
    if (value >= 1023.95 && unit < 6) {
        value /= 1024;
        unit++;
    }
    if (asprintf (&text, "%.1f %s", value, units [unit]) < 0)
        text = NULL;
    return text;
}

static bool
s_is_bytes_column (irh_table_t *self, size_t col)
{
    size_t length = strlen (self->names [col]);
    return self->types [col] == 'u' && length >= 5
        && strcmp (self->names [col] + length - 5, "bytes") == 0;
}

//  Cell as shown in the text form; malloc'd.
static char *
s_display (irh_table_t *self, size_t col, const char *cell)
{
    if (s_is_bytes_column (self, col))
        return s_human_bytes (cell);
    if (self->types [col] == 'b')
        return strdup (*cell == '1'? "yes": "no");
    char *text = strdup (cell);
    //  Control characters from outside text must not drive the terminal
    for (char *c = text; text && *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            *c = '?';
    return text;
}

//  Display width: one column per code point (cells are valid UTF-8).
static size_t
s_width (const char *text)
{
    size_t width = 0;
    for (; *text; text++)
        width += ((unsigned char) *text & 0xc0) != 0x80;
    return width;
}

static void
s_print_padded (FILE *out, const char *text, size_t width, bool right, bool last)
{
    size_t pad = width - s_width (text);
    if (right)
        fprintf (out, "%*s%s", (int) pad, "", text);
    else
    if (last)
        fputs (text, out);      //  No trailing blanks at the end of a line
    else
        fprintf (out, "%s%*s", text, (int) pad, "");
}

void
irh_table_print (irh_table_t *self, FILE *out)
{
    assert (self);
    assert (out);
    size_t cells = self->rows_count * self->columns;
    char **shown = calloc (cells? cells: 1, sizeof (char *));
    size_t *widths = calloc (self->columns, sizeof (size_t));
    if (!shown || !widths) {
        free (shown);
        free (widths);
        return;
    }
    for (size_t col = 0; col < self->columns; col++)
        widths [col] = s_width (self->names [col]);
    for (size_t row = 0; row < self->rows_count; row++)
        for (size_t col = 0; col < self->columns; col++) {
            const char *cell = self->rows [row][col];
            char *text = s_display (self, col, cell? cell: "");
            shown [row * self->columns + col] = text;
            if (text && s_width (text) > widths [col])
                widths [col] = s_width (text);
        }
    for (size_t row = 0; row <= self->rows_count; row++) {
        for (size_t col = 0; col < self->columns; col++) {
            const char *text = row? shown [(row - 1) * self->columns + col]: self->names [col];
            bool right = strchr ("uif", self->types [col]) != NULL;
            if (col)
                fputs ("  ", out);
            s_print_padded (out, text? text: "", widths [col], right,
                            col + 1 == self->columns);
        }
        fputc ('\n', out);
    }
    for (size_t index = 0; index < cells; index++)
        free (shown [index]);
    free (shown);
    free (widths);
}

static void
s_print_json_string (FILE *out, const char *text)
{
    fputc ('"', out);
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if (*c == '"' || *c == '\\')
            fprintf (out, "\\%c", *c);
        else
        if (*c == '\n')
            fputs ("\\n", out);
        else
        if (*c == '\t')
            fputs ("\\t", out);
        else
        if (*c == '\r')
            fputs ("\\r", out);
        else
        if (*c < 0x20 || *c == 0x7f)
            fprintf (out, "\\u%04x", *c);
        else
            fputc (*c, out);
    fputc ('"', out);
}

void
irh_table_print_json (irh_table_t *self, FILE *out)
{
    assert (self);
    assert (out);
    if (self->rows_count == 0) {
        fputs ("[]\n", out);
        return;
    }
    fputs ("[\n", out);
    for (size_t row = 0; row < self->rows_count; row++) {
        fputs ("  {", out);
        for (size_t col = 0; col < self->columns; col++) {
            const char *cell = self->rows [row][col]? self->rows [row][col]: "";
            char type = self->types [col];
            if (col)
                fputs (", ", out);
            s_print_json_string (out, self->names [col]);
            fputs (": ", out);
            if (type == 'b')
                fputs (*cell == '1'? "true": "false", out);
            else
            if ((type == 'u' || type == 'i' || type == 'f') && *cell
            &&  strcmp (cell, "inf") && strcmp (cell, "-inf") && strcmp (cell, "nan"))
                fputs (cell, out);          //  Checked against JSON's number grammar
            else
                s_print_json_string (out, cell);
        }
        fputs (row + 1 < self->rows_count? "},\n": "}\n", out);
    }
    fputs ("]\n", out);
}

//  The self-test, irh_table_test, is in irh_table_test.c.
