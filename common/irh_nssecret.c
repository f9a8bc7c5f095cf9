/*  irh_nssecret.c: join tokens, secret files and the key schedule of
    namespaces with a secret (see irh_nssecret.h, docs/namespaces.md).

    Tokens and files come from users and disks: every decoder here is
    strict (one spelling of each token: base64url without padding and with
    zero trailing bits, libsodium's strict decoder) and bounded before a
    byte is decoded.
*/
#include "irh_nssecret.h"
#include "irh_file.h"
#include "irh_identity.h"
#include "irh_known.h"
#include "irh_log.h"
#include "irh_utf8.h"
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KDF_CONTEXT   "irohdsns"      //  crypto_kdf_CONTEXTBYTES = 8
#define S_PAYLOAD_MAX   (IRH_NS_SECRET_BYTES + 1 + IRH_NS_NAME_MAX + 1 + IRH_NS_ADDRESS_MAX \
                         + IRH_KEY_BYTES + IRH_NS_CHECK_BYTES)

bool
irh_ns_name_valid (const char *name)
{
    size_t size = name ? strnlen (name, IRH_NS_NAME_MAX + 1) : 0;
    return size > 0 && size <= IRH_NS_NAME_MAX && irh_utf8_printable (name, size);
}

void
irh_ns_secret_make (uint8_t secret [IRH_NS_SECRET_BYTES])
{
    if (sodium_init () < 0)
        abort ();           //  no randomness at all: nothing safe to do
    randombytes_buf (secret, IRH_NS_SECRET_BYTES);
}

static void
s_check (const uint8_t *data, size_t size, uint8_t check [IRH_NS_CHECK_BYTES])
{
    uint8_t hash [crypto_generichash_BYTES];
    crypto_generichash (hash, sizeof hash, data, size, NULL, 0);
    memcpy (check, hash, IRH_NS_CHECK_BYTES);
}

char *
irh_ns_token_encode (const irh_ns_token_t *token, char **err)
{
    if (!irh_ns_name_valid (token->name)) {
        irh_error_set (err, "a namespace name is 1..%d bytes of printable UTF-8",
                       IRH_NS_NAME_MAX);
        return NULL;
    }
    uint8_t key [IRH_KEY_BYTES];
    size_t address_size = strlen (token->address);
    if (address_size && (!irh_known_address_valid (token->address)
                     ||  irh_identity_key_from_id (token->node_id, key) != 0)) {
        irh_error_set (err, "'%s#%s' is not tcp://HOST:PORT#NODEID", token->address,
                       token->node_id);
        return NULL;
    }
    uint8_t payload [S_PAYLOAD_MAX];
    size_t size = 0, name_size = strlen (token->name);
    memcpy (payload, token->secret, IRH_NS_SECRET_BYTES);
    size += IRH_NS_SECRET_BYTES;
    payload [size++] = (uint8_t) name_size;
    memcpy (payload + size, token->name, name_size);
    size += name_size;
    payload [size++] = (uint8_t) address_size;
    if (address_size) {
        memcpy (payload + size, token->address, address_size);
        size += address_size;
        memcpy (payload + size, key, IRH_KEY_BYTES);
        size += IRH_KEY_BYTES;
    }
    s_check (payload, size, payload + size);
    size += IRH_NS_CHECK_BYTES;
    size_t prefix = strlen (IRH_NS_TOKEN_PREFIX);
    size_t length = sodium_base64_ENCODED_LEN (size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *text = malloc (prefix + length);
    if (text) {
        memcpy (text, IRH_NS_TOKEN_PREFIX, prefix);
        sodium_bin2base64 (text + prefix, length, payload, size,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    }
    else
        irh_error_set (err, "out of memory");
    sodium_memzero (payload, sizeof payload);
    return text;
}

//  The fields of a payload whose check has passed; 0 or -1 with *err.
static int
s_payload_fields (const uint8_t *payload, size_t size, irh_ns_token_t *token, char **err)
{
    size_t at = IRH_NS_SECRET_BYTES;
    if (size < at + 2)
        return irh_error_set (err, "token is malformed: too short");
    memcpy (token->secret, payload, IRH_NS_SECRET_BYTES);
    size_t name_size = payload [at++];
    if (name_size == 0 || at + name_size + 1 > size)
        return irh_error_set (err, "token is malformed: bad namespace name length");
    memcpy (token->name, payload + at, name_size);
    token->name [name_size] = 0;
    at += name_size;
    if (!irh_ns_name_valid (token->name) || strlen (token->name) != name_size)
        return irh_error_set (err, "token is malformed: the namespace name is not printable UTF-8");
    size_t address_size = payload [at++];
    if (address_size > IRH_NS_ADDRESS_MAX)
        return irh_error_set (err, "token is malformed: address too long");
    if (address_size == 0) {
        if (at != size)
            return irh_error_set (err, "token is malformed: bytes after the fields");
        return 0;
    }
    if (at + address_size + IRH_KEY_BYTES != size)
        return irh_error_set (err, "token is malformed: bad address or node key length");
    memcpy (token->address, payload + at, address_size);
    token->address [address_size] = 0;
    at += address_size;
    if (strlen (token->address) != address_size || !irh_known_address_valid (token->address))
        return irh_error_set (err, "token is malformed: the address is not tcp://HOST:PORT");
    irh_identity_id_from_key (payload + at, token->node_id);
    return 0;
}

int
irh_ns_token_decode (const char *text, size_t size, irh_ns_token_t *token, char **err)
{
    memset (token, 0, sizeof *token);
    size_t prefix = strlen (IRH_NS_TOKEN_PREFIX);
    //  "irohdsN:" with another N: a token of a newer (or older) release.
    if (size >= 7 && memcmp (text, "irohds", 6) == 0 && text [6] >= '0' && text [6] <= '9'
    &&  (size < prefix || memcmp (text, IRH_NS_TOKEN_PREFIX, prefix) != 0)) {
        size_t shown = 0;
        while (shown < size && shown < 12 && text [shown] != ':')
            shown++;
        return irh_error_set (err, "token version '%.*s' is not supported (this release reads %.*s)",
                              (int) shown, text, (int) prefix - 1, IRH_NS_TOKEN_PREFIX);
    }
    if (size < prefix || memcmp (text, IRH_NS_TOKEN_PREFIX, prefix) != 0)
        return irh_error_set (err, "not a join token (it starts with '%s')", IRH_NS_TOKEN_PREFIX);
    if (size > IRH_NS_TOKEN_MAX)
        return irh_error_set (err, "token is damaged: %zu characters, more than a token has (%d)",
                              size, IRH_NS_TOKEN_MAX);
    //  The alphabet is checked here first: libsodium's constant-time
    //  decoder reads bytes as signed chars, so 0x80.. bytes can alias
    //  '-' and '_' (found by fuzz_nssecret), and a token has one spelling.
    for (size_t at = prefix; at < size; at++) {
        unsigned char c = (unsigned char) text [at];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || c == '-' || c == '_'))
            return irh_error_set (err, "token is damaged: character %zu is not base64url "
                                  "(mistyped or cut?)", at + 1);
    }
    uint8_t payload [S_PAYLOAD_MAX + 3];
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin (payload, sizeof payload, text + prefix, size - prefix, NULL, &got,
                           &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0
    ||  end != text + size)
        return irh_error_set (err, "token is damaged: not base64url after '%s' "
                              "(mistyped or cut?)", IRH_NS_TOKEN_PREFIX);
    int rc = 0;
    uint8_t check [IRH_NS_CHECK_BYTES];
    if (got < IRH_NS_SECRET_BYTES + 2 + IRH_NS_CHECK_BYTES)
        rc = irh_error_set (err, "token is damaged: too short (cut?)");
    else {
        got -= IRH_NS_CHECK_BYTES;
        s_check (payload, got, check);
        if (sodium_memcmp (check, payload + got, IRH_NS_CHECK_BYTES) != 0)
            rc = irh_error_set (err, "token is damaged: its check does not match "
                                "(mistyped, cut or altered)");
    }
    if (rc == 0)
        rc = s_payload_fields (payload, got, token, err);
    sodium_memzero (payload, sizeof payload);
    if (rc != 0)
        sodium_memzero (token, sizeof *token);
    return rc;
}

int
irh_ns_file_parse (const char *text, size_t size, irh_ns_token_t *token, char **err)
{
    memset (token, 0, sizeof *token);
    if (size > IRH_NS_FILE_MAX || memchr (text, 0, size))
        return irh_error_set (err, "too large or binary");
    const char *line = NULL;
    size_t line_size = 0;
    for (size_t at = 0; at < size; ) {
        const char *start = text + at;
        const char *newline = memchr (start, '\n', size - at);
        size_t length = newline ? (size_t) (newline - start) : size - at;
        at += length + (newline ? 1 : 0);
        if (length == 0 || start [0] == '#')
            continue;
        if (line)
            return irh_error_set (err, "more than one token line");
        line = start;
        line_size = length;
    }
    if (!line)
        return irh_error_set (err, "no token line");
    return irh_ns_token_decode (line, line_size, token, err);
}

char *
irh_ns_file_text (const irh_ns_token_t *token, char **err)
{
    char *encoded = irh_ns_token_encode (token, err);
    if (!encoded)
        return NULL;
    char *text = NULL;
    if (asprintf (&text, "# irohds namespace secret: never share this file; share the join\n"
                         "# token (irohds-ctl ns ls --show-secret) with the nodes you trust.\n"
                         "%s\n", encoded) < 0) {
        text = NULL;
        irh_error_set (err, "out of memory");
    }
    sodium_memzero (encoded, strlen (encoded));
    free (encoded);
    return text;
}

int
irh_ns_file_load (const char *path, irh_ns_token_t *token, char **err)
{
    char *text = NULL, *problem = NULL;
    size_t size = 0;
    int rc = irh_file_read (path, IRH_NS_FILE_MAX, true, &text, &size, err);
    if (rc != 0)
        return rc;
    rc = irh_ns_file_parse (text, size, token, &problem);
    if (rc != 0)
        irh_error_set (err, "%s: %s; refusing it", path, problem ? problem : "unreadable");
    sodium_memzero (text, size);
    free (text);
    free (problem);
    return rc;
}

int
irh_ns_file_save (const char *dir, const irh_ns_token_t *token, char **err)
{
    if (irh_file_private_dir (dir, err) != 0)
        return -1;
    char *text = irh_ns_file_text (token, err);
    if (!text)
        return -1;
    irh_ns_keys_t keys;
    irh_ns_keys_derive (token->secret, token->name, &keys);
    char name [IRH_NS_ID_HEX + sizeof IRH_NS_FILE_SUFFIX];
    snprintf (name, sizeof name, "%s%s", keys.id_hex, IRH_NS_FILE_SUFFIX);
    irh_ns_keys_wipe (&keys);
    int rc = irh_file_write (dir, name, text, 0600, true, err);
    sodium_memzero (text, strlen (text));
    free (text);
    return rc < 0 ? -1 : 0;
}

//  True for "<64 hex>.ns", the only names the secret files have.
static bool
s_file_name (const char *name)
{
    size_t size = strlen (name), suffix = strlen (IRH_NS_FILE_SUFFIX);
    if (size != IRH_NS_ID_HEX + suffix || strcmp (name + IRH_NS_ID_HEX, IRH_NS_FILE_SUFFIX) != 0)
        return false;
    for (size_t i = 0; i < IRH_NS_ID_HEX; i++)
        if (!((name [i] >= '0' && name [i] <= '9') || (name [i] >= 'a' && name [i] <= 'f')))
            return false;
    return true;
}

//  Loads dir/name into item; 0, or -1 with *err.
static int
s_list_entry (const char *dir, const char *name, irh_ns_entry_t *item, char **err)
{
    if (asprintf (&item->path, "%s/%s", dir, name) < 0) {
        item->path = NULL;
        return irh_error_set (err, "out of memory");
    }
    int rc = irh_ns_file_load (item->path, &item->token, err);
    if (rc == 1)                //  removed since the listing
        rc = irh_error_set (err, "%s: removed while being read", item->path);
    if (rc == 0) {
        irh_ns_keys_t keys;
        irh_ns_keys_derive (item->token.secret, item->token.name, &keys);
        memcpy (item->id, keys.id_hex, sizeof item->id);
        irh_ns_keys_wipe (&keys);
        if (strncmp (item->id, name, IRH_NS_ID_HEX) != 0)
            rc = irh_error_set (err, "%s: its name is not the id of the namespace it holds "
                                "(renamed?); refusing it", item->path);
    }
    return rc;
}

int
irh_ns_list_load (const char *dir, irh_ns_list_t *list, char **err)
{
    memset (list, 0, sizeof *list);
    DIR *handle = opendir (dir);
    if (!handle)
        return errno == ENOENT ? 0 : irh_error_set (err, "%s: %s", dir, strerror (errno));
    list->items = calloc (IRH_NS_LIST_MAX, sizeof (irh_ns_entry_t));
    list->errors = calloc (IRH_NS_LIST_MAX, sizeof (char *));
    if (!list->items || !list->errors) {
        closedir (handle);
        irh_ns_list_free (list);
        return irh_error_set (err, "out of memory");
    }
    struct dirent *entry;
    while ((entry = readdir (handle))
       &&  list->count + list->refused < IRH_NS_LIST_MAX) {
        if (!s_file_name (entry->d_name))
            continue;           //  temp files of a write under way, ".", ".."
        irh_ns_entry_t *item = &list->items [list->count];
        char *problem = NULL;
        if (s_list_entry (dir, entry->d_name, item, &problem) == 0)
            list->count++;
        else {
            list->errors [list->refused++] = problem ? problem : strdup (entry->d_name);
            free (item->path);
            sodium_memzero (item, sizeof *item);
        }
    }
    closedir (handle);
    return 0;
}

irh_ns_entry_t *
irh_ns_list_find (irh_ns_list_t *list, const char *name)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp (list->items [i].token.name, name) == 0)
            return &list->items [i];
    return NULL;
}

int
irh_ns_lookup (const char *dir, const char *name, uint8_t id [IRH_NS_KEY_BYTES],
               uint8_t blind [IRH_NS_KEY_BYTES], char *error, size_t error_size)
{
    if (error && error_size)
        error [0] = 0;
    if (!dir || !name)
        return -1;
    irh_ns_list_t list;
    char *err = NULL;
    if (irh_ns_list_load (dir, &list, &err) != 0) {
        if (error && error_size)
            snprintf (error, error_size, "%s", err ? err : dir);
        free (err);
        return -1;
    }
    //  A name whose file was refused is an error, not "no secret": the
    //  caller must not fall back to sharing it as a public namespace.
    //  The refused file's name is its id, not its namespace name, so any
    //  refused file makes an unmatched name an error.
    irh_ns_entry_t *entry = irh_ns_list_find (&list, name);
    int rc = entry ? 1 : list.refused ? -1 : 0;
    if (rc < 0 && error && error_size)
        snprintf (error, error_size, "%s", list.errors [0]);
    if (entry) {
        irh_ns_keys_t keys;
        irh_ns_keys_derive (entry->token.secret, name, &keys);
        memcpy (id, keys.id, IRH_NS_KEY_BYTES);
        memcpy (blind, keys.key [IRH_NS_KEY_BLIND], IRH_NS_KEY_BYTES);
        irh_ns_keys_wipe (&keys);
    }
    irh_ns_list_free (&list);
    return rc;
}

void
irh_ns_list_free (irh_ns_list_t *list)
{
    for (size_t i = 0; list->items && i < list->count; i++)
        free (list->items [i].path);
    if (list->items)
        sodium_memzero (list->items, IRH_NS_LIST_MAX * sizeof (irh_ns_entry_t));
    free (list->items);
    for (size_t i = 0; list->errors && i < list->refused; i++)
        free (list->errors [i]);
    free (list->errors);
    memset (list, 0, sizeof *list);
}

void
irh_ns_keys_derive (const uint8_t secret [IRH_NS_SECRET_BYTES], const char *name,
                    irh_ns_keys_t *keys)
{
    //  The root binds the name: the same secret under two names gives
    //  two unrelated sets of keys (and ids).
    uint8_t root [crypto_kdf_KEYBYTES];
    crypto_generichash (root, sizeof root, (const uint8_t *) name, strlen (name),
                        secret, IRH_NS_SECRET_BYTES);
    memset (keys, 0, sizeof *keys);
    for (int purpose = 1; purpose <= IRH_NS_PURPOSES; purpose++)
        crypto_kdf_derive_from_key (keys->key [purpose], IRH_NS_KEY_BYTES, (uint64_t) purpose,
                                    S_KDF_CONTEXT, root);
    memcpy (keys->id, keys->key [IRH_NS_KEY_ID], IRH_NS_KEY_BYTES);
    irh_identity_id_from_key (keys->id, keys->id_hex);
    sodium_memzero (root, sizeof root);
}

void
irh_ns_blind (const irh_ns_keys_t *keys, const uint8_t key [32], uint8_t out [32])
{
    crypto_generichash (out, 32, key, 32, keys->key [IRH_NS_KEY_BLIND], IRH_NS_KEY_BYTES);
}

void
irh_ns_mac (const irh_ns_keys_t *keys, irh_ns_purpose_t purpose, const void *data,
            size_t size, uint8_t tag [32])
{
    assert (purpose >= 1 && purpose <= IRH_NS_PURPOSES);
    crypto_generichash (tag, 32, (const uint8_t *) data, size, keys->key [purpose],
                        IRH_NS_KEY_BYTES);
}

int
irh_ns_mac_verify (const irh_ns_keys_t *keys, irh_ns_purpose_t purpose,
                   const void *data, size_t size, const uint8_t tag [32])
{
    uint8_t expected [32];
    irh_ns_mac (keys, purpose, data, size, expected);
    int rc = sodium_memcmp (expected, tag, 32) == 0 ? 0 : -1;
    sodium_memzero (expected, sizeof expected);
    return rc;
}

void
irh_ns_keys_wipe (irh_ns_keys_t *keys)
{
    sodium_memzero (keys, sizeof *keys);
}
