/*  fuzz_peer_addr.c: libFuzzer target for the peer address check
    (gossip_address_valid in actors/gossip/gossip.h), which sees outside
    text from peers.bootstrap, `irohds-ctl join`, gossip_join requests and
    beacon source addresses. Whatever it accepts must be tcp://HOST:PORT
    with a port in 1..65535, short enough for the wire's 64-byte field.
*/
#include "../actors/gossip/gossip.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    assert (text);
    memcpy (text, data, size);
    text [size] = 0;
    if (gossip_address_valid (text)) {
        assert (strlen (text) <= 64 && strncmp (text, "tcp://", 6) == 0);
        const char *colon = strrchr (text, ':');
        long port = atol (colon + 1);
        assert (port >= 1 && port <= 65535 && colon > text + 6);
    }
    free (text);
    return 0;
}
