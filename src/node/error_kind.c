#include "node/error_kind.h"

int wg_error_kind_known(int kind)
{
	switch (kind) {
#define WG__KIND_KNOWN(value, name, status) case value:
		WG_ERROR_KINDS(WG__KIND_KNOWN)
#undef WG__KIND_KNOWN
		return 1;
	}
	return 0;
}

const char *wg_error_kind_name(int kind)
{
	switch (kind) {
#define WG__KIND_NAME(value, name, status)                                                         \
	case value: return name;
		WG_ERROR_KINDS(WG__KIND_NAME)
#undef WG__KIND_NAME
	}
	return "Unknown";
}

int wg_error_kind_exit_status(int kind)
{
	if (kind == 0)
		return 0;
	switch (kind) {
#define WG__KIND_STATUS(value, name, status)                                                       \
	case value: return status;
		WG_ERROR_KINDS(WG__KIND_STATUS)
#undef WG__KIND_STATUS
	}
	return 1;
}
