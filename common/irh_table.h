/*  irh_table.h: build and parse the table replies of proto/README.md §3,
    and print them as aligned text or JSON (irohds-ctl). */
#ifndef IRH_TABLE_H_INCLUDED
#define IRH_TABLE_H_INCLUDED
#include <czmq.h>
#include <stdint.h>

typedef struct _irh_table_t irh_table_t;

//  columns: "name:type\tname:type..." (types u i f s x b).
irh_table_t *irh_table_new (const char *columns);
void irh_table_destroy (irh_table_t **self_p);
//  Start a row, then add exactly one value per column, in order.
void irh_table_row (irh_table_t *self);
void irh_table_u64 (irh_table_t *self, uint64_t value);
void irh_table_i64 (irh_table_t *self, int64_t value);
void irh_table_double (irh_table_t *self, double value);
void irh_table_str (irh_table_t *self, const char *value);
void irh_table_hex (irh_table_t *self, const uint8_t *data, size_t size);
void irh_table_bool (irh_table_t *self, bool value);
//  Append header and rows as frames to msg (table is unchanged).
void irh_table_append (irh_table_t *self, zmsg_t *msg);

//  Parse frames from msg (consumes them). NULL on malformed input.
irh_table_t *irh_table_decode (zmsg_t *msg);
size_t irh_table_columns (irh_table_t *self);
size_t irh_table_rows (irh_table_t *self);
const char *irh_table_column_name (irh_table_t *self, size_t col);
char irh_table_column_type (irh_table_t *self, size_t col);
//  Value as text (unescaped), NULL out of range.
const char *irh_table_cell (irh_table_t *self, size_t row, size_t col);
//  Value of column "name" in row, NULL if absent.
const char *irh_table_get (irh_table_t *self, size_t row, const char *name);
//  Print as aligned columns, or as a JSON array of objects.
void irh_table_print (irh_table_t *self, FILE *out);
void irh_table_print_json (irh_table_t *self, FILE *out);
void irh_table_test (bool verbose);

#endif
