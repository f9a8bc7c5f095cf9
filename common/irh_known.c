/*  irh_known.c: the known-nodes pins and the key exchange codec (see
    irh_known.h; docs/peers.md for the user's view).
*/
#include "irh_known.h"
#include "irh_file.h"
#include "irh_identity.h"
#include "irh_msgs.h"
#include <assert.h>

struct _irh_known_t {
    char *dir;
    zhashx_t *pins;             //  address -> 32-byte key (malloc'd)
    size_t bad_lines;
    bool refused;               //  the file could not be read: never overwrite it
};

static void
s_free_key (void **item)
{
    free (*item);
    *item = NULL;
}

irh_known_t *
irh_known_new (const char *dir)
{
    irh_known_t *self = (irh_known_t *) zmalloc (sizeof (irh_known_t));
    assert (self);
    self->dir = dir ? strdup (dir) : NULL;
    self->pins = zhashx_new ();
    assert (self->pins && (self->dir || !dir));
    zhashx_set_destructor (self->pins, s_free_key);
    return self;
}

void
irh_known_destroy (irh_known_t **self_p)
{
    irh_known_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->pins);
        free (self->dir);
        free (self);
        *self_p = NULL;
    }
}

static void
s_insert (irh_known_t *self, const char *address, const uint8_t *key)
{
    uint8_t *copy = (uint8_t *) malloc (IRH_KEY_BYTES);
    assert (copy);
    memcpy (copy, key, IRH_KEY_BYTES);
    zhashx_update (self->pins, address, copy);
}

size_t
irh_known_parse (irh_known_t *self, const char *text, size_t size)
{
    zhashx_purge (self->pins);
    self->bad_lines = 0;
    size_t at = 0;
    while (at < size) {
        const char *line = text + at;
        const char *end = (const char *) memchr (line, '\n', size - at);
        size_t len = end ? (size_t) (end - line) : size - at;
        at += len + 1;
        if (len == 0 || line [0] == '#')
            continue;
        //  "tcp://HOST:PORT NODEID": at most 64 + 1 + 64 characters.
        char copy [64 + 1 + IRH_NODE_ID_HEX + 1];
        const char *space = (const char *) memchr (line, ' ', len);
        uint8_t key [IRH_KEY_BYTES];
        if (len >= sizeof copy || !space || memchr (line, 0, len)) {
            self->bad_lines++;
            continue;
        }
        memcpy (copy, line, len);
        copy [len] = 0;
        copy [space - line] = 0;
        const char *id = copy + (space - line) + 1;
        if (!irh_known_address_valid (copy) || strlen (id) != IRH_NODE_ID_HEX
        ||  irh_identity_key_from_id (id, key) != 0
        ||  (zhashx_size (self->pins) >= IRH_KNOWN_MAX && !zhashx_lookup (self->pins, copy)))
            self->bad_lines++;
        else
            s_insert (self, copy, key);
    }
    return self->bad_lines;
}

int
irh_known_load (irh_known_t *self, char **err)
{
    char *path = NULL, *text = NULL;
    size_t size = 0;
    zhashx_purge (self->pins);
    if (!self->dir)
        return 0;                       //  no folder: no pins
    if (asprintf (&path, "%s/%s", self->dir, IRH_KNOWN_FILE) < 0)
        return -1;
    int rc = irh_file_read (path, IRH_KNOWN_FILE_MAX, false, &text, &size, err);
    free (path);
    self->refused = rc < 0;
    if (rc == 0)
        irh_known_parse (self, text, size);
    else
        zhashx_purge (self->pins);
    free (text);
    return rc < 0 ? -1 : 0;
}

const uint8_t *
irh_known_lookup (irh_known_t *self, const char *address)
{
    return address ? (const uint8_t *) zhashx_lookup (self->pins, address) : NULL;
}

//  The whole file, sorted by address so rewrites diff cleanly.
static char *
s_text (irh_known_t *self)
{
    zlistx_t *keys = zhashx_keys (self->pins);
    zlistx_set_comparator (keys, (zlistx_comparator_fn *) strcmp);
    zlistx_sort (keys);
    size_t cap = 128 + zlistx_size (keys) * (64 + 1 + IRH_NODE_ID_HEX + 1);
    char *text = (char *) malloc (cap);
    assert (text);
    size_t at = (size_t) snprintf (text, cap, "# irohds known nodes: tcp://HOST:PORT NODEID, "
                                   "pinned on first use (delete a line to trust anew)\n");
    for (const char *address = (const char *) zlistx_first (keys); address;
         address = (const char *) zlistx_next (keys)) {
        char id [IRH_NODE_ID_HEX + 1];
        irh_identity_id_from_key ((const uint8_t *) zhashx_lookup (self->pins, address), id);
        at += (size_t) snprintf (text + at, cap - at, "%s %s\n", address, id);
    }
    zlistx_destroy (&keys);
    return text;
}

int
irh_known_pin (irh_known_t *self, const char *address, const uint8_t *key, char **err)
{
    if (!irh_known_address_valid (address)) {
        if (err)
            *err = strdup ("not tcp://HOST:PORT");
        return -1;
    }
    if (!self->dir) {
        if (err)
            *err = strdup ("no known-nodes folder");
        return -1;
    }
    if (self->refused) {
        if (err)
            *err = strdup ("the known-nodes file was refused when read: not overwriting it");
        return -1;
    }
    if (zhashx_size (self->pins) >= IRH_KNOWN_MAX && !zhashx_lookup (self->pins, address)) {
        if (err)
            *err = strdup ("too many pinned nodes");
        return -1;
    }
    if (irh_file_private_dir (self->dir, err) != 0)
        return -1;
    s_insert (self, address, key);
    char *text = s_text (self);
    int rc = irh_file_write (self->dir, IRH_KNOWN_FILE, text, 0600, true, err);
    free (text);
    return rc;
}

size_t
irh_known_size (irh_known_t *self)
{
    return zhashx_size (self->pins);
}

size_t
irh_known_bad_lines (irh_known_t *self)
{
    return self->bad_lines;
}

zframe_t *
irh_known_ask_encode (void)
{
    irh_peer_key_ask_t ask = { .magic = IRH_KNOWN_ASK_MAGIC, .version = IRH_KNOWN_VERSION };
    return irh_peer_key_ask_encode (&ask);
}

bool
irh_known_ask_valid (const uint8_t *data, size_t size)
{
    irh_peer_key_ask_t ask = { .magic = IRH_KNOWN_ASK_MAGIC, .version = IRH_KNOWN_VERSION };
    uint8_t expected [32];
    size_t len = irh_peer_key_ask_encode_buf (&ask, expected, sizeof expected);
    return len > 0 && size == len && memcmp (data, expected, len) == 0;
}

zframe_t *
irh_known_answer_encode (const uint8_t *key)
{
    irh_peer_key_t answer;
    memset (&answer, 0, sizeof answer);
    answer.magic = IRH_KNOWN_KEY_MAGIC;
    answer.version = IRH_KNOWN_VERSION;
    memcpy (answer.node_id, key, IRH_KEY_BYTES);
    return irh_peer_key_encode (&answer);
}

int
irh_known_answer_decode (const uint8_t *data, size_t size, uint8_t *key)
{
    irh_peer_key_t answer;
    irh_peer_key_t empty = { 0 };
    if (!data || size != irh_peer_key_encoded_size (&empty)
    ||  irh_peer_key_decode_buf (data, size, &answer) != 0
    ||  answer.magic != IRH_KNOWN_KEY_MAGIC || answer.version != IRH_KNOWN_VERSION)
        return -1;
    memcpy (key, answer.node_id, IRH_KEY_BYTES);
    return 0;
}

void
irh_known_advertise (const char *advertise, const char *listen, int port, char *out,
                     size_t size)
{
    if (advertise && irh_known_address_valid (advertise)) {
        snprintf (out, size, "%s", advertise);
        return;
    }
    const char *host = strncmp (listen, "tcp://", 6) == 0 ? listen + 6 : listen;
    const char *colon = strrchr (host, ':');
    int host_len = colon ? (int) (colon - host) : (int) strlen (host);
    bool wildcard = (host_len == 7 && memcmp (host, "0.0.0.0", 7) == 0)
                 || (host_len == 1 && host [0] == '*');
    if (host_len > 0 && !wildcard) {
        snprintf (out, size, "tcp://%.*s:%d", host_len, host, port);
        return;
    }
    const char *address = "127.0.0.1";
    ziflist_t *iflist = ziflist_new ();
    if (iflist && ziflist_first (iflist))
        address = ziflist_address (iflist);
    snprintf (out, size, "tcp://%s:%d", address, port);
    ziflist_destroy (&iflist);
}
