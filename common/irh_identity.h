/*  irh_identity.h: who this node is, kept under <home>/identity/.

    node.cert_secret  Curve25519 key pair in zcert's format (0600); the
                      public key is the node id and the CURVE server key.
    node.cert         the same certificate without the secret (for zauth
                      directories and for readers that must not see the
                      secret).
    sign.key          Ed25519 signing key (seed, 0600); manifests are signed
                      with it and the hello carries its public key.

    The node id is the Curve25519 public key as 64 lowercase hex characters,
    the same string in `info`, `peers`, logs and `#NODEID` pins. The node
    name is config `node.name`, else the host name.

    Made at first use. Files are opened without following symlinks and
    without blocking; a secret file that is not a regular file, is not ours,
    is readable by others or does not decode is refused with a message that
    names the file and the fix, never silently replaced.
*/
#ifndef IRH_IDENTITY_H_INCLUDED
#define IRH_IDENTITY_H_INCLUDED
#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IRH_NODE_ID_HEX     64      //  characters of a node id (no NUL)
#define IRH_KEY_BYTES       32      //  Curve25519 and Ed25519 public keys, Curve25519 secret
#define IRH_SIGNATURE_BYTES 64      //  Ed25519 detached signature
#define IRH_NODE_NAME_MAX   64      //  bytes of a node name

typedef struct _irh_identity_t irh_identity_t;

//  Load the identity of home (NULL: the default home, see irh_paths.h),
//  creating the home, identity/ and any missing key. Safe when several
//  processes start at once: one key pair wins and all load it. On failure
//  NULL and, if err is not NULL, a malloc'd message.
irh_identity_t *irh_identity_load_or_create (const char *home, char **err);
void irh_identity_destroy (irh_identity_t **self_p);
//  Only the public key (the node id) of home's identity, from node.cert:
//  for actors that must never open the secret (discovery). Creates
//  nothing. Returns 0, 1 if node.cert does not exist yet, -1 with *err.
int irh_identity_load_public (const char *home, uint8_t key[IRH_KEY_BYTES], char **err);

//  64 lowercase hex characters, NUL-terminated.
const char *irh_identity_node_id (irh_identity_t *self);
//  Node name: valid UTF-8, 1..IRH_NODE_NAME_MAX bytes, no control chars.
const char *irh_identity_name (irh_identity_t *self);
//  Keys, IRH_KEY_BYTES each.
const uint8_t *irh_identity_curve_public (irh_identity_t *self);
const uint8_t *irh_identity_curve_secret (irh_identity_t *self);
const uint8_t *irh_identity_sign_public (irh_identity_t *self);
//  The Curve key pair as a zcert (zcert_apply on a CURVE server socket);
//  owned by self.
zcert_t *irh_identity_cert (irh_identity_t *self);
//  <home>/identity
const char *irh_identity_dir (irh_identity_t *self);

//  Ed25519 detached signature of data.
void irh_identity_sign (irh_identity_t *self, const void *data, size_t size,
                        uint8_t signature[IRH_SIGNATURE_BYTES]);
//  0 if signature is public_key's signature of data, else -1.
int irh_identity_verify (const uint8_t public_key[IRH_KEY_BYTES], const void *data,
                         size_t size, const uint8_t signature[IRH_SIGNATURE_BYTES]);

//  Node id <-> public key. irh_identity_key_from_id accepts exactly 64
//  lowercase hex characters (the one spelling of an id) and returns 0,
//  else -1. id needs IRH_NODE_ID_HEX + 1 bytes.
void irh_identity_id_from_key (const uint8_t key[IRH_KEY_BYTES], char *id);
int irh_identity_key_from_id (const char *id, uint8_t key[IRH_KEY_BYTES]);
//  True if name is usable as a node name (see irh_identity_name).
bool irh_identity_name_valid (const char *name);

//  Decoder of a certificate file's text (zcert format): the public key,
//  and the secret key too when secret is not NULL (then the two must be a
//  pair). 0 on success, else -1 and a malloc'd message in *err (if not
//  NULL). Public for the fuzz target.
int irh_identity_decode_cert (const char *text, size_t size, uint8_t public_key[IRH_KEY_BYTES],
                              uint8_t *secret, char **err);
//  Decoder of sign.key's text: the Ed25519 secret key (64 bytes, seed and
//  public key), checked against the public key written beside it.
int irh_identity_decode_sign (const char *text, size_t size, uint8_t *secret, char **err);

#endif
