//  Node identity (common/irh_identity): made at first use with private
//  modes, the same id on reload and across racing processes, and every bad
//  file (loose mode, other owner, symlink, FIFO, corrupt, mismatched)
//  refused with a message naming it, never replaced and never blocking.
#include "irh_identity.h"
#include <assert.h>
#include <ftw.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); abort (); } \
} while (0)

static char *
s_path (const char *home, const char *name)
{
    char *path = NULL;
    CHECK (asprintf (&path, "%s/identity/%s", home, name) > 0);
    return path;
}

static char *
s_new_home (void)
{
    char template [] = "/tmp/irh-idtest-XXXXXX";
    CHECK (mkdtemp (template));
    return strdup (template);
}

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

static void
s_rmtree (char **home_p)
{
    nftw (*home_p, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    free (*home_p);
    *home_p = NULL;
}

static void
s_write (const char *path, const char *text, mode_t mode)
{
    unlink (path);
    FILE *file = fopen (path, "w");
    CHECK (file);
    fputs (text, file);
    fclose (file);
    CHECK (chmod (path, mode) == 0);
}

static char *
s_slurp (const char *path)
{
    FILE *file = fopen (path, "r");
    CHECK (file);
    char *text = calloc (1, 8192);
    CHECK (fread (text, 1, 8191, file) > 0);
    fclose (file);
    return text;
}

static char *
s_slurp_or_empty (const char *path)
{
    struct stat st;
    CHECK (stat (path, &st) == 0);
    return st.st_size ? s_slurp (path) : calloc (1, 1);
}

//  Loading home must fail with a message containing each of the words.
static void
s_refused (const char *home, const char *word1, const char *word2)
{
    char *err = NULL;
    irh_identity_t *identity = irh_identity_load_or_create (home, &err);
    if (identity || !err || !strstr (err, word1) || (word2 && !strstr (err, word2))) {
        fprintf (stderr, "expected refusal with '%s' '%s', got: %s\n", word1,
                 word2 ? word2 : "", err ? err : "(success)");
        abort ();
    }
    printf ("  refused: %s\n", err);
    free (err);
}

static irh_identity_t *
s_load (const char *home)
{
    char *err = NULL;
    irh_identity_t *identity = irh_identity_load_or_create (home, &err);
    if (!identity)
        fprintf (stderr, "load failed: %s\n", err);
    CHECK (identity);
    free (err);
    return identity;
}

static mode_t
s_mode (const char *path)
{
    struct stat st;
    CHECK (lstat (path, &st) == 0);
    return st.st_mode & 07777;
}

static void
test_create_and_reload (void)
{
    char *home = s_new_home ();
    char *sub = NULL;
    CHECK (asprintf (&sub, "%s/not-yet", home) > 0);       //  home made on demand
    irh_identity_t *identity = s_load (sub);
    const char *id = irh_identity_node_id (identity);
    CHECK (strlen (id) == IRH_NODE_ID_HEX);
    CHECK (strspn (id, "0123456789abcdef") == IRH_NODE_ID_HEX);
    uint8_t key [IRH_KEY_BYTES];
    CHECK (irh_identity_key_from_id (id, key) == 0);
    CHECK (memcmp (key, irh_identity_curve_public (identity), IRH_KEY_BYTES) == 0);
    //  The secret belongs to the public key, and the zcert carries both.
    uint8_t derived [IRH_KEY_BYTES];
    CHECK (crypto_scalarmult_base (derived, irh_identity_curve_secret (identity)) == 0);
    CHECK (memcmp (derived, key, IRH_KEY_BYTES) == 0);
    CHECK (memcmp (zcert_public_key (irh_identity_cert (identity)), key, IRH_KEY_BYTES) == 0);

    char *secret = s_path (sub, "node.cert_secret"), *public = s_path (sub, "node.cert");
    char *sign = s_path (sub, "sign.key");
    CHECK (s_mode (irh_identity_dir (identity)) == 0700);
    CHECK (s_mode (secret) == 0600);
    CHECK (s_mode (sign) == 0600);
    //  zcert can read our files (the format is zcert's).
    zcert_t *cert = zcert_load (secret);
    CHECK (cert && memcmp (zcert_secret_key (cert), irh_identity_curve_secret (identity),
                           IRH_KEY_BYTES) == 0);
    zcert_destroy (&cert);
    cert = zcert_load (public);
    CHECK (cert && memcmp (zcert_public_key (cert), key, IRH_KEY_BYTES) == 0);
    zcert_destroy (&cert);

    //  Name: the host name without config.
    char host [256] = "";
    gethostname (host, sizeof (host) - 1);
    CHECK (strncmp (irh_identity_name (identity), host, IRH_NODE_NAME_MAX) == 0);

    //  Signatures verify with the public key, and fail when tampered with.
    uint8_t signature [IRH_SIGNATURE_BYTES];
    irh_identity_sign (identity, "manifest", 8, signature);
    const uint8_t *sign_public = irh_identity_sign_public (identity);
    CHECK (irh_identity_verify (sign_public, "manifest", 8, signature) == 0);
    CHECK (irh_identity_verify (sign_public, "manifesT", 8, signature) == -1);
    signature [0] ^= 1;
    CHECK (irh_identity_verify (sign_public, "manifest", 8, signature) == -1);

    //  Reload: the same id, the same signing key, nothing rewritten.
    char *before = s_slurp (secret);
    char saved_id [IRH_NODE_ID_HEX + 1], saved_sign [IRH_KEY_BYTES];
    memcpy (saved_id, id, sizeof (saved_id));
    memcpy (saved_sign, sign_public, IRH_KEY_BYTES);
    irh_identity_destroy (&identity);
    CHECK (identity == NULL);
    identity = s_load (sub);
    CHECK (streq (irh_identity_node_id (identity), saved_id));
    CHECK (memcmp (irh_identity_sign_public (identity), saved_sign, IRH_KEY_BYTES) == 0);
    char *after = s_slurp (secret);
    CHECK (streq (before, after));
    irh_identity_destroy (&identity);

    //  A missing public certificate is remade from the secret one.
    CHECK (unlink (public) == 0);
    identity = s_load (sub);
    CHECK (streq (irh_identity_node_id (identity), saved_id));
    CHECK (access (public, F_OK) == 0);
    irh_identity_destroy (&identity);

    //  node.name from the config.
    char *config = NULL;
    CHECK (asprintf (&config, "%s/config.toml", sub) > 0);
    s_write (config, "[node]\nname = \"alpha-7\"\n", 0600);
    identity = s_load (sub);
    CHECK (streq (irh_identity_name (identity), "alpha-7"));
    irh_identity_destroy (&identity);
    s_write (config, "[node]\nname = \"bad\\u0007name\"\n", 0600);      //  control char
    identity = s_load (sub);
    CHECK (strncmp (irh_identity_name (identity), host, IRH_NODE_NAME_MAX) == 0);
    irh_identity_destroy (&identity);

    free (before); free (after); free (config);
    free (secret); free (public); free (sign); free (sub);
    s_rmtree (&home);
}

//  Each bad secret file: refused, and left as it was (never replaced).
static void
test_bad_files (void)
{
    char *home = s_new_home ();
    irh_identity_t *identity = s_load (home);
    char *id = strdup (irh_identity_node_id (identity));
    irh_identity_destroy (&identity);
    char *secret = s_path (home, "node.cert_secret"), *public = s_path (home, "node.cert");
    char *sign = s_path (home, "sign.key");
    char *good = s_slurp (secret), *good_sign = s_slurp (sign), *good_public = s_slurp (public);

    //  Modes that let others read a secret.
    CHECK (chmod (secret, 0644) == 0);
    s_refused (home, "node.cert_secret", "chmod 600");
    CHECK (s_mode (secret) == 0644);
    CHECK (chmod (secret, 0600) == 0);
    CHECK (chmod (sign, 0640) == 0);
    s_refused (home, "sign.key", "mode 0640");
    CHECK (chmod (sign, 0600) == 0);

    //  Another owner (root can make one).
    if (geteuid () == 0) {
        CHECK (chown (secret, 12345, 12345) == 0);
        s_refused (home, "node.cert_secret", "owned by uid 12345");
        CHECK (chown (secret, 0, 0) == 0);
    }

    //  A symlink to a perfectly good copy is still refused.
    char *copy = NULL;
    CHECK (asprintf (&copy, "%s/copy", home) > 0);
    s_write (copy, good, 0600);
    CHECK (unlink (secret) == 0 && symlink (copy, secret) == 0);
    s_refused (home, "node.cert_secret", "symlink");

    //  A FIFO: refused at once (a blocking open would hang here; the alarm
    //  turns a hang into a failure).
    CHECK (unlink (secret) == 0 && mkfifo (secret, 0600) == 0);
    alarm (10);
    s_refused (home, "node.cert_secret", "not a regular file");
    alarm (0);
    CHECK (unlink (secret) == 0);

    //  A directory where the identity folder should be, and a symlinked folder.
    char *dir = NULL, *moved = NULL;
    CHECK (asprintf (&dir, "%s/identity", home) > 0 && asprintf (&moved, "%s/elsewhere", home) > 0);
    s_write (secret, good, 0600);
    CHECK (rename (dir, moved) == 0 && symlink (moved, dir) == 0);
    s_refused (home, "identity", "not a directory");
    CHECK (unlink (dir) == 0 && rename (moved, dir) == 0);

    //  Corrupt contents: garbage, a truncated key, a secret of another pair,
    //  binary bytes, an oversize file, an empty file.
    const char *corrupt [] = {
        "this is not a certificate\n\x01\x02",
        "curve\n    public-key = \"abc\"\n    secret-key = \"def\"\n",
        NULL,           //  filled below: a valid file with the secret swapped
        "",
    };
    zcert_t *other = zcert_new ();
    char *swapped = strdup (good);
    char *at = strstr (swapped, "secret-key = \"");
    CHECK (at);
    memcpy (at + 14, zcert_secret_txt (other), 40);
    corrupt [2] = swapped;
    for (size_t i = 0; i < sizeof (corrupt) / sizeof (corrupt [0]); i++) {
        s_write (secret, corrupt [i], 0600);
        s_refused (home, "node.cert_secret", i == 3 ? "empty" : "refusing");
        char *now = s_slurp_or_empty (secret);
        CHECK (streq (now, corrupt [i]));          //  left as it was
        free (now);
    }
    char big [5000];
    memset (big, '#', sizeof (big) - 1);
    big [sizeof (big) - 1] = 0;
    s_write (secret, big, 0600);
    s_refused (home, "node.cert_secret", "larger than");
    s_write (secret, good, 0600);

    //  A signing key whose public half does not match its seed.
    char *bad_sign = strdup (good_sign);
    at = strstr (bad_sign, "public-key = \"");
    CHECK (at);
    at [14] = at [14] == '0' ? '1' : '0';
    s_write (sign, bad_sign, 0600);
    s_refused (home, "sign.key", "does not belong");
    s_write (sign, "ed25519\n    seed = \"00\"\n", 0600);
    s_refused (home, "sign.key", "seed");
    s_write (sign, good_sign, 0600);

    //  A public certificate naming another key.
    s_write (public, zcert_public_txt (other), 0644);
    s_refused (home, "node.cert", "refusing");
    zcert_save_public (other, public);
    s_refused (home, "node.cert", "another key");
    s_write (public, good_public, 0644);

    //  Everything restored: the same identity loads again.
    identity = s_load (home);
    CHECK (streq (irh_identity_node_id (identity), id));
    irh_identity_destroy (&identity);

    zcert_destroy (&other);
    free (swapped); free (bad_sign); free (dir); free (moved); free (copy);
    free (good); free (good_sign); free (good_public);
    free (secret); free (public); free (sign); free (id);
    s_rmtree (&home);
}

//  Several processes making the identity at once all end with one id.
static void
test_racing_creators (void)
{
    char *home = s_new_home ();
    enum { CHILDREN = 6 };
    int fds [2];
    CHECK (pipe (fds) == 0);
    for (int i = 0; i < CHILDREN; i++) {
        pid_t pid = fork ();
        CHECK (pid >= 0);
        if (pid == 0) {
            char *err = NULL;
            irh_identity_t *identity = irh_identity_load_or_create (home, &err);
            char line [IRH_NODE_ID_HEX + 1];
            memset (line, '!', IRH_NODE_ID_HEX);
            if (identity)
                memcpy (line, irh_identity_node_id (identity), IRH_NODE_ID_HEX);
            else
                fprintf (stderr, "child: %s\n", err);
            line [IRH_NODE_ID_HEX] = '\n';
            CHECK (write (fds [1], line, sizeof (line)) == (ssize_t) sizeof (line));
            _exit (identity ? 0 : 1);
        }
    }
    close (fds [1]);
    char first [IRH_NODE_ID_HEX + 1], line [IRH_NODE_ID_HEX + 1];
    for (int i = 0; i < CHILDREN; i++) {
        CHECK (read (fds [0], line, sizeof (line)) == (ssize_t) sizeof (line));
        if (i == 0)
            memcpy (first, line, sizeof (line));
        CHECK (memcmp (first, line, sizeof (line)) == 0);
    }
    for (int i = 0; i < CHILDREN; i++) {
        int status;
        CHECK (wait (&status) > 0 && WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    close (fds [0]);
    irh_identity_t *identity = s_load (home);
    CHECK (memcmp (irh_identity_node_id (identity), first, IRH_NODE_ID_HEX) == 0);
    irh_identity_destroy (&identity);
    s_rmtree (&home);
}

static void
test_id_spelling (void)
{
    uint8_t key [IRH_KEY_BYTES], back [IRH_KEY_BYTES];
    char id [IRH_NODE_ID_HEX + 1];
    for (int i = 0; i < IRH_KEY_BYTES; i++)
        key [i] = (uint8_t) (i * 37 + 5);
    irh_identity_id_from_key (key, id);
    CHECK (irh_identity_key_from_id (id, back) == 0 && memcmp (key, back, sizeof (key)) == 0);
    char upper [IRH_NODE_ID_HEX + 1];
    memcpy (upper, id, sizeof (upper));
    upper [1] = 'A';
    CHECK (irh_identity_key_from_id (upper, back) == -1);      //  one spelling only
    CHECK (irh_identity_key_from_id ("abc", back) == -1);
    CHECK (irh_identity_key_from_id (NULL, back) == -1);
    id [63] = 'g';
    CHECK (irh_identity_key_from_id (id, back) == -1);
    CHECK (irh_identity_name_valid ("n1"));
    CHECK (irh_identity_name_valid ("café"));
    CHECK (!irh_identity_name_valid (""));
    CHECK (!irh_identity_name_valid ("tab\there"));
    CHECK (!irh_identity_name_valid ("\xff\xfe"));
    char long_name [IRH_NODE_NAME_MAX + 2];
    memset (long_name, 'x', sizeof (long_name) - 1);
    long_name [sizeof (long_name) - 1] = 0;
    CHECK (!irh_identity_name_valid (long_name));
}

int
main (void)
{
    signal (SIGALRM, SIG_DFL);
    test_id_spelling ();
    test_create_and_reload ();
    test_bad_files ();
    test_racing_creators ();
    printf ("test_identity: OK\n");
    return 0;
}
