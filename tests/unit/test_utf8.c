/* wg_utf8_valid decides whether a result is shown as text or base64. */
#include <string.h>

#include "harness/test.h"
#include "util/utf8.h"

#define VALID(s) wg_utf8_valid(s, sizeof(s) - 1)

TEST(utf8_accepts_ascii_and_multibyte_text)
{
	CHECK(VALID(""));
	CHECK(VALID("plain text\n"));
	CHECK(VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80")); /* é € 😀 */
	CHECK(VALID("\xf4\x8f\xbf\xbf"));			   /* U+10FFFF */
}

TEST(utf8_rejects_invalid_sequences)
{
	CHECK(!VALID("\xff"));
	CHECK(!VALID("\xc3"));		   /* truncated */
	CHECK(!VALID("\xc0\xaf"));	   /* overlong '/' */
	CHECK(!VALID("\xe0\x80\xaf"));	   /* overlong, three bytes */
	CHECK(!VALID("\xed\xa0\x80"));	   /* a surrogate */
	CHECK(!VALID("\xf4\x90\x80\x80")); /* past U+10FFFF */
	CHECK(!VALID("ok\x80"));	   /* a lone continuation byte */
	CHECK(!VALID("\xe2\x82"));	   /* truncated at the end */
}
