//  Self-test of the config parser.
#include "irh_config.h"
int main (void) { irh_config_test (true); return 0; }
