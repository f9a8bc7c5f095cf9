//  Self-test of the BLAKE3/xxHash glue.
#include "irh_hash.h"
int main (void) { irh_hash_test (true); return 0; }
