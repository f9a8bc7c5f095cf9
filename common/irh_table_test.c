/*  irh_table_test.c: self-test of tables (irh_table.c): build, encode,
    decode, print as text and JSON, and reject malformed frames. Kept apart
    from irh_table.c to keep each file a readable size. */
#include "irh_table.h"
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Decodes frames given as C strings (NULL-terminated list); the message
//  must always be consumed.
static irh_table_t *
s_decode_strings (const char **frames)
{
    zmsg_t *msg = zmsg_new ();
    for (const char **frame = frames; *frame; frame++)
        zmsg_addstr (msg, *frame);
    irh_table_t *table = irh_table_decode (msg);
    assert (zmsg_size (msg) == 0);
    zmsg_destroy (&msg);
    return table;
}

static char *
s_print (irh_table_t *table, bool json)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert (out);
    if (json)
        irh_table_print_json (table, out);
    else
        irh_table_print (table, out);
    fclose (out);
    return text;
}

static void
s_test_roundtrip (void)
{
    irh_table_t *table = irh_table_new ("name:s\tsize_bytes:u\tdelta:i\tscore:f\tkey:x\tok:b");
    assert (irh_table_columns (table) == 6);
    assert (irh_table_rows (table) == 0);
    irh_table_row (table);
    irh_table_str (table, "pkg.f");
    irh_table_u64 (table, 1572864);
    irh_table_i64 (table, -5);
    irh_table_double (table, 0.1);
    uint8_t key [] = { 0xde, 0xad, 0x01 };
    irh_table_hex (table, key, sizeof key);
    irh_table_bool (table, true);
    irh_table_row (table);
    irh_table_str (table, "tab\there\nnew \\ back");
    irh_table_u64 (table, 512);
    irh_table_i64 (table, INT64_MIN);
    irh_table_double (table, INFINITY);
    irh_table_hex (table, NULL, 0);
    irh_table_bool (table, false);
    irh_table_row (table);
    irh_table_str (table, "caf\xc3\xa9 \xff bad");        //  Invalid byte becomes '?'
    irh_table_u64 (table, UINT64_MAX);
    irh_table_i64 (table, INT64_MAX);
    irh_table_double (table, -INFINITY);
    irh_table_hex (table, key, 1);
    irh_table_bool (table, true);
    irh_table_row (table);
    irh_table_str (table, NULL);
    irh_table_u64 (table, 0);
    irh_table_i64 (table, 0);
    irh_table_double (table, 1e300);
    irh_table_hex (table, key, 2);
    irh_table_bool (table, false);

    zmsg_t *msg = zmsg_new ();
    irh_table_append (table, msg);
    assert (zmsg_size (msg) == 5);
    char *header = zmsg_popstr (msg);
    assert (strcmp (header, "T1\tname:s\tsize_bytes:u\tdelta:i\tscore:f\tkey:x\tok:b") == 0);
    zmsg_pushstr (msg, header);
    free (header);
    assert (zframe_streq (zmsg_first (msg), "T1\tname:s\tsize_bytes:u\tdelta:i\tscore:f\tkey:x\tok:b"));
    //  The second row's string is escaped on the wire
    zmsg_first (msg);
    zmsg_next (msg);
    zframe_t *row = zmsg_next (msg);
    assert (zframe_streq (row, "tab\\there\\nnew \\\\ back\t512\t-9223372036854775808\tinf\t\t0"));

    irh_table_t *copy = irh_table_decode (msg);
    assert (copy);
    assert (zmsg_size (msg) == 0);
    zmsg_destroy (&msg);
    assert (irh_table_columns (copy) == 6);
    assert (irh_table_rows (copy) == 4);
    assert (strcmp (irh_table_column_name (copy, 1), "size_bytes") == 0);
    assert (irh_table_column_type (copy, 4) == 'x');
    assert (irh_table_column_name (copy, 6) == NULL);
    assert (irh_table_column_type (copy, 6) == 0);
    assert (strcmp (irh_table_cell (copy, 0, 0), "pkg.f") == 0);
    assert (strcmp (irh_table_cell (copy, 0, 3), "0.1") == 0);
    assert (strcmp (irh_table_cell (copy, 0, 4), "dead01") == 0);
    assert (strcmp (irh_table_cell (copy, 1, 0), "tab\there\nnew \\ back") == 0);
    assert (strcmp (irh_table_get (copy, 2, "name"), "caf\xc3\xa9 ? bad") == 0);
    assert (strcmp (irh_table_get (copy, 2, "size_bytes"), "18446744073709551615") == 0);
    assert (strcmp (irh_table_get (copy, 3, "score"), "1e+300") == 0);
    assert (strtod (irh_table_get (copy, 3, "score"), NULL) == 1e300);
    assert (irh_table_get (copy, 3, "nope") == NULL);
    assert (irh_table_cell (copy, 4, 0) == NULL);
    assert (irh_table_cell (copy, 0, 6) == NULL);

    //  Text: aligned, numbers right, sizes human, booleans as words
    char *text = s_print (copy, false);
    const char *expect =
        "name                 size_bytes                 delta   score  key     ok\n"
        "pkg.f                   1.5 MiB                    -5     0.1  dead01  yes\n"
        "tab?here?new \\ back       512 B  -9223372036854775808     inf          no\n"
        "caf\xc3\xa9 ? bad             16.0 EiB   9223372036854775807    -inf  de      yes\n"
        "                            0 B                     0  1e+300  dead    no\n";
    assert (strcmp (text, expect) == 0);
    free (text);

    //  JSON: typed values, escaped strings, inf as strings
    text = s_print (copy, true);
    expect =
        "[\n"
        "  {\"name\": \"pkg.f\", \"size_bytes\": 1572864, \"delta\": -5, \"score\": 0.1, "
        "\"key\": \"dead01\", \"ok\": true},\n"
        "  {\"name\": \"tab\\there\\nnew \\\\ back\", \"size_bytes\": 512, "
        "\"delta\": -9223372036854775808, \"score\": \"inf\", \"key\": \"\", \"ok\": false},\n"
        "  {\"name\": \"caf\xc3\xa9 ? bad\", \"size_bytes\": 18446744073709551615, "
        "\"delta\": 9223372036854775807, \"score\": \"-inf\", \"key\": \"de\", \"ok\": true},\n"
        "  {\"name\": \"\", \"size_bytes\": 0, \"delta\": 0, \"score\": 1e+300, "
        "\"key\": \"dead\", \"ok\": false}\n"
        "]\n";
    if (strcmp (text, expect) != 0)
        printf ("\n%s", text);
    assert (strcmp (text, expect) == 0);
    free (text);
    irh_table_destroy (&copy);
    irh_table_destroy (&table);
    assert (table == NULL);
    irh_table_destroy (&table);

    //  An empty table: header only, JSON []
    table = irh_table_new ("a:u");
    msg = zmsg_new ();
    irh_table_append (table, msg);
    irh_table_destroy (&table);
    table = irh_table_decode (msg);
    zmsg_destroy (&msg);
    assert (table && irh_table_rows (table) == 0);
    text = s_print (table, false);
    assert (strcmp (text, "a\n") == 0);
    free (text);
    text = s_print (table, true);
    assert (strcmp (text, "[]\n") == 0);
    free (text);
    irh_table_destroy (&table);

    //  Doubles survive the trip exactly; NaN has a name too
    double values [] = { 0, -0.0, 1.0 / 3, 123456789.125, 5e-324, 1.7976931348623157e308, NAN };
    table = irh_table_new ("v:f");
    for (size_t index = 0; index < sizeof values / sizeof values [0]; index++) {
        irh_table_row (table);
        irh_table_double (table, values [index]);
    }
    msg = zmsg_new ();
    irh_table_append (table, msg);
    irh_table_destroy (&table);
    table = irh_table_decode (msg);
    zmsg_destroy (&msg);
    assert (table);
    for (size_t index = 0; index + 1 < sizeof values / sizeof values [0]; index++)
        assert (strtod (irh_table_cell (table, index, 0), NULL) == values [index]);
    assert (strcmp (irh_table_cell (table, 6, 0), "nan") == 0);
    irh_table_destroy (&table);

    //  Human sizes at unit edges
    table = irh_table_new ("bytes:u\tcount:u");
    uint64_t sizes [] = { 1023, 1024, 1048524, 1048575, 10ULL << 30 };
    for (size_t index = 0; index < 5; index++) {
        irh_table_row (table);
        irh_table_u64 (table, sizes [index]);
        irh_table_u64 (table, sizes [index]);
    }
    text = s_print (table, false);
    //  Sizes only in columns named like bytes; the rest stays raw
    assert (strstr (text, "1023 B"));
    assert (strstr (text, "1.0 KiB"));
    assert (strstr (text, "1023.9 KiB"));
    assert (strstr (text, "1.0 MiB"));
    assert (strstr (text, "10.0 GiB"));
    assert (strstr (text, "10737418240\n"));    //  Not a bytes column: raw
    free (text);
    irh_table_destroy (&table);
}

static void
s_test_malformed (void)
{
    const char *good [] = { "T1\tn:u\ts:s", "1\tx", NULL };
    irh_table_t *table = s_decode_strings (good);
    assert (table);
    irh_table_destroy (&table);

    //  Each case is one list of frames that must be refused
    const char *cases [][4] = {
        { "T1\tn:u", NULL },                //  (control: valid, checked below)
        { "T2\tn:u", NULL },
        { "T1", NULL },
        { "T1\t", NULL },
        { "t1\tn:u", NULL },
        { "T1 n:u", NULL },
        { "T1\tn", NULL },
        { "T1\tn:", NULL },
        { "T1\tn:q", NULL },
        { "T1\tn:uu", NULL },
        { "T1\t:u", NULL },
        { "T1\tn:u\t", NULL },
        { "T1\tn:u\tn:s", NULL },           //  Duplicate column
        { "T1\tna me:u", NULL },
        { "T1\tn\nx:u", NULL },
        { "T1\tn:u", "", NULL },
        { "T1\tn:u", "-1", NULL },
        { "T1\tn:u", "01", NULL },
        { "T1\tn:u", "1a", NULL },
        { "T1\tn:u", "18446744073709551616", NULL },
        { "T1\tn:u", "99999999999999999999", NULL },
        { "T1\tn:u", "1\t2", NULL },        //  Too many cells
        { "T1\tn:u\tm:u", "1", NULL },      //  Too few
        { "T1\tn:u", "1", "x", NULL },      //  A later row is bad
        { "T1\tn:i", "9223372036854775808", NULL },
        { "T1\tn:i", "-9223372036854775809", NULL },
        { "T1\tn:i", "+1", NULL },
        { "T1\tn:i", "-", NULL },
        { "T1\tn:i", "--1", NULL },
        { "T1\tn:f", "", NULL },
        { "T1\tn:f", ".5", NULL },
        { "T1\tn:f", "5.", NULL },
        { "T1\tn:f", "1e", NULL },
        { "T1\tn:f", "Inf", NULL },
        { "T1\tn:f", "+inf", NULL },
        { "T1\tn:f", "0x10", NULL },
        { "T1\tn:f", "1.5x", NULL },
        { "T1\tn:b", "2", NULL },
        { "T1\tn:b", "", NULL },
        { "T1\tn:b", "true", NULL },
        { "T1\tn:x", "abc", NULL },
        { "T1\tn:x", "AB", NULL },
        { "T1\tn:x", "zz", NULL },
        { "T1\tn:s", "bad \\x escape", NULL },
        { "T1\tn:s", "trailing \\", NULL },
        { "T1\tn:s", "raw\nnewline", NULL },
        { "T1\tn:s", "bad utf8 \xc3\x28", NULL },
        { "T1\tn:s", "overlong \xc0\xaf", NULL },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        table = s_decode_strings (cases [index]);
        if (index == 0) {
            assert (table && irh_table_rows (table) == 0);
            irh_table_destroy (&table);
        }
        else {
            if (table)
                printf ("\n    accepted case %zu: %s / %s\n", index, cases [index][0],
                        cases [index][1]? cases [index][1]: "-");
            assert (table == NULL);
        }
    }

    //  No frames at all; frames with NUL bytes
    zmsg_t *msg = zmsg_new ();
    assert (irh_table_decode (msg) == NULL);
    zmsg_addmem (msg, "T1\tn:s", 6);
    zmsg_addmem (msg, "a\0b", 3);
    assert (irh_table_decode (msg) == NULL);
    assert (zmsg_size (msg) == 0);
    zmsg_addmem (msg, "T1\tn:s\0", 7);
    assert (irh_table_decode (msg) == NULL);
    //  An empty frame is one empty string cell
    zmsg_addmem (msg, "T1\tn:s", 6);
    zmsg_addmem (msg, NULL, 0);
    table = irh_table_decode (msg);
    assert (table && irh_table_rows (table) == 1);
    assert (strcmp (irh_table_cell (table, 0, 0), "") == 0);
    irh_table_destroy (&table);

    //  Random frames: refused or accepted, never a crash or a leak
    srandom (42);
    static const char alphabet [] = "T1\t:uifsxb\\tn0123456789-.eE abcdef\n\xc3\xa9\xff";
    for (int round = 0; round < 3000; round++) {
        size_t frames = (size_t) (random () % 4) + 1;
        for (size_t index = 0; index < frames; index++) {
            char data [64];
            size_t size = (size_t) (random () % sizeof data);
            size_t start = 0;
            if (index == 0 && round % 2) {
                memcpy (data, "T1\t", 3);
                start = 3;
                size = size < 3? 3: size;
            }
            for (size_t pos = start; pos < size; pos++)
                data [pos] = round % 3? alphabet [random () % (sizeof alphabet - 1)]:
                                        (char) random ();
            zmsg_addmem (msg, data, size);
        }
        table = irh_table_decode (msg);
        assert (zmsg_size (msg) == 0);
        if (table) {
            char *text = s_print (table, false);
            free (text);
            text = s_print (table, true);
            free (text);
            irh_table_destroy (&table);
        }
    }
    zmsg_destroy (&msg);
}

void
irh_table_test (bool verbose)
{
    if (verbose)
        printf (" * irh_table: ");
    s_test_roundtrip ();
    s_test_malformed ();
    if (verbose)
        printf ("OK\n");
}
