/*  test_worker.c: runs the irh_envelope and irh_worker self-tests. */
#include "irh_envelope.h"
#include "irh_worker.h"

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    irh_envelope_test (verbose);
    irh_worker_test (verbose);
    return 0;
}
