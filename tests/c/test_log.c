//  Self-test of logging.
#include "irh_log.h"
int main (void) { irh_log_test (true); return 0; }
