//  Namespace secrets (common/irh_nssecret): tokens round-trip and decode
//  strictly (a mistyped, cut or altered token is "damaged", another
//  version is named, garbage is "not a token"); secret files load only
//  when private, regular and not a symlink; the key schedule gives one key
//  per purpose, bound to the name, fixed for a given secret (vector).
#include "irh_nssecret.h"
#include <assert.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); abort (); } \
} while (0)

static const char *s_node =
    "5b71aed3d286a4e7f5216bb09fd9345eb05574fae648e64f0c345e7cff1b7778";

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

//  Decodes text; returns 0 or -1 and checks the message holds expect.
static int
s_decode (const char *text, irh_ns_token_t *token, const char *expect)
{
    char *err = NULL;
    int rc = irh_ns_token_decode (text, strlen (text), token, &err);
    if (rc != 0) {
        CHECK (err);
        if (!expect || !strstr (err, expect)) {
            fprintf (stderr, "message '%s' lacks '%s'\n", err, expect ? expect : "(none)");
            abort ();
        }
    }
    else
        CHECK (!expect);
    free (err);
    return rc;
}

static void
s_test_tokens (void)
{
    irh_ns_token_t token, back;
    memset (&token, 0, sizeof token);
    snprintf (token.name, sizeof token.name, "team \xc3\xa9t\xc3\xa9");
    for (int i = 0; i < IRH_NS_SECRET_BYTES; i++)
        token.secret [i] = (uint8_t) (i * 7 + 1);
    snprintf (token.address, sizeof token.address, "tcp://198.18.0.2:47460");
    snprintf (token.node_id, sizeof token.node_id, "%s", s_node);
    char *text = irh_ns_token_encode (&token, NULL);
    CHECK (text);
    CHECK (strncmp (text, IRH_NS_TOKEN_PREFIX, strlen (IRH_NS_TOKEN_PREFIX)) == 0);
    CHECK (strlen (text) <= IRH_NS_TOKEN_MAX);
    //  Shell-safe: letters, digits, '-', '_' after the prefix.
    for (const char *c = text + strlen (IRH_NS_TOKEN_PREFIX); *c; c++)
        CHECK (strchr ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", *c));
    CHECK (s_decode (text, &back, NULL) == 0);
    CHECK (memcmp (&back, &token, sizeof token) == 0);

    //  Every single-character change is caught (the check, or base64).
    size_t size = strlen (text);
    for (size_t at = strlen (IRH_NS_TOKEN_PREFIX); at < size; at++) {
        char saved = text [at];
        text [at] = saved == 'A' ? 'B' : 'A';
        CHECK (s_decode (text, &back, "damaged") == -1);
        text [at] = saved;
    }
    //  A byte >= 0x80 where '_' or '-' stands (libsodium's decoder alone
    //  would take it for one: fuzz_nssecret found it).
    for (size_t at = strlen (IRH_NS_TOKEN_PREFIX); at < size; at++)
        if (text [at] == '_' || text [at] == '-') {
            char saved = text [at];
            text [at] = (char) (saved | 0x80);
            CHECK (s_decode (text, &back, "not base64url") == -1);
            text [at] = saved;
        }
    //  Cut, extended, padded, spaces.
    char *copy = strdup (text);
    copy [size - 3] = 0;
    CHECK (s_decode (copy, &back, "damaged") == -1);
    free (copy);
    char longer [1024];
    snprintf (longer, sizeof longer, "%sAA", text);
    CHECK (s_decode (longer, &back, "damaged") == -1);
    snprintf (longer, sizeof longer, "%s=", text);
    CHECK (s_decode (longer, &back, "damaged") == -1);
    snprintf (longer, sizeof longer, "%s\n", text);
    CHECK (s_decode (longer, &back, "damaged") == -1);
    memset (longer, 'A', sizeof longer - 1);
    longer [sizeof longer - 1] = 0;
    memcpy (longer, IRH_NS_TOKEN_PREFIX, strlen (IRH_NS_TOKEN_PREFIX));
    CHECK (s_decode (longer, &back, "more than a token has") == -1);
    //  Garbage and other versions.
    CHECK (s_decode ("", &back, "not a join token") == -1);
    CHECK (s_decode ("hello", &back, "not a join token") == -1);
    CHECK (s_decode ("irohds1:", &back, "too short") == -1);
    CHECK (s_decode ("irohds1:!!!!", &back, "damaged") == -1);
    CHECK (s_decode ("irohds2:AAAA", &back, "version 'irohds2'") == -1);
    CHECK (s_decode ("irohds12", &back, "version 'irohds12'") == -1);
    free (text);

    //  No address: a token of a namespace whose creator names no node.
    memset (token.address, 0, sizeof token.address);
    memset (token.node_id, 0, sizeof token.node_id);
    text = irh_ns_token_encode (&token, NULL);
    CHECK (text && s_decode (text, &back, NULL) == 0);
    CHECK (memcmp (&back, &token, sizeof token) == 0);
    free (text);
    //  Bad fields are refused at encode.
    char *err = NULL;
    token.name [0] = 0;
    CHECK (irh_ns_token_encode (&token, &err) == NULL && err);
    free (err);
    err = NULL;
    snprintf (token.name, sizeof token.name, "line\nbreak");
    CHECK (irh_ns_token_encode (&token, &err) == NULL && err);
    free (err);
    err = NULL;
    snprintf (token.name, sizeof token.name, "ok");
    snprintf (token.address, sizeof token.address, "udp://x:1");
    snprintf (token.node_id, sizeof token.node_id, "%s", s_node);
    CHECK (irh_ns_token_encode (&token, &err) == NULL && err);
    free (err);
    //  A valid check over malformed fields is "malformed", not "damaged":
    //  a payload with a name length running past the end.
    uint8_t payload [40];
    memset (payload, 0, sizeof payload);
    payload [32] = 200;             //  name length, but 3 bytes follow
    uint8_t hash [32];
    crypto_generichash (hash, sizeof hash, payload, 36, NULL, 0);
    memcpy (payload + 36, hash, 4);
    char encoded [128];
    snprintf (encoded, sizeof encoded, "%s", IRH_NS_TOKEN_PREFIX);
    sodium_bin2base64 (encoded + strlen (encoded), sizeof encoded - strlen (encoded), payload,
                       40, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    CHECK (s_decode (encoded, &back, "malformed") == -1);
}

static void
s_test_keys (void)
{
    uint8_t secret [IRH_NS_SECRET_BYTES];
    for (int i = 0; i < IRH_NS_SECRET_BYTES; i++)
        secret [i] = (uint8_t) i;
    irh_ns_keys_t keys, other, renamed;
    irh_ns_keys_derive (secret, "team", &keys);
    irh_ns_keys_derive (secret, "team", &other);
    CHECK (memcmp (&keys, &other, sizeof keys) == 0);
    //  Fixed for a given secret and name: a change of schedule would cut a
    //  node off from its peers, so it must be deliberate (docs/namespaces.md).
    printf ("  id of (00..1f, \"team\"): %s\n", keys.id_hex);
    CHECK (strcmp (keys.id_hex, "81305aef82bc3daaaaaca3ffe7ef1902d28bb2068414ff287251843d4cf74694") == 0
       ||  getenv ("IRH_NS_PRINT_VECTOR"));
    //  Purposes differ from each other; the name changes all of them.
    irh_ns_keys_derive (secret, "team2", &renamed);
    for (int a = 1; a <= IRH_NS_PURPOSES; a++) {
        CHECK (memcmp (keys.key [a], renamed.key [a], IRH_NS_KEY_BYTES) != 0);
        for (int b = a + 1; b <= IRH_NS_PURPOSES; b++)
            CHECK (memcmp (keys.key [a], keys.key [b], IRH_NS_KEY_BYTES) != 0);
    }
    //  Blinding: deterministic per namespace, different across them.
    uint8_t result [32], blind1 [32], blind2 [32], blind3 [32];
    memset (result, 0x42, sizeof result);
    irh_ns_blind (&keys, result, blind1);
    irh_ns_blind (&keys, result, blind2);
    irh_ns_blind (&renamed, result, blind3);
    CHECK (memcmp (blind1, blind2, 32) == 0 && memcmp (blind1, blind3, 32) != 0);
    CHECK (memcmp (blind1, result, 32) != 0);
    //  MACs verify only with the same key, purpose and bytes.
    uint8_t tag [32];
    irh_ns_mac (&keys, IRH_NS_KEY_DIGEST, "digest", 6, tag);
    CHECK (irh_ns_mac_verify (&keys, IRH_NS_KEY_DIGEST, "digest", 6, tag) == 0);
    CHECK (irh_ns_mac_verify (&keys, IRH_NS_KEY_CLAIM, "digest", 6, tag) == -1);
    CHECK (irh_ns_mac_verify (&renamed, IRH_NS_KEY_DIGEST, "digest", 6, tag) == -1);
    CHECK (irh_ns_mac_verify (&keys, IRH_NS_KEY_DIGEST, "digesT", 6, tag) == -1);
    irh_ns_keys_wipe (&keys);
    irh_ns_keys_wipe (&other);
    irh_ns_keys_wipe (&renamed);
}

static void
s_test_files (void)
{
    char home [] = "/tmp/irohds-nssecret-XXXXXX";
    CHECK (mkdtemp (home));
    char dir [256];
    snprintf (dir, sizeof dir, "%s/ns", home);
    irh_ns_token_t token, back;
    memset (&token, 0, sizeof token);
    snprintf (token.name, sizeof token.name, "files");
    irh_ns_secret_make (token.secret);
    char *err = NULL;
    CHECK (irh_ns_file_save (dir, &token, &err) == 0);
    irh_ns_keys_t keys;
    irh_ns_keys_derive (token.secret, token.name, &keys);
    char path [512];
    snprintf (path, sizeof path, "%s/%s%s", dir, keys.id_hex, IRH_NS_FILE_SUFFIX);
    struct stat st;
    CHECK (stat (dir, &st) == 0 && (st.st_mode & 07777) == 0700);
    CHECK (stat (path, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK (irh_ns_file_load (path, &back, &err) == 0);
    CHECK (memcmp (&back, &token, sizeof token) == 0);
    //  Missing.
    char missing [600];
    snprintf (missing, sizeof missing, "%s/none.ns", dir);
    CHECK (irh_ns_file_load (missing, &back, &err) == 1);
    //  Readable by others: refused, saying why.
    CHECK (chmod (path, 0644) == 0);
    CHECK (irh_ns_file_load (path, &back, &err) == -1 && err && strstr (err, "mode 0644"));
    free (err);
    err = NULL;
    CHECK (chmod (path, 0600) == 0);
    //  A symlink to it: refused.
    char symlinked [600];
    snprintf (symlinked, sizeof symlinked, "%s/link.ns", dir);
    CHECK (symlink (path, symlinked) == 0);
    CHECK (irh_ns_file_load (symlinked, &back, &err) == -1 && err && strstr (err, "symlink"));
    free (err);
    err = NULL;
    //  A FIFO never blocks the load.
    char fifo [600];
    snprintf (fifo, sizeof fifo, "%s/fifo.ns", dir);
    CHECK (mkfifo (fifo, 0600) == 0);
    CHECK (irh_ns_file_load (fifo, &back, &err) == -1 && err && strstr (err, "regular"));
    free (err);
    err = NULL;
    //  The parser: comments and blank lines; one token line, no more.
    char *text = irh_ns_file_text (&token, NULL);
    CHECK (text && irh_ns_file_parse (text, strlen (text), &back, NULL) == 0);
    char doubled [4096];
    snprintf (doubled, sizeof doubled, "%s%s", text, strstr (text, "\n" IRH_NS_TOKEN_PREFIX) + 1);
    CHECK (irh_ns_file_parse (doubled, strlen (doubled), &back, &err) == -1
        && strstr (err, "more than one"));
    free (err);
    err = NULL;
    CHECK (irh_ns_file_parse ("# only a comment\n\n", 18, &back, &err) == -1
        && strstr (err, "no token"));
    free (err);
    err = NULL;
    CHECK (irh_ns_file_parse ("a\0b", 3, &back, &err) == -1 && strstr (err, "binary"));
    free (err);
    free (text);
    //  The listing: the good file; the symlink and FIFO have names that
    //  are not ids, so they are skipped; a file under another id is refused.
    irh_ns_list_t list;
    CHECK (irh_ns_list_load (dir, &list, NULL) == 0);
    CHECK (list.count == 1 && list.refused == 0);
    CHECK (irh_ns_list_find (&list, "files") && !irh_ns_list_find (&list, "other"));
    CHECK (strcmp (list.items [0].id, keys.id_hex) == 0);
    irh_ns_list_free (&list);
    char renamed [600];
    snprintf (renamed, sizeof renamed, "%s/%064d%s", dir, 0, IRH_NS_FILE_SUFFIX);
    CHECK (link (path, renamed) == 0);
    CHECK (chmod (path, 0640) == 0);    //  both names: one inode
    CHECK (irh_ns_list_load (dir, &list, NULL) == 0);
    CHECK (list.count == 0 && list.refused == 2);
    CHECK (strstr (list.errors [0], "mode 0640") && strstr (list.errors [1], "mode 0640"));
    irh_ns_list_free (&list);
    CHECK (chmod (path, 0600) == 0);
    CHECK (irh_ns_list_load (dir, &list, NULL) == 0);
    CHECK (list.count == 1 && list.refused == 1 && strstr (list.errors [0], "not the id"));
    irh_ns_list_free (&list);
    snprintf (missing, sizeof missing, "%s/none", home);
    CHECK (irh_ns_list_load (missing, &list, NULL) == 0 && list.count == 0);
    irh_ns_list_free (&list);
    irh_ns_keys_wipe (&keys);
    nftw (home, s_remove, 8, FTW_DEPTH | FTW_PHYS);
}

int
main (void)
{
    printf (" * irh_nssecret: ");
    CHECK (sodium_init () >= 0);
    s_test_tokens ();
    s_test_keys ();
    s_test_files ();
    printf ("OK\n");
    return 0;
}
