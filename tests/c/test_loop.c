/*  test_loop.c: runs the irh_loop self-test (common/irh_loop_test.c). */
#include "irh_loop.h"

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    irh_loop_test (verbose);
    return 0;
}
