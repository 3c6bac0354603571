/* Test program: calls the WASI functions a sandbox answers with an error, on stdio and on a
 * descriptor that does not exist, and prints each errno, so a test can check them against
 * the WASI preview1 specification (and POSIX, which it follows). */
#include <stdio.h>
#include <wasi/api.h>

#define SHOW(name, call) printf("%s:%d ", name, (int)(call))

int main(void)
{
	__wasi_fd_t fd;
	__wasi_size_t n;
	__wasi_roflags_t ro;
	char byte = 'x';
	__wasi_iovec_t iov = {(uint8_t *)&byte, 1};
	__wasi_ciovec_t ciov = {(const uint8_t *)&byte, 1};
	/* Sockets: stdio is not one (ENOTSOCK 57); no descriptor 9 (EBADF 8). */
	SHOW("sock_shutdown1", __wasi_sock_shutdown(1, __WASI_SDFLAGS_WR));
	SHOW("sock_accept0", __wasi_sock_accept(0, 0, &fd));
	SHOW("sock_recv0", __wasi_sock_recv(0, &iov, 1, 0, &n, &ro));
	SHOW("sock_send1", __wasi_sock_send(1, &ciov, 1, 0, &n));
	SHOW("sock_shutdown9", __wasi_sock_shutdown(9, __WASI_SDFLAGS_WR));
	/* A pipe cannot seek, be advised or allocated (ESPIPE 70), nor be synced (EINVAL 28). */
	__wasi_filesize_t off;
	SHOW("fd_seek1", __wasi_fd_seek(1, 0, __WASI_WHENCE_CUR, &off));
	SHOW("fd_advise1", __wasi_fd_advise(1, 0, 1, __WASI_ADVICE_NORMAL));
	SHOW("fd_allocate1", __wasi_fd_allocate(1, 0, 1));
	SHOW("fd_sync1", __wasi_fd_sync(1));
	SHOW("fd_advise9", __wasi_fd_advise(9, 0, 1, __WASI_ADVICE_NORMAL));
	/* No directory anywhere: stdio is not one (ENOTDIR 54); no preopens (EBADF 8). */
	__wasi_fd_t opened;
	SHOW("path_open1", __wasi_path_open(1, 0, "x", 0, 0, 0, 0, &opened));
	SHOW("prestat3", __wasi_fd_prestat_get(3, &(__wasi_prestat_t){0}));
	printf("\n");
	return 0;
}
