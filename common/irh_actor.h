/*  irh_actor.h: what every actor's main does before serving: parse the
    common command line, start logging, resolve (and create) the home and
    load the config. One definition, so every actor takes the same
    arguments and fails the same way.

    usage: irohds-NAME [--home DIR] (--broker EP | --bind EP) [--service NAME] [-v]
           irohds-NAME --help | --version
    (--service only for actors that allow it, e.g. the echo test actor.)
*/
#ifndef IRH_ACTOR_H_INCLUDED
#define IRH_ACTOR_H_INCLUDED
#include <stdbool.h>
#include "irh_config.h"
#include "irh_paths.h"

typedef struct {
    const char *name;           //  short name for logs, e.g. "store"
    const char *home;           //  --home, or NULL for the default
    const char *broker;         //  exactly one of broker and bind is set
    const char *bind;
    const char *service;        //  service to register
    bool verbose;
    irh_paths_t *paths;         //  resolved, directories created
    irh_config_t *config;       //  <home>/config.toml (problems logged)
} irh_actor_t;

//  Parse argv and set up. service is the default service name; if
//  allow_service, --service may replace it. Returns -1 when the actor
//  should go on serving, else the exit status main should return (0
//  after --help or --version, 2 on bad usage, 1 when the home or log cannot be set up);
//  messages are already printed.
int irh_actor_init (irh_actor_t *self, const char *name, const char *service,
                    bool allow_service, int argc, char **argv);
//  Free what init made; safe after a failed init.
void irh_actor_cleanup (irh_actor_t *self);
//  The project's version ("0.1.0"), as every binary reports it.
const char *irh_actor_version (void);
void irh_actor_test (bool verbose);

#endif
