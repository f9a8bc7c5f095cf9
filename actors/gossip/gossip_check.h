/*  gossip_check.h: irohds-gossip --check-sandbox, which enters the very
    sandbox the actor runs in and tries what it must and must not do with
    the home (tests/integration/test_network_sandbox.py runs it).
*/
#ifndef GOSSIP_CHECK_H_INCLUDED
#define GOSSIP_CHECK_H_INCLUDED
#include "irh_paths.h"
#include "irh_sandbox.h"
#include <stdbool.h>

//  Drop --check-sandbox from argv (setting *check) and, when checking
//  without an endpoint, add one (the check makes no socket). Returns a
//  calloc'd argument vector of *count entries, NULL-terminated, pointing
//  into argv's strings; free it after irh_actor_init.
char **gossip_check_args (int argc, char *argv [], int *count, bool *check);
//  Under the sandbox already entered: prints each try and "confined" or
//  "NOT CONFINED"; 0 when everything was as it must be.
int gossip_check_sandbox (irh_paths_t *paths, irh_sandbox_status_t *status);

#endif
