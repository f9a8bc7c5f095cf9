/*  test_trust.c: runs the trust zones' self-test (trust.c). */
#include "trust.h"
#include <czmq.h>

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    trust_test (verbose);
    return 0;
}
