#include "util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"

int wg_mkdir_p(const char *path)
{
	char *p = wg_strdup(path);
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == 0) {
			char c = *s;
			*s = 0;
			if (mkdir(p, 0700) != 0 && errno != EEXIST) {
				rc = WG_EIO;
				goto out;
			}
			*s = c;
			if (!c)
				break;
		}
	}
out:
	free(p);
	return rc;
}

int wg_read_file(const char *path, size_t max_size, uint8_t **out, size_t *len)
{
	int rc = 0;
	uint8_t *data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? WG_ENOTFOUND : WG_EIO;
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = WG_EIO;
		goto out;
	}
	if ((uint64_t)st.st_size > max_size) {
		rc = WG_ETOOBIG;
		goto out;
	}
	size_t cap = (size_t)st.st_size, n = 0;
	data = wg_malloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= max_size) {
				/* The file grew past the limit while we read it. */
				char c;
				if (read(fd, &c, 1) > 0) {
					rc = WG_ETOOBIG;
					goto out;
				}
				break;
			}
			cap = cap * 2 + 64 > max_size ? max_size : cap * 2 + 64;
			data = wg_realloc(data, cap + 1);
		}
		ssize_t r = read(fd, data + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = WG_EIO;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	data[n] = 0;
	*out = data;
	*len = n;
	data = NULL;
out:
	free(data);
	close(fd);
	return rc;
}

int wg_write_file_atomic(const char *path, const void *data, size_t len, int mode)
{
	char *tmp = wg_asprintf("%s.tmp.%d", path, (int)getpid());
	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = WG_EIO;
		goto out;
	}
	const uint8_t *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = WG_EIO;
			break;
		}
		p += w;
		left -= (size_t)w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = WG_EIO;
	if (close(fd) != 0 && rc == 0)
		rc = WG_EIO;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = WG_EIO;
	if (rc != 0)
		unlink(tmp);
out:
	free(tmp);
	return rc;
}

char *wg_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir);
	return wg_asprintf("%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}
