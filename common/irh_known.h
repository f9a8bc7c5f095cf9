/*  irh_known.h: trust on first use for peer addresses given without a
    node id (peers.bootstrap "tcp://HOST:PORT", `irohds-ctl join
    tcp://HOST:PORT`), in the manner of ssh's known_hosts.

    <home>/peers/known_nodes pins one node id per address, one line each:

        tcp://HOST:PORT NODEID

    (NODEID: 64 lowercase hex characters; '#' starts a comment line; blank
    lines are skipped). Mode 0600, written whole to a temp file and renamed
    over the old one, read O_NOFOLLOW | O_NONBLOCK (irh_file.h). A line that
    does not fit is skipped and counted, never trusted.

    The key exchange: a node's key endpoint (gossip port + 1, in clear)
    answers the fixed peer_key_ask with peer_key (proto/peer.def). The
    decoders here take outside bytes and are fuzzed (fuzz/fuzz_known.c).
*/
#ifndef IRH_KNOWN_H_INCLUDED
#define IRH_KNOWN_H_INCLUDED
#include <czmq.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IRH_KNOWN_FILE      "known_nodes"
#define IRH_KNOWN_FILE_MAX  (256 * 1024)    //  bytes of known_nodes read at most
#define IRH_KNOWN_MAX       4096            //  pins kept at most
#define IRH_KNOWN_ASK_MAGIC 0x49524b41u     //  "IRKA"
#define IRH_KNOWN_KEY_MAGIC 0x49524b59u     //  "IRKY"
#define IRH_KNOWN_VERSION   1               //  key exchange version

//  True if address is tcp://HOST:PORT with a sane host (letters, digits,
//  '.', '-') and port 1..65535, at most 64 characters (the wire's field).
static inline bool
irh_known_address_valid (const char *address)
{
    if (!address || strncmp (address, "tcp://", 6) != 0 || strlen (address) > 64)
        return false;
    const char *host = address + 6;
    const char *colon = strrchr (host, ':');
    if (!colon || colon == host)
        return false;
    for (const char *p = host; p < colon; p++)
        if (!(isalnum ((unsigned char) *p) || *p == '.' || *p == '-'))
            return false;
    const char *port = colon + 1;
    if (!*port || strlen (port) > 5 || strspn (port, "0123456789") != strlen (port))
        return false;
    long value = atol (port);
    return value >= 1 && value <= 65535;
}

typedef struct _irh_known_t irh_known_t;

//  The pins of dir/known_nodes (dir: <home>/peers), empty until loaded;
//  dir NULL: pins in memory only, never loaded or written (pin fails).
irh_known_t *irh_known_new (const char *dir);
void irh_known_destroy (irh_known_t **self_p);
//  Reads the file (a missing file is no pins). -1 with *err if the file
//  is refused (symlink, not ours, too large): then pin refuses to write,
//  so a file we could not read is never overwritten.
int irh_known_load (irh_known_t *self, char **err);
//  Replaces the pins by those of text; returns the lines skipped as bad.
size_t irh_known_parse (irh_known_t *self, const char *text, size_t size);
//  The pinned key of address, or NULL.
const uint8_t *irh_known_lookup (irh_known_t *self, const char *address);
//  Pins (or re-pins) address to key and writes the file. 0, or -1 with *err.
int irh_known_pin (irh_known_t *self, const char *address, const uint8_t *key, char **err);
size_t irh_known_size (irh_known_t *self);
//  Lines skipped by the last load or parse.
size_t irh_known_bad_lines (irh_known_t *self);

//  The one request a key endpoint answers, encoded.
zframe_t *irh_known_ask_encode (void);
//  True if data is exactly that request.
bool irh_known_ask_valid (const uint8_t *data, size_t size);
//  The answer carrying key (IRH_KEY_BYTES), encoded.
zframe_t *irh_known_answer_encode (const uint8_t *key);
//  Decodes an answer: 0 and the node id in key (32 bytes), else -1
//  (wrong size, id, magic or version: a stranger, not a key endpoint).
int irh_known_answer_decode (const uint8_t *data, size_t size, uint8_t *key);

//  The address peers reach this node at, into out: advertise (config
//  peers.advertise) when it is a valid address, else listen
//  (tcp://HOST:PORT) with port, a wildcard host (0.0.0.0, *) replaced by
//  this machine's first interface address (127.0.0.1 if none). Used by the
//  gossip actor and by irohds-ctl ns create, so both name the node alike.
void irh_known_advertise (const char *advertise, const char *listen, int port, char *out,
                          size_t size);

#endif
