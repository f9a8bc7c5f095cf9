/*  fuzz_table.c: libFuzzer target for the table decoder. The input is
    split into frames at '\n' (the first frame is the header); whatever
    decodes must be consistent and printable as text and JSON. */
#include "irh_table.h"
#include <assert.h>
#include <stdint.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static FILE *sink = NULL;
    if (!sink)
        sink = fopen ("/dev/null", "w");
    assert (sink);

    zmsg_t *msg = zmsg_new ();
    size_t start = 0;
    while (start <= size) {
        const uint8_t *newline = size > start? memchr (data + start, '\n', size - start): NULL;
        size_t end = newline? (size_t) (newline - data): size;
        zmsg_addmem (msg, data + start, end - start);
        start = end + 1;
    }
    irh_table_t *table = irh_table_decode (msg);
    assert (zmsg_size (msg) == 0);          //  Decoding consumes every frame
    zmsg_destroy (&msg);
    if (table) {
        size_t columns = irh_table_columns (table);
        assert (columns > 0);
        for (size_t row = 0; row < irh_table_rows (table); row++) {
            for (size_t col = 0; col < columns; col++) {
                const char *cell = irh_table_cell (table, row, col);
                assert (cell);
                const char *name = irh_table_column_name (table, col);
                assert (name && irh_table_column_type (table, col));
                assert (irh_table_get (table, row, name) == cell);
            }
            assert (irh_table_cell (table, row, columns) == NULL);
        }
        irh_table_print (table, sink);
        irh_table_print_json (table, sink);
        irh_table_destroy (&table);
    }
    return 0;
}
