//  Self-test of the generated codec: round trip and truncation of every message.
#include "irh_msgs.h"
int main (void) { irh_msgs_test (true); return 0; }
