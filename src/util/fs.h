/* Small file-system helpers. All return 0 or a negative wg_err. */
#ifndef WG_FS_H
#define WG_FS_H
#include <stddef.h>
#include <stdint.h>

/* mkdir -p with mode 0700 for the directories it creates. */
int wg_mkdir_p(const char *path);
/* Reads a whole file into a new buffer (*out, freed by the caller), refusing files larger
 * than max_size with WG_ETOOBIG. The buffer is NUL-terminated beyond *len. */
int wg_read_file(const char *path, size_t max_size, uint8_t **out, size_t *len);
/* Writes through a temporary file in the same directory, fsyncs, then renames, so that a
 * reader never sees a half-written file. */
int wg_write_file_atomic(const char *path, const void *data, size_t len, int mode);
/* Reads a secret (an API token) from a file: its first line, without the line ending and
 * surrounding white space; it must be at least WG_SECRET_MIN printable bytes without white
 * space. Returns 0 with a new string in *out (freed by the caller), or a negative wg_err
 * with the reason for the user in why. */
#define WG_SECRET_MIN 16
int wg_read_secret_file(const char *path, char **out, char *why, size_t why_len);
/* Joins a directory and a name into a new string. */
char *wg_path_join(const char *dir, const char *name);

#endif
