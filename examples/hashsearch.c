/* Hash-pattern search: finds the smallest counter N >= 0 whose SHA-256 hash (of N written
 * in decimal), in lower-case hex, contains the argument. Prints "N HASH". The argument may
 * also be "PATTERN START" to begin the search at START (to split a search into tasks). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint32_t k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* SHA-256 of a message shorter than 56 bytes: one block. */
static void sha256_short(const uint8_t *msg, size_t len, uint8_t out[32])
{
	uint8_t block[64] = {0};
	memcpy(block, msg, len);
	block[len] = 0x80;
	block[62] = (uint8_t)((len * 8) >> 8);
	block[63] = (uint8_t)(len * 8);
	uint32_t w[64];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 |
		       (uint32_t)block[4 * i + 2] << 8 | block[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 =
		    hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + k[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
		hh = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(h[i] >> 8);
		out[4 * i + 3] = (uint8_t)h[i];
	}
}

/* Naive search: the pattern is short and the text 64 characters, and a loop written out
 * here costs the same natively and in WebAssembly, unlike the C libraries' strstr. */
static int contains(const char *text, size_t text_len, const char *pat, size_t pat_len)
{
	for (size_t i = 0; i + pat_len <= text_len; i++) {
		size_t j = 0;
		while (j < pat_len && text[i + j] == pat[j])
			j++;
		if (j == pat_len)
			return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char pattern[65];
	unsigned long long start = 0;
	if (argc < 2 || sscanf(argv[1], "%64s %llu", pattern, &start) < 1) {
		fprintf(stderr, "usage: hashsearch \"HEXPATTERN [START]\"\n");
		return 2;
	}
	size_t pat_len = strlen(pattern);
	static const char digits[] = "0123456789abcdef";
	/* The counter in decimal, kept as text and incremented in place. */
	char text[24];
	int len = snprintf(text, sizeof text, "%llu", start);
	for (unsigned long long n = start;; n++) {
		char hex[64];
		uint8_t hash[32];
		sha256_short((const uint8_t *)text, (size_t)len, hash);
		for (int i = 0; i < 32; i++) {
			hex[2 * i] = digits[hash[i] >> 4];
			hex[2 * i + 1] = digits[hash[i] & 15];
		}
		if (contains(hex, sizeof hex, pattern, pat_len)) {
			printf("%llu %.64s\n", n, hex);
			return 0;
		}
		if (n == ~0ull)
			break;
		int i = len - 1;
		while (i >= 0 && text[i] == '9')
			text[i--] = '0';
		if (i >= 0) {
			text[i]++;
		} else {
			memmove(text + 1, text, (size_t)len);
			text[0] = '1';
			len++;
		}
	}
	fprintf(stderr, "hashsearch: not found\n");
	return 1;
}
