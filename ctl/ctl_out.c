/*  ctl_out.c: what irohds-ctl prints: the JSON writer (one document on
    stdout, commas tracked per nesting level, outside text always escaped
    so the document parses) and the human forms of sizes, durations and
    times, plus the function-name match shared by ls and evict.
*/
#include "ctl.h"
#include "irh_wire.h"
#include <errno.h>
#include <math.h>
#include <time.h>

//  ---------------------------------------------------------------------
//  JSON writer: one document on stdout, commas tracked per nesting level.

static void
s_json_sep (ctl_t *ctl)
{
    if (ctl->json_after_key) {
        ctl->json_after_key = false;
        return;
    }
    if (ctl->json_depth > 0) {
        if (ctl->json_comma [ctl->json_depth - 1])
            fputc (',', stdout);
        ctl->json_comma [ctl->json_depth - 1] = true;
    }
}

void
ctl_json_open (ctl_t *ctl, char bracket)
{
    assert (bracket == '{' || bracket == '[');
    assert (ctl->json_depth < CTL_JSON_DEPTH);
    s_json_sep (ctl);
    fputc (bracket, stdout);
    ctl->json_bracket [ctl->json_depth] = bracket;
    ctl->json_comma [ctl->json_depth] = false;
    ctl->json_depth++;
}

void
ctl_json_close (ctl_t *ctl)
{
    assert (ctl->json_depth > 0);
    ctl->json_depth--;
    fputc (ctl->json_bracket [ctl->json_depth] == '{'? '}': ']', stdout);
}

static void
s_json_string (const char *value)
{
    //  Invalid UTF-8 (it can come from outside) is written byte by byte as
    //  \u00XX so the document always parses.
    bool utf8 = irh_wire_utf8_valid ((const uint8_t *) value, strlen (value));
    fputc ('"', stdout);
    for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
        if (*p == '"')
            fputs ("\\\"", stdout);
        else
        if (*p == '\\')
            fputs ("\\\\", stdout);
        else
        if (*p == '\n')
            fputs ("\\n", stdout);
        else
        if (*p == '\t')
            fputs ("\\t", stdout);
        else
        if (*p < 0x20 || *p == 0x7f || (*p >= 0x80 && !utf8))
            printf ("\\u%04x", *p);
        else
            fputc (*p, stdout);
    }
    fputc ('"', stdout);
}

void
ctl_json_key (ctl_t *ctl, const char *key)
{
    s_json_sep (ctl);
    s_json_string (key);
    fputc (':', stdout);
    ctl->json_after_key = true;
}

void
ctl_json_str (ctl_t *ctl, const char *value)
{
    s_json_sep (ctl);
    if (value)
        s_json_string (value);
    else
        fputs ("null", stdout);
}

void
ctl_json_u64 (ctl_t *ctl, uint64_t value)
{
    s_json_sep (ctl);
    printf ("%" PRIu64, value);
}

void
ctl_json_i64 (ctl_t *ctl, int64_t value)
{
    s_json_sep (ctl);
    printf ("%" PRId64, value);
}

void
ctl_json_double (ctl_t *ctl, double value)
{
    //  JSON has no infinities: they stay readable as strings.
    if (isnan (value))
        ctl_json_str (ctl, "nan");
    else
    if (isinf (value))
        ctl_json_str (ctl, value > 0? "inf": "-inf");
    else {
        s_json_sep (ctl);
        char buf [40];
        snprintf (buf, sizeof buf, "%.15g", value);
        if (strtod (buf, NULL) != value)
            snprintf (buf, sizeof buf, "%.17g", value);
        fputs (buf, stdout);
    }
}

void
ctl_json_bool (ctl_t *ctl, bool value)
{
    s_json_sep (ctl);
    fputs (value? "true": "false", stdout);
}

bool
ctl_all_digits (const char *s, size_t max)
{
    size_t n = strlen (s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s [i] < '0' || s [i] > '9')
            return false;
    return true;
}

void
ctl_json_cell (ctl_t *ctl, char type, const char *value)
{
    if (!value) {
        ctl_json_str (ctl, NULL);
        return;
    }
    if (type == 'u' && ctl_all_digits (value, 20)) {
        errno = 0;
        unsigned long long v = strtoull (value, NULL, 10);
        if (errno == 0) {
            ctl_json_u64 (ctl, v);
            return;
        }
    }
    else
    if (type == 'i' && ctl_all_digits (value [0] == '-'? value + 1: value, 19)) {
        errno = 0;
        long long v = strtoll (value, NULL, 10);
        if (errno == 0) {
            ctl_json_i64 (ctl, v);
            return;
        }
    }
    else
    if (type == 'f' && *value) {
        char *end;
        double v = strtod (value, &end);
        if (*end == 0) {
            ctl_json_double (ctl, v);
            return;
        }
    }
    else
    if (type == 'b' && (streq (value, "0") || streq (value, "1"))) {
        ctl_json_bool (ctl, value [0] == '1');
        return;
    }
    ctl_json_str (ctl, value);
}

void
ctl_json_row (ctl_t *ctl, irh_table_t *table, size_t row)
{
    ctl_json_open (ctl, '{');
    size_t cols = irh_table_columns (table);
    for (size_t col = 0; col < cols; col++) {
        ctl_json_key (ctl, irh_table_column_name (table, col));
        ctl_json_cell (ctl, irh_table_column_type (table, col),
                       irh_table_cell (table, row, col));
    }
    ctl_json_close (ctl);
}

void
ctl_json_table (ctl_t *ctl, irh_table_t *table)
{
    ctl_json_open (ctl, '[');
    size_t rows = irh_table_rows (table);
    for (size_t row = 0; row < rows; row++)
        ctl_json_row (ctl, table, row);
    ctl_json_close (ctl);
}

void
ctl_json_table_object (ctl_t *ctl, irh_table_t *table)
{
    ctl_json_open (ctl, '{');
    size_t rows = irh_table_rows (table);
    if (irh_table_columns (table) >= 2) {
        char type = irh_table_column_type (table, 1);
        for (size_t row = 0; row < rows; row++) {
            const char *name = irh_table_cell (table, row, 0);
            ctl_json_key (ctl, name? name: "");
            ctl_json_cell (ctl, type, irh_table_cell (table, row, 1));
        }
    }
    ctl_json_close (ctl);
}

void
ctl_json_end (ctl_t *ctl)
{
    assert (ctl->json_depth == 0);
    fputc ('\n', stdout);
}

//  ---------------------------------------------------------------------
//  Human formats.

char *
ctl_fmt_ms (uint64_t ms, char *buf, size_t size)
{
    if (ms < 1000)
        snprintf (buf, size, "%" PRIu64 "ms", ms);
    else
    if (ms < 60000)
        snprintf (buf, size, "%.1fs", ms / 1000.0);
    else
    if (ms < 3600000)
        snprintf (buf, size, "%" PRIu64 "m%02" PRIu64 "s", ms / 60000, ms / 1000 % 60);
    else
    if (ms < 86400000)
        snprintf (buf, size, "%" PRIu64 "h%02" PRIu64 "m", ms / 3600000, ms / 60000 % 60);
    else
        snprintf (buf, size, "%" PRIu64 "d%02" PRIu64 "h", ms / 86400000, ms / 3600000 % 24);
    return buf;
}

char *
ctl_fmt_bytes (uint64_t bytes, char *buf, size_t size)
{
    static const char *units [] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
    if (bytes < 1024) {
        snprintf (buf, size, "%" PRIu64 " B", bytes);
        return buf;
    }
    double value = (double) bytes / 1024;
    int unit = 0;
    while (value >= 1024 && unit < 5) {
        value /= 1024;
        unit++;
    }
    snprintf (buf, size, "%.1f %s", value, units [unit]);
    return buf;
}

char *
ctl_fmt_time (uint64_t us, char *buf, size_t size)
{
    time_t seconds = (time_t) (us / 1000000);
    struct tm tm;
    if (us == 0 || !localtime_r (&seconds, &tm) || strftime (buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf (buf, size, "-");
    return buf;
}

char *
ctl_fmt_ago (uint64_t us, uint64_t now_us, char *buf, size_t size)
{
    if (us == 0)
        return ctl_fmt_time (0, buf, size);
    uint64_t s = us < now_us? (now_us - us) / 1000000: 0;
    if (s < 5)
        snprintf (buf, size, "just now");
    else
    if (s < 60)
        snprintf (buf, size, "%" PRIu64 "s ago", s);
    else
    if (s < 3600)
        snprintf (buf, size, "%" PRIu64 "m ago", s / 60);
    else
    if (s < 86400)
        snprintf (buf, size, "%" PRIu64 "h ago", s / 3600);
    else
    if (s < 7 * 86400)
        snprintf (buf, size, "%" PRIu64 "d ago", s / 86400);
    else
        ctl_fmt_time (us, buf, size);
    return buf;
}

bool
ctl_fn_matches (const char *fn, const char *name)
{
    size_t lf = strlen (fn), ln = strlen (name);
    if (ln == 0 || ln > lf)
        return false;
    if (strcmp (fn + lf - ln, name) != 0)
        return false;
    return ln == lf || fn [lf - ln - 1] == '.';
}

uint64_t
ctl_cell_u64 (irh_table_t *table, size_t row, const char *name)
{
    const char *text = irh_table_get (table, row, name);
    return text ? strtoull (text, NULL, 10) : 0;
}

const char *
ctl_cell_str (irh_table_t *table, size_t row, const char *name)
{
    const char *text = irh_table_get (table, row, name);
    return text ? text : "";
}
