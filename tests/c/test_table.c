//  Self-test of tables.
#include "irh_table.h"
int main (void) { irh_table_test (true); return 0; }
