//  Self-test of home and path resolution.
#include "irh_paths.h"
int main (void) { irh_paths_test (true); return 0; }
