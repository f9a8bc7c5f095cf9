/*  cmd_key.c: "irohds-ctl key FILE | -": the BLAKE3-256 of a file's bytes,
    which is the result key when the file holds a canonical key encoding
    (proto/keys.md). Used to check proto/vectors by hand and in tests;
    needs no daemon and no home.
*/
#include "ctl.h"
#include "irh_hash.h"
#include <errno.h>
#include <unistd.h>

int
ctl_cmd_key (ctl_t *ctl, int argc, char **argv)
{
    if (argc != 2)
        return ctl_usage (ctl, "key needs exactly one FILE (or - for stdin)");
    const char *path = argv [1];
    uint8_t hash [IRH_HASH_SIZE];
    uint64_t size = 0;
    int rc = streq (path, "-")
           ? irh_blake3_fd (STDIN_FILENO, hash, &size)
           : irh_blake3_file (path, hash, &size);
    if (rc != 0)
        return ctl_fail (ctl, "key: cannot read %s: %s",
                         streq (path, "-")? "stdin": path, strerror (errno));
    char hex [IRH_HASH_HEX_SIZE];
    irh_hash_hex (hash, hex);
    if (ctl->json) {
        ctl_json_open (ctl, '{');
        ctl_json_key (ctl, "file");
        ctl_json_str (ctl, path);
        ctl_json_key (ctl, "size");
        ctl_json_u64 (ctl, size);
        ctl_json_key (ctl, "key");
        ctl_json_str (ctl, hex);
        ctl_json_close (ctl);
        ctl_json_end (ctl);
    }
    else
        printf ("%s\n", hex);
    return 0;
}
