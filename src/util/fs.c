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

int wg_read_secret_file(const char *path, char **out, char *why, size_t why_len)
{
	uint8_t *data = NULL;
	size_t len = 0;
	*out = NULL;
	int rc = wg_read_file(path, 4096, &data, &len);
	if (rc) {
		snprintf(why, why_len, "cannot read %s: %s", path,
			 rc == WG_ETOOBIG ? "larger than a token file (4 KiB)" : wg_strerror(rc));
		return rc;
	}
	char *s = (char *)data, *nl = memchr(s, '\n', len);
	if (nl)
		*nl = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = 0;
	rc = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] == 0x7f)
			rc = WG_EINVAL;
	if (rc || n < WG_SECRET_MIN) {
		snprintf(why, why_len,
			 "%s must hold a token of at least %d printable characters "
			 "without spaces on its first line (e.g. from 'head -c 24 /dev/urandom | "
			 "base64')",
			 path, WG_SECRET_MIN);
		rc = WG_EINVAL;
	} else {
		*out = wg_strdup(s);
	}
	explicit_bzero(data, len);
	free(data);
	return rc;
}
