//  Known-nodes pins (common/irh_known): pinned to a 0600 file that is
//  replaced atomically and read back; bad lines skipped and counted; a
//  symlinked or oversize file refused and then never overwritten; the key
//  exchange frames decode only when exact.
#include "irh_known.h"
#include "irh_identity.h"
#include <assert.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); abort (); } \
} while (0)

static int
s_remove (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}

static char *
s_read (const char *path)
{
    FILE *file = fopen (path, "r");
    CHECK (file);
    char *text = calloc (1, 65536);
    CHECK (text);
    CHECK (fread (text, 1, 65535, file) < 65535);
    fclose (file);
    return text;
}

int
main (void)
{
    char template [] = "/tmp/irh-known-XXXXXX";
    CHECK (mkdtemp (template));
    char dir [256], file [300];
    snprintf (dir, sizeof dir, "%s/peers", template);
    snprintf (file, sizeof file, "%s/%s", dir, IRH_KNOWN_FILE);
    uint8_t a [IRH_KEY_BYTES], b [IRH_KEY_BYTES];
    memset (a, 0xaa, sizeof a);
    memset (b, 0xbb, sizeof b);
    char a_id [IRH_NODE_ID_HEX + 1];
    irh_identity_id_from_key (a, a_id);

    //  No file: no pins. Pin: the directory and a 0600 file appear.
    irh_known_t *known = irh_known_new (dir);
    CHECK (irh_known_load (known, NULL) == 0 && irh_known_size (known) == 0);
    CHECK (irh_known_pin (known, "tcp://198.18.0.1:47460", a, NULL) == 0);
    CHECK (irh_known_pin (known, "tcp://node-b:47460", b, NULL) == 0);
    CHECK (irh_known_pin (known, "not an address", b, NULL) == -1);
    struct stat st;
    CHECK (stat (file, &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK (stat (dir, &st) == 0 && (st.st_mode & 07777) == 0700);
    char *text = s_read (file);
    char line [200];
    snprintf (line, sizeof line, "tcp://198.18.0.1:47460 %s\n", a_id);
    CHECK (strstr (text, line));
    free (text);
    irh_known_destroy (&known);

    //  Read back; re-pin replaces the key; no temp file is left behind.
    known = irh_known_new (dir);
    CHECK (irh_known_load (known, NULL) == 0 && irh_known_size (known) == 2);
    CHECK (memcmp (irh_known_lookup (known, "tcp://198.18.0.1:47460"), a, 32) == 0);
    CHECK (irh_known_lookup (known, "tcp://198.18.0.1:47461") == NULL);
    CHECK (irh_known_pin (known, "tcp://198.18.0.1:47460", b, NULL) == 0);
    irh_known_destroy (&known);
    known = irh_known_new (dir);
    CHECK (irh_known_load (known, NULL) == 0);
    CHECK (memcmp (irh_known_lookup (known, "tcp://198.18.0.1:47460"), b, 32) == 0);
    irh_known_destroy (&known);
    char listing [400];
    snprintf (listing, sizeof listing, "ls -A %s | grep -c tmp | grep -qx 0", dir);
    CHECK (system (listing) == 0);

    //  Bad lines: skipped and counted, good ones kept.
    known = irh_known_new (dir);
    char bad [1024];
    snprintf (bad, sizeof bad, "# comment\n\ntcp://h:1 %s\ntcp://h:0 %s\ntcp://h:2 %.63s\n"
              "tcp://h:3  %s\ngarbage\ntcp://h:4 %s trailing\ntcp://h:5 %s", a_id, a_id, a_id,
              a_id, a_id, a_id);
    CHECK (irh_known_parse (known, bad, strlen (bad)) == 5);
    CHECK (irh_known_size (known) == 2 && irh_known_lookup (known, "tcp://h:1")
           && irh_known_lookup (known, "tcp://h:5"));
    char nul [] = "tcp://h:1 \0bc";
    irh_known_parse (known, nul, sizeof nul - 1);
    CHECK (irh_known_size (known) == 0);
    irh_known_destroy (&known);

    //  A symlink in place of the file: refused, and never written through.
    char target [300];
    snprintf (target, sizeof target, "%s/elsewhere", template);
    FILE *other = fopen (target, "w");
    CHECK (other);
    fputs ("precious\n", other);
    fclose (other);
    CHECK (unlink (file) == 0 && symlink (target, file) == 0);
    known = irh_known_new (dir);
    char *err = NULL;
    CHECK (irh_known_load (known, &err) == -1 && err && strstr (err, "symlink"));
    free (err);
    err = NULL;
    CHECK (irh_known_pin (known, "tcp://h:9", a, &err) == -1 && err);
    free (err);
    irh_known_destroy (&known);
    text = s_read (target);
    CHECK (streq (text, "precious\n"));
    free (text);

    //  No folder: pins live in memory only and pinning says so.
    known = irh_known_new (NULL);
    CHECK (irh_known_load (known, NULL) == 0 && irh_known_size (known) == 0);
    err = NULL;
    CHECK (irh_known_pin (known, "tcp://h:9", a, &err) == -1 && err);
    free (err);
    irh_known_destroy (&known);

    //  Key exchange frames: only the exact ask and a well-formed answer.
    zframe_t *ask = irh_known_ask_encode ();
    CHECK (irh_known_ask_valid (zframe_data (ask), zframe_size (ask)));
    CHECK (!irh_known_ask_valid (zframe_data (ask), zframe_size (ask) - 1));
    zframe_destroy (&ask);
    CHECK (!irh_known_ask_valid ((const uint8_t *) "x", 1));
    zframe_t *answer = irh_known_answer_encode (a);
    uint8_t got [IRH_KEY_BYTES];
    CHECK (irh_known_answer_decode (zframe_data (answer), zframe_size (answer), got) == 0);
    CHECK (memcmp (got, a, 32) == 0);
    CHECK (irh_known_answer_decode (zframe_data (answer), zframe_size (answer) - 1, got) == -1);
    uint8_t wrong [64];
    memcpy (wrong, zframe_data (answer), zframe_size (answer));
    wrong [1] ^= 1;             //  magic
    CHECK (irh_known_answer_decode (wrong, zframe_size (answer), got) == -1);
    zframe_destroy (&answer);

    nftw (template, s_remove, 16, FTW_DEPTH | FTW_PHYS);
    printf ("test_known: OK\n");
    return 0;
}
