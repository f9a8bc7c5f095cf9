//  Self-test of UTF-8 validation.
#include "irh_utf8.h"
int main (void) { irh_utf8_test (true); return 0; }
