/*  irh_file.h: small private files under the home (keys, known nodes),
    read and written the one careful way.

    Reading opens O_NOFOLLOW | O_NONBLOCK (a planted FIFO must not hang
    us, a symlink must not redirect us) and checks the open descriptor
    (regular file, ours, private when it holds a secret, not larger than
    the caller allows) before a byte is read. Writing goes to a temp file
    in the same directory that is fsync'd and then either link()ed to the
    name (never replaces: when two processes make a file at once one wins)
    or rename()d over it (atomic replace), then the directory is fsync'd.
*/
#ifndef IRH_FILE_H_INCLUDED
#define IRH_FILE_H_INCLUDED
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

//  Reads the whole of path into a NUL-terminated malloc'd *text. Returns 0,
//  1 if the file does not exist, -1 with a malloc'd message in *err (if
//  err) when it is refused: not a regular file, a symlink, not ours,
//  readable by others while secret, or larger than max bytes.
int irh_file_read (const char *path, size_t max, bool secret, char **text, size_t *size,
                   char **err);

//  Writes text as dir/name with mode (whatever the umask). replace false:
//  only if the name does not exist yet (returns 1 and changes nothing if
//  it does); replace true: atomically replaces what is there. Returns 0
//  written, 1 (see above), -1 with *err.
int irh_file_write (const char *dir, const char *name, const char *text, mode_t mode,
                    bool replace, char **err);

//  Makes dir (mode 0700) if missing and checks it is a real directory of
//  ours (not a symlink), setting mode 0700. 0, or -1 with *err.
int irh_file_private_dir (const char *dir, char **err);

#endif
