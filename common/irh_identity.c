/*  irh_identity.c: the node's key pairs and name under <home>/identity/
    (see irh_identity.h for the files and rules).

    Files are read and written through irh_file.h (no symlinks, no FIFOs,
    checked before a byte is read). A new key is link()ed to its name,
    which fails if the name exists: when two processes make the identity
    at once, one file wins and both load it.
*/
#include "irh_identity.h"
#include "irh_config.h"
#include "irh_file.h"
#include "irh_log.h"
#include "irh_paths.h"
#include "irh_utf8.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define S_FILE_MAX      4096        //  our files are ~300 bytes; more is not ours
#define S_CERT_SECRET   "node.cert_secret"
#define S_CERT_PUBLIC   "node.cert"
#define S_SIGN_KEY      "sign.key"
#define S_Z85_KEY       40          //  Z85 text of a 32-byte key

struct _irh_identity_t {
    char *dir;
    char node_id [IRH_NODE_ID_HEX + 1];
    char name [IRH_NODE_NAME_MAX + 1];
    uint8_t curve_public [IRH_KEY_BYTES];
    uint8_t curve_secret [IRH_KEY_BYTES];
    uint8_t sign_secret [crypto_sign_SECRETKEYBYTES];   //  seed + public key
    zcert_t *cert;
};

static char *
s_join (const char *dir, const char *name)
{
    char *path = NULL;
    if (asprintf (&path, "%s/%s", dir, name) < 0)
        return NULL;
    return path;
}

void
irh_identity_id_from_key (const uint8_t key [IRH_KEY_BYTES], char *id)
{
    static const char hex [] = "0123456789abcdef";
    for (size_t i = 0; i < IRH_KEY_BYTES; i++) {
        id [2 * i] = hex [key [i] >> 4];
        id [2 * i + 1] = hex [key [i] & 15];
    }
    id [IRH_NODE_ID_HEX] = 0;
}

static int
s_hex_digit (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;          //  upper case too: an id has one spelling
}

int
irh_identity_key_from_id (const char *id, uint8_t key [IRH_KEY_BYTES])
{
    if (!id || strlen (id) != IRH_NODE_ID_HEX)
        return -1;
    for (size_t i = 0; i < IRH_KEY_BYTES; i++) {
        int high = s_hex_digit (id [2 * i]), low = s_hex_digit (id [2 * i + 1]);
        if (high < 0 || low < 0)
            return -1;
        key [i] = (uint8_t) (high << 4 | low);
    }
    return 0;
}

bool
irh_identity_name_valid (const char *name)
{
    size_t size = name ? strlen (name) : 0;
    return size > 0 && size <= IRH_NODE_NAME_MAX && irh_utf8_printable (name, size);
}

//  Parses ZPL text (no NULs) into a zconfig tree, NULL with *err if not.
static zconfig_t *
s_parse_zpl (const char *text, size_t size, const char *what, char **err)
{
    if (size == 0 || size > S_FILE_MAX || memchr (text, 0, size)) {
        irh_error_set (err, "%s: empty, too large or binary", what);
        return NULL;
    }
    //  zconfig_str_load wants a C string; text may not end with a NUL.
    char *copy = strndup (text, size);
    zconfig_t *root = copy ? zconfig_str_load (copy) : NULL;
    free (copy);
    if (!root)
        irh_error_set (err, "%s: not in zcert/ZPL format", what);
    return root;
}

static int
s_z85_key (zconfig_t *root, const char *path, uint8_t key [IRH_KEY_BYTES], char **err)
{
    const char *text = zconfig_get (root, path, NULL);
    if (!text)
        return irh_error_set (err, "no %s", path);
    if (strlen (text) != S_Z85_KEY || !zmq_z85_decode (key, text))
        return irh_error_set (err, "%s is not a Z85 key of %d characters", path, S_Z85_KEY);
    return 0;
}

int
irh_identity_decode_cert (const char *text, size_t size, uint8_t public_key [IRH_KEY_BYTES],
                          uint8_t *secret, char **err)
{
    zconfig_t *root = s_parse_zpl (text, size, "certificate", err);
    if (!root)
        return -1;
    int rc = s_z85_key (root, "curve/public-key", public_key, err);
    if (rc == 0 && secret) {
        rc = s_z85_key (root, "curve/secret-key", secret, err);
        uint8_t derived [IRH_KEY_BYTES];
        if (rc == 0 && (crypto_scalarmult_base (derived, secret) != 0
                    ||  sodium_memcmp (derived, public_key, IRH_KEY_BYTES) != 0))
            rc = irh_error_set (err, "curve/secret-key does not belong to curve/public-key");
    }
    zconfig_destroy (&root);
    return rc;
}

static int
s_hex_key (const char *text, uint8_t *key, size_t bytes)
{
    if (!text || strlen (text) != 2 * bytes)
        return -1;
    return sodium_hex2bin (key, bytes, text, 2 * bytes, NULL, NULL, NULL) == 0 ? 0 : -1;
}

int
irh_identity_decode_sign (const char *text, size_t size, uint8_t *secret, char **err)
{
    zconfig_t *root = s_parse_zpl (text, size, "signing key", err);
    if (!root)
        return -1;
    uint8_t seed [crypto_sign_SEEDBYTES], public_key [crypto_sign_PUBLICKEYBYTES];
    uint8_t written [crypto_sign_PUBLICKEYBYTES];
    int rc = 0;
    if (s_hex_key (zconfig_get (root, "ed25519/seed", NULL), seed, sizeof (seed)) != 0)
        rc = irh_error_set (err, "ed25519/seed is not %d hex characters", 2 * crypto_sign_SEEDBYTES);
    else
    if (s_hex_key (zconfig_get (root, "ed25519/public-key", NULL), written, sizeof (written)))
        rc = irh_error_set (err, "ed25519/public-key is not %d hex characters",
                     2 * crypto_sign_PUBLICKEYBYTES);
    else {
        crypto_sign_seed_keypair (public_key, secret, seed);
        if (sodium_memcmp (public_key, written, sizeof (written)) != 0)
            rc = irh_error_set (err, "ed25519/public-key does not belong to ed25519/seed");
    }
    sodium_memzero (seed, sizeof (seed));
    zconfig_destroy (&root);
    return rc;
}

//  Text of a file in zcert's layout; the node id goes in the metadata for
//  people reading the file.
static char *
s_cert_text (const uint8_t public_key [IRH_KEY_BYTES], const uint8_t *secret)
{
    char z85 [S_Z85_KEY + 1], id [IRH_NODE_ID_HEX + 1];
    zconfig_t *root = zconfig_new ("root", NULL);
    zconfig_set_comment (root, "   irohds node certificate%s",
                         secret ? " with its SECRET key: never share this file" : "");
    irh_identity_id_from_key (public_key, id);
    zconfig_put (root, "metadata/node-id", id);
    zconfig_put (root, "curve/public-key", zmq_z85_encode (z85, public_key, IRH_KEY_BYTES));
    if (secret)
        zconfig_put (root, "curve/secret-key", zmq_z85_encode (z85, secret, IRH_KEY_BYTES));
    char *text = zconfig_str_save (root);
    zconfig_destroy (&root);
    sodium_memzero (z85, sizeof (z85));
    return text;
}

static int
s_free_fail (char *path)
{
    free (path);
    return -1;
}

//  Loads dir/name into the keys with decode, creating it with make first
//  if missing. make returns the malloc'd text of a new file.
typedef char *(s_make_fn) (void);
typedef int (s_decode_fn) (irh_identity_t *self, const char *text, size_t size, char **err);

static int
s_load_or_make (irh_identity_t *self, const char *name, s_make_fn *make,
                s_decode_fn *decode, char **err)
{
    char *path = s_join (self->dir, name);
    if (!path)
        return irh_error_set (err, "out of memory");
    int rc = -1;
    bool done = false;          //  rc and *err final
    for (int attempt = 0; attempt < 3 && !done; attempt++) {
        char *text = NULL, *problem = NULL;
        size_t size = 0;
        int found = irh_file_read (path, S_FILE_MAX, true, &text, &size, err);
        if (found == 0) {
            rc = decode (self, text, size, &problem);
            if (rc != 0)
                irh_error_set (err, "%s: %s; refusing it (move it away to make a new identity,"
                             " which changes this node's id)", path, problem);
            sodium_memzero (text, size);
            free (text);
            free (problem);
            done = true;
            break;
        }
        if (found < 0)
            return s_free_fail (path);
        char *fresh = make ();
        if (!fresh) {
            irh_error_set (err, "out of memory");
            return s_free_fail (path);
        }
        int wrote = irh_file_write (self->dir, name, fresh, 0600, false, err);
        sodium_memzero (fresh, strlen (fresh));
        zstr_free (&fresh);
        if (wrote < 0)
            return s_free_fail (path);
        if (wrote == 0)
            irh_info ("made %s", path);
        //  Loop: read back what is there now (ours, or a racing process's).
    }
    if (!done)
        irh_error_set (err, "%s: removed as soon as made; something else manages this folder", path);
    free (path);
    return rc;
}

static char *
s_make_cert (void)
{
    uint8_t public_key [IRH_KEY_BYTES], secret [IRH_KEY_BYTES];
    crypto_box_keypair (public_key, secret);
    char *text = s_cert_text (public_key, secret);
    sodium_memzero (secret, sizeof (secret));
    return text;
}

static int
s_decode_cert (irh_identity_t *self, const char *text, size_t size, char **err)
{
    return irh_identity_decode_cert (text, size, self->curve_public, self->curve_secret, err);
}

static char *
s_make_sign (void)
{
    uint8_t public_key [crypto_sign_PUBLICKEYBYTES], secret [crypto_sign_SECRETKEYBYTES];
    uint8_t seed [crypto_sign_SEEDBYTES];
    crypto_sign_keypair (public_key, secret);
    crypto_sign_ed25519_sk_to_seed (seed, secret);
    char seed_hex [2 * crypto_sign_SEEDBYTES + 1], public_hex [2 * crypto_sign_PUBLICKEYBYTES + 1];
    sodium_bin2hex (seed_hex, sizeof (seed_hex), seed, sizeof (seed));
    sodium_bin2hex (public_hex, sizeof (public_hex), public_key, sizeof (public_key));
    zconfig_t *root = zconfig_new ("root", NULL);
    zconfig_set_comment (root, "   irohds node signing key (Ed25519): SECRET, never share this file");
    zconfig_put (root, "ed25519/seed", seed_hex);
    zconfig_put (root, "ed25519/public-key", public_hex);
    char *text = zconfig_str_save (root);
    zconfig_destroy (&root);
    sodium_memzero (secret, sizeof (secret));
    sodium_memzero (seed, sizeof (seed));
    sodium_memzero (seed_hex, sizeof (seed_hex));
    return text;
}

static int
s_decode_sign (irh_identity_t *self, const char *text, size_t size, char **err)
{
    return irh_identity_decode_sign (text, size, self->sign_secret, err);
}

//  node.cert: written from the secret certificate when missing; when
//  present it must name the same key (else someone swapped one of them).
static int
s_public_cert (irh_identity_t *self, char **err)
{
    char *path = s_join (self->dir, S_CERT_PUBLIC);
    char *text = NULL, *problem = NULL;
    size_t size = 0;
    int rc = path ? irh_file_read (path, S_FILE_MAX, false, &text, &size, err) : irh_error_set (err, "out of memory");
    if (rc == 0) {
        uint8_t key [IRH_KEY_BYTES];
        if (irh_identity_decode_cert (text, size, key, NULL, &problem) != 0)
            rc = irh_error_set (err, "%s: %s; refusing it (delete it: it is remade from %s)",
                         path, problem, S_CERT_SECRET);
        else
        if (memcmp (key, self->curve_public, IRH_KEY_BYTES) != 0)
            rc = irh_error_set (err, "%s: names another key than %s; refusing both "
                              "(delete %s if %s is the right one)",
                         path, S_CERT_SECRET, S_CERT_PUBLIC, S_CERT_SECRET);
    }
    else
    if (rc == 1) {
        char *fresh = s_cert_text (self->curve_public, NULL);
        rc = fresh ? irh_file_write (self->dir, S_CERT_PUBLIC, fresh, 0644, false, err)
                   : irh_error_set (err, "out of memory");
        zstr_free (&fresh);
        if (rc == 1)        //  a racing process wrote it: check what it wrote
            rc = s_public_cert (self, err);
    }
    free (text);
    free (problem);
    free (path);
    return rc < 0 ? -1 : 0;
}

//  config node.name, else the host name, else "node".
static void
s_load_name (irh_identity_t *self, const char *config_path)
{
    irh_config_t *config = irh_config_load (config_path);
    const char *name = irh_config_str (config, "node.name", NULL);
    if (name && !irh_identity_name_valid (name)) {
        irh_warn ("%s: node.name must be 1..%d bytes of printable UTF-8; using the host name",
                  config_path, IRH_NODE_NAME_MAX);
        name = NULL;
    }
    char host [256] = "";
    if (!name && gethostname (host, sizeof (host) - 1) == 0) {
        //  A long host name is cut at a character boundary, never refused.
        size_t size = strnlen (host, IRH_NODE_NAME_MAX);
        while (size > 0 && !irh_utf8_valid (host, size))
            size--;
        host [size] = 0;
        if (irh_identity_name_valid (host))
            name = host;
    }
    const char *chosen = name ? name : "node";
    size_t size = strlen (chosen);
    assert (size <= IRH_NODE_NAME_MAX);         //  checked by irh_identity_name_valid
    memcpy (self->name, chosen, size + 1);
    irh_config_destroy (&config);
}

irh_identity_t *
irh_identity_load_or_create (const char *home, char **err)
{
    if (sodium_init () < 0) {
        irh_error_set (err, "libsodium failed to initialise");
        return NULL;
    }
    irh_paths_t *paths = irh_paths_new (home, true, err);
    if (!paths)
        return NULL;
    irh_identity_t *self = (irh_identity_t *) zmalloc (sizeof (irh_identity_t));
    self->dir = s_join (paths->home, "identity");
    int rc = self->dir ? irh_file_private_dir (self->dir, err) : irh_error_set (err, "out of memory");
    if (rc == 0)
        rc = s_load_or_make (self, S_CERT_SECRET, s_make_cert, s_decode_cert, err);
    if (rc == 0)
        rc = s_public_cert (self, err);
    if (rc == 0)
        rc = s_load_or_make (self, S_SIGN_KEY, s_make_sign, s_decode_sign, err);
    if (rc == 0) {
        irh_identity_id_from_key (self->curve_public, self->node_id);
        s_load_name (self, paths->config);
        self->cert = zcert_new_from (self->curve_public, self->curve_secret);
        if (!self->cert)
            rc = irh_error_set (err, "out of memory");
    }
    irh_paths_destroy (&paths);
    if (rc != 0)
        irh_identity_destroy (&self);
    return self;
}

int
irh_identity_load_public (const char *home, uint8_t key [IRH_KEY_BYTES], char **err)
{
    irh_paths_t *paths = irh_paths_new (home, false, err);
    if (!paths)
        return -1;
    char *path = NULL;
    if (asprintf (&path, "%s/identity/%s", paths->home, S_CERT_PUBLIC) < 0)
        path = NULL;
    irh_paths_destroy (&paths);
    if (!path)
        return irh_error_set (err, "out of memory");
    char *text = NULL, *problem = NULL;
    size_t size = 0;
    int rc = irh_file_read (path, S_FILE_MAX, false, &text, &size, err);
    if (rc == 0 && irh_identity_decode_cert (text, size, key, NULL, &problem) != 0)
        rc = irh_error_set (err, "%s: %s", path, problem);
    free (text);
    free (problem);
    free (path);
    return rc;
}

void
irh_identity_destroy (irh_identity_t **self_p)
{
    if (self_p && *self_p) {
        irh_identity_t *self = *self_p;
        zcert_destroy (&self->cert);
        free (self->dir);
        sodium_memzero (self, sizeof (*self));
        free (self);
        *self_p = NULL;
    }
}

const char *
irh_identity_node_id (irh_identity_t *self)
{
    assert (self);
    return self->node_id;
}

const char *
irh_identity_name (irh_identity_t *self)
{
    assert (self);
    return self->name;
}

const uint8_t *
irh_identity_curve_public (irh_identity_t *self)
{
    assert (self);
    return self->curve_public;
}

const uint8_t *
irh_identity_curve_secret (irh_identity_t *self)
{
    assert (self);
    return self->curve_secret;
}

const uint8_t *
irh_identity_sign_public (irh_identity_t *self)
{
    assert (self);
    //  libsodium's Ed25519 secret key is seed || public key.
    return self->sign_secret + crypto_sign_SEEDBYTES;
}

zcert_t *
irh_identity_cert (irh_identity_t *self)
{
    assert (self);
    return self->cert;
}

const char *
irh_identity_dir (irh_identity_t *self)
{
    assert (self);
    return self->dir;
}

void
irh_identity_sign (irh_identity_t *self, const void *data, size_t size,
                   uint8_t signature [IRH_SIGNATURE_BYTES])
{
    assert (self);
    assert (data || size == 0);
    crypto_sign_detached (signature, NULL, (const uint8_t *) data, size, self->sign_secret);
}

int
irh_identity_verify (const uint8_t public_key [IRH_KEY_BYTES], const void *data, size_t size,
                     const uint8_t signature [IRH_SIGNATURE_BYTES])
{
    return crypto_sign_verify_detached (signature, (const uint8_t *) data, size, public_key) == 0
           ? 0 : -1;
}
