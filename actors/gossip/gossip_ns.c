/*  gossip_ns.c: namespaces as the wire sees them (gossip_ns.h).

    This first version knows public namespaces only: a namespace travels
    under its name, keys as they are, and every member takes part. The
    secret namespaces of docs/namespaces.md are filled in here, behind
    the same calls.
*/
#include "gossip_ns.h"
#include <assert.h>
#include <czmq.h>
#include <string.h>

struct _gossip_ns_t {
    uint8_t self_id [32];
    uint64_t refused;           //  requests naming a namespace we do not serve
};

gossip_ns_t *
gossip_ns_new (const char *ns_dir, const uint8_t *self_id)
{
    (void) ns_dir;
    gossip_ns_t *self = (gossip_ns_t *) zmalloc (sizeof (gossip_ns_t));
    assert (self);
    memcpy (self->self_id, self_id, 32);
    return self;
}

void
gossip_ns_destroy (gossip_ns_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

bool
gossip_ns_secret (gossip_ns_t *self, const char *ns)
{
    (void) self;
    (void) ns;
    return false;
}

void
gossip_ns_wire (gossip_ns_t *self, const char *ns, char *wire)
{
    (void) self;
    snprintf (wire, GOSSIP_NS_WIRE_MAX, "%s", ns);
}

void
gossip_ns_key_out (gossip_ns_t *self, const char *ns, const uint8_t *key, uint8_t *wire_key)
{
    (void) self;
    (void) ns;
    memmove (wire_key, key, 32);
}

size_t
gossip_ns_proof (gossip_ns_t *self, const char *ns, const uint8_t *peer, uint8_t *auth)
{
    (void) self;
    (void) ns;
    (void) peer;
    (void) auth;
    return 0;
}

int
gossip_ns_accept (gossip_ns_t *self, const char *wire, const uint8_t *peer,
                  const uint8_t *auth, size_t auth_size, char *ns)
{
    (void) peer;
    (void) auth;
    if (auth_size != 0 || strlen (wire) >= GOSSIP_NS_WIRE_MAX) {
        self->refused++;
        return -1;
    }
    snprintf (ns, GOSSIP_NS_WIRE_MAX, "%s", wire);
    return 0;
}

bool
gossip_ns_member (gossip_ns_t *self, const char *ns, const uint8_t *node)
{
    (void) self;
    (void) ns;
    (void) node;
    return true;
}

void
gossip_ns_stats (gossip_ns_t *self, irh_table_t *table)
{
    irh_table_row (table);
    irh_table_str (table, "ns_refused");
    irh_table_u64 (table, self->refused);
}
