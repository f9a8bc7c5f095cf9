/*  irh_nssecret.h: namespaces with a secret (docs/namespaces.md): the join
    token, the secret files under <home>/ns/ and the key schedule.

    Join token: one shell-safe word, "irohds1:" followed by base64url
    without padding of

        secret (32) | name length (1) | name (1..255, printable UTF-8)
        | address length (1) | address (0..64, tcp://HOST:PORT)
        | node key (32, only when the address is not empty)
        | check (4: the first bytes of BLAKE2b-256 of all before)

    The check tells a mistyped or cut token ("damaged") apart from a well
    formed one; it is not a signature: anyone can make a valid token, and
    what protects a namespace is that its secret is not guessed.

    Secret file: <home>/ns/<namespace id hex>.ns, mode 0600, '#' comment
    lines and exactly one token line. Read through irh_file (O_NOFOLLOW,
    O_NONBLOCK, regular, ours, not readable by others, bounded).

    Key schedule: root = BLAKE2b-256 keyed with the secret over the name;
    every purpose key is crypto_kdf_derive_from_key (root, id, "irohdsns").
    The decoders here take outside bytes and are fuzzed (fuzz/fuzz_nssecret.c).
*/
#ifndef IRH_NSSECRET_H_INCLUDED
#define IRH_NSSECRET_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IRH_NS_SECRET_BYTES   32
#define IRH_NS_KEY_BYTES      32
#define IRH_NS_ID_HEX         64
#define IRH_NS_NAME_MAX       255
#define IRH_NS_ADDRESS_MAX    64
#define IRH_NS_CHECK_BYTES    4
#define IRH_NS_TOKEN_PREFIX   "irohds1:"
//  Longest payload: 32 + 1 + 255 + 1 + 64 + 32 + 4 = 389 bytes, 519 base64url
//  characters; the bound leaves room and refuses anything longer unread.
#define IRH_NS_TOKEN_MAX      600
#define IRH_NS_FILE_MAX       4096
#define IRH_NS_FILE_SUFFIX    ".ns"

typedef struct {
    char name [IRH_NS_NAME_MAX + 1];
    uint8_t secret [IRH_NS_SECRET_BYTES];
    //  The node a joiner bootstraps from ("" when the token names none).
    char address [IRH_NS_ADDRESS_MAX + 1];
    char node_id [IRH_NS_ID_HEX + 1];
} irh_ns_token_t;

//  The purpose keys of one namespace. Each exists so that one use never
//  lends its key to another (docs/namespaces.md has the why of each).
typedef enum {
    IRH_NS_KEY_ID = 1,          //  the namespace id on the wire and on disk
    IRH_NS_KEY_BLIND = 2,       //  blinding result keys (keyed hash of the key)
    IRH_NS_KEY_DIGEST = 3,      //  MAC of digests (which blinded keys a node holds)
    IRH_NS_KEY_CLAIM = 4,       //  MAC of manifests and leases
    IRH_NS_KEY_TRANSFER = 5,    //  authenticating transfer requests and answers
} irh_ns_purpose_t;
#define IRH_NS_PURPOSES 5

typedef struct {
    uint8_t id [IRH_NS_KEY_BYTES];
    char id_hex [IRH_NS_ID_HEX + 1];
    uint8_t key [IRH_NS_PURPOSES + 1][IRH_NS_KEY_BYTES];   //  [purpose], [0] unused
} irh_ns_keys_t;

//  True for a namespace name a token may carry: 1..255 bytes of
//  printable UTF-8.
bool irh_ns_name_valid (const char *name);

//  Fresh 256-bit secret.
void irh_ns_secret_make (uint8_t secret [IRH_NS_SECRET_BYTES]);

//  The token of *token as a malloc'd string, NULL if a field is invalid
//  (programmer's data: checked, never asserted, since names come from users).
char *irh_ns_token_encode (const irh_ns_token_t *token, char **err);
//  Decodes text (size bytes, need not end in NUL). 0, or -1 with a message
//  in *err that says which of: not a token, an unknown version, damaged
//  (bad characters, cut, check mismatch), or malformed inside.
int irh_ns_token_decode (const char *text, size_t size, irh_ns_token_t *token, char **err);

//  Parses the text of a secret file into *token. 0 or -1 with *err.
int irh_ns_file_parse (const char *text, size_t size, irh_ns_token_t *token, char **err);
//  Text of a secret file for token; malloc'd, NULL on failure.
char *irh_ns_file_text (const irh_ns_token_t *token, char **err);
//  Loads path with the file checks; 0, 1 if missing, -1 with *err.
int irh_ns_file_load (const char *path, irh_ns_token_t *token, char **err);
//  Writes the secret file for token under dir (made 0700 if missing),
//  atomically, mode 0600; the name is the namespace id. 0 or -1 with *err.
int irh_ns_file_save (const char *dir, const irh_ns_token_t *token, char **err);

//  Every secret file of a directory (<home>/ns): the good ones in items,
//  one message per refused file in errors (mode, symlink, not regular,
//  damaged, or a file name that is not the id of the namespace it holds),
//  for the caller to report. A missing directory is an empty list.
typedef struct {
    irh_ns_token_t token;
    char id [IRH_NS_ID_HEX + 1];        //  namespace id, hex
    char *path;
} irh_ns_entry_t;

typedef struct {
    irh_ns_entry_t *items;
    size_t count;
    char **errors;
    size_t refused;                     //  entries of errors
} irh_ns_list_t;

#define IRH_NS_LIST_MAX 1024            //  namespaces read at most

//  0, or -1 with *err when the directory itself cannot be read.
int irh_ns_list_load (const char *dir, irh_ns_list_t *list, char **err);
//  The entry of namespace name, or NULL.
irh_ns_entry_t *irh_ns_list_find (irh_ns_list_t *list, const char *name);
//  For the Python client (through ctypes, so that the token, the files and
//  the schedule have one implementation): the namespace id and the key
//  blinding key of namespace name from the secret files of dir. 1 found,
//  0 no secret of that name, -1 the directory or one of its files could
//  not be read, with the reason in error (the caller must then refuse,
//  not treat name as public: a refused file may hold name's secret).
int irh_ns_lookup (const char *dir, const char *name, uint8_t id [IRH_NS_KEY_BYTES],
                   uint8_t blind [IRH_NS_KEY_BYTES], char *error, size_t error_size);
//  Frees and wipes (the secrets are in it).
void irh_ns_list_free (irh_ns_list_t *list);

//  The key schedule.
void irh_ns_keys_derive (const uint8_t secret [IRH_NS_SECRET_BYTES], const char *name,
                         irh_ns_keys_t *keys);
//  Blinded form of a 32-byte result key: BLAKE2b-256 keyed with the
//  blinding key. Peers without the secret cannot link it to the key.
void irh_ns_blind (const irh_ns_keys_t *keys, const uint8_t key [32], uint8_t out [32]);
//  MAC (BLAKE2b-256 keyed) of data with one purpose key; verify is
//  constant time, 0 when the tag matches.
void irh_ns_mac (const irh_ns_keys_t *keys, irh_ns_purpose_t purpose, const void *data,
                 size_t size, uint8_t tag [32]);
int irh_ns_mac_verify (const irh_ns_keys_t *keys, irh_ns_purpose_t purpose,
                       const void *data, size_t size, const uint8_t tag [32]);
//  Wipes keys.
void irh_ns_keys_wipe (irh_ns_keys_t *keys);

#endif
