/* Splitting a text buffer into lines, in place: the format of `--args-file` (one argument
 * per line). */
#ifndef WG_LINES_H
#define WG_LINES_H
#include <stddef.h>

/* Called for each line: `line` points into the buffer, NUL-terminated, `len` bytes without
 * its line ending. */
typedef void (*wg_line_cb)(char *line, size_t len, void *user);

/* Splits buf[0..len) at each '\n', dropping a '\r' just before it ("\r\n" endings are
 * accepted). A last line needs no newline; a buffer ending in '\n' has no empty line after
 * it. Each line ending is overwritten with NUL so lines can be used as strings, and buf must
 * have one byte beyond len for the NUL of a last line without newline. Returns the number of
 * lines. */
size_t wg_split_lines(char *buf, size_t len, wg_line_cb cb, void *user);

#endif
