#include "util/err.h"

const char *wg_strerror(int code)
{
	switch (code) {
	case WG_OK: return "ok";
#define WG__ERR_STR(name, c, text) case c: return text;
	WG_ERR_MAP(WG__ERR_STR)
#undef WG__ERR_STR
	}
	return "unknown error";
}

const char *wg_err_name(int code)
{
	switch (code) {
	case WG_OK: return "WG_OK";
#define WG__ERR_NAME(name, c, text) case c: return "WG_E" #name;
	WG_ERR_MAP(WG__ERR_NAME)
#undef WG__ERR_NAME
	}
	return "WG_E?";
}
