//  Self-test of the common actor start-up (arguments, home, config).
#include "irh_actor.h"
int main (void) { irh_actor_test (true); return 0; }
