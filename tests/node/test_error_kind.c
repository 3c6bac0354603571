/* node/error_kind.h lists every ErrorKind of the wire, each with its name and its exit
 * status of `wasmgrid run`: a kind added to proto/wasmgrid.proto and not to the list fails
 * here. */
#include <string.h>

#include "harness/test.h"
#include "node/error_kind.h"

TEST(error_kinds_cover_the_wire_enum_with_names_and_exit_statuses)
{
	const ProtobufCEnumDescriptor *d = &wasmgrid__error_kind__descriptor;
	CHECK_EQ(d->n_values, 7);
	for (unsigned i = 0; i < d->n_values; i++) {
		int v = d->values[i].value;
		CHECK_MSG(wg_error_kind_known(v), "wire kind %s (%d) is not in WG_ERROR_KINDS",
			  d->values[i].name, v);
		CHECK(strcmp(wg_error_kind_name(v), "Unknown") != 0 || v == 0);
	}
	CHECK(!wg_error_kind_known(7));
	CHECK(!wg_error_kind_known(-1));
	CHECK_STREQ(wg_error_kind_name(WASMGRID__ERROR_KIND__TIMED_OUT), "TimedOut");
	CHECK_STREQ(wg_error_kind_name(99), "Unknown");
	/* DESIGN.md's exit statuses of wasmgrid run. */
	CHECK_EQ(wg_error_kind_exit_status(0), 0);
	CHECK_EQ(wg_error_kind_exit_status(WASMGRID__ERROR_KIND__DOWNLOAD_ERROR), 3);
	CHECK_EQ(wg_error_kind_exit_status(WASMGRID__ERROR_KIND__INVALID_PROGRAM), 3);
	CHECK_EQ(wg_error_kind_exit_status(WASMGRID__ERROR_KIND__RUNNING_ERROR), 4);
	CHECK_EQ(wg_error_kind_exit_status(WASMGRID__ERROR_KIND__TIMED_OUT), 5);
	CHECK_EQ(wg_error_kind_exit_status(WASMGRID__ERROR_KIND__RESOURCE_LIMIT), 6);
	CHECK_EQ(wg_error_kind_exit_status(WASMGRID__ERROR_KIND__ABORTED), 1);
	CHECK_EQ(wg_error_kind_exit_status(42), 1);
}
