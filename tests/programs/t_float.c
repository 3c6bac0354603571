/* Test program: floating point at its edges, printed bit for bit, so that a test can check
 * that every way of compiling a program gives the same bits. Each line is one operation
 * over a table of special and ordinary values (zeros of both signs, infinities, NaN,
 * subnormals, the largest and smallest normals, ordinary numbers): the four operations,
 * sqrt, min/max, rounding, conversions to and from integers, single precision, and libm's
 * software functions (sin, exp, log, pow). Only quiet NaNs of one payload are used, whose
 * propagation WebAssembly leaves to the machine. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const double values[] = {
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.1,
    -2.5,
    3.5,
    1e300,
    -1e-300,
    4.9e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    123456789.125,
    1.0 / 3.0,
    (double)INFINITY,
    -(double)INFINITY,
    NAN,
};
#define N (sizeof values / sizeof values[0])

static uint64_t bits(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof u);
	return u;
}

static uint32_t fbits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

/* FNV-1a over the bits of a line, so that each line stays short. */
static uint64_t mix(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

static void line(const char *name, uint64_t h)
{
	printf("%-6s %016llx\n", name, (unsigned long long)h);
}

int main(void)
{
	/* volatile: the compiler of the program itself must not fold anything. */
	volatile double v[N];
	for (size_t i = 0; i < N; i++)
		v[i] = values[i];
	uint64_t add = 0xcbf29ce484222325ull, sub = add, mul = add, div = add, mn = add, mx = add;
	for (size_t i = 0; i < N; i++) {
		for (size_t j = 0; j < N; j++) {
			add = mix(add, bits(v[i] + v[j]));
			sub = mix(sub, bits(v[i] - v[j]));
			mul = mix(mul, bits(v[i] * v[j]));
			div = mix(div, bits(v[i] / v[j]));
			mn = mix(mn, bits(fmin(v[i], v[j])));
			mx = mix(mx, bits(fmax(v[i], v[j])));
		}
	}
	line("add", add);
	line("sub", sub);
	line("mul", mul);
	line("div", div);
	line("fmin", mn);
	line("fmax", mx);
	uint64_t sq = 0xcbf29ce484222325ull, rnd = sq, conv = sq, sgl = sq, lib = sq;
	for (size_t i = 0; i < N; i++) {
		double x = v[i];
		sq = mix(sq, bits(sqrt(x)));
		rnd = mix(rnd, bits(floor(x)));
		rnd = mix(rnd, bits(ceil(x)));
		rnd = mix(rnd, bits(trunc(x)));
		rnd = mix(rnd, bits(nearbyint(x)));
		rnd = mix(rnd, bits(fabs(x)));
		rnd = mix(rnd, bits(copysign(2.0, x)));
		if (x > -2147483648.0 && x < 2147483648.0)
			conv = mix(conv, (uint64_t)(int64_t)(int32_t)x);
		if (x > -9.2e18 && x < 9.2e18)
			conv = mix(conv, (uint64_t)(int64_t)x);
		conv = mix(conv, bits((double)(int64_t)(i * 0x123456789abull)));
		conv = mix(conv, bits((double)(uint64_t)(~0ull - i)));
		float f = (float)x;
		volatile float g = 1.1f;
		sgl = mix(sgl, fbits(f));
		sgl = mix(sgl, fbits(f * g + g));
		sgl = mix(sgl, fbits(sqrtf(f)));
		sgl = mix(sgl, fbits(f / g));
		lib = mix(lib, bits(sin(x)));
		lib = mix(lib, bits(exp(x)));
		lib = mix(lib, bits(log(x)));
		lib = mix(lib, bits(pow(x, 0.75)));
		lib = mix(lib, bits(atan2(x, 1.5)));
	}
	line("sqrt", sq);
	line("round", rnd);
	line("conv", conv);
	line("single", sgl);
	line("libm", lib);
	/* A long dependent chain, where a fused multiply-add would change the last bits. */
	volatile double a = 1.0000001, acc = 0.0;
	for (int i = 0; i < 100000; i++)
		acc = acc * a + 1e-7;
	printf("chain  %016llx %.17g\n", (unsigned long long)bits(acc), acc);
	return 0;
}
