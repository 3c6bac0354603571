#include "util/err.h"

#include <errno.h>

const char *wg_strerror(int code)
{
	switch (code) {
	case WG_OK: return "ok";
#define WG__ERR_STR(name, c, text)                                                                 \
	case c: return text;
		WG_ERR_MAP(WG__ERR_STR)
#undef WG__ERR_STR
	}
	return "unknown error";
}

const char *wg_err_name(int code)
{
	switch (code) {
	case WG_OK: return "WG_OK";
#define WG__ERR_NAME(name, c, text)                                                                \
	case c: return "WG_E" #name;
		WG_ERR_MAP(WG__ERR_NAME)
#undef WG__ERR_NAME
	}
	return "WG_E?";
}

int wg_err_from_errno(int e)
{
	if (e < 0)
		e = -e;
	switch (e) {
	case 0: return WG_OK;
	case ENOMEM: return WG_ENOMEM;
	case EINVAL: return WG_EINVAL;
	case EACCES:
	case EPERM: return WG_EDENIED;
	case ETIMEDOUT: return WG_ETIMEOUT;
	case ENOENT: return WG_ENOTFOUND;
	case EEXIST: return WG_EEXISTS;
	case EADDRINUSE: return WG_EADDRINUSE;
	case EADDRNOTAVAIL: return WG_EADDRNOTAVAIL;
	case ENETUNREACH:
	case EHOSTUNREACH:
	case ECONNREFUSED: return WG_EUNREACHABLE;
	default: return WG_EIO;
	}
}
