/*  test_client.c: runs the irh_client self-test (client against a
    standalone worker, out-of-order replies, malformed replies, timeouts). */
#include "irh_client.h"

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    irh_client_test (verbose);
    return 0;
}
