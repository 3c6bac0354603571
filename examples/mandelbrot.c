/* Renders one tile of the Mandelbrot set as a binary PGM image on stdout.
 * Argument: "X0 Y0 X1 Y1 WIDTH HEIGHT MAXITER", the tile's corners in the complex plane,
 * its size in pixels and the iteration limit. Pixels inside the set are black; outside,
 * the grey level grows with the escape time. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	double x0, y0, x1, y1;
	int width, height, maxiter;
	if (argc < 2 ||
	    sscanf(argv[1], "%lf %lf %lf %lf %d %d %d", &x0, &y0, &x1, &y1, &width, &height,
		   &maxiter) != 7 ||
	    width <= 0 || height <= 0 || width > 4096 || height > 4096 || maxiter <= 0) {
		fprintf(stderr, "usage: mandelbrot \"X0 Y0 X1 Y1 WIDTH HEIGHT MAXITER\"\n");
		return 2;
	}
	unsigned char *row = malloc((size_t)width);
	if (!row) {
		fprintf(stderr, "mandelbrot: out of memory\n");
		return 1;
	}
	printf("P5\n%d %d\n255\n", width, height);
	for (int py = 0; py < height; py++) {
		double ci = y0 + (y1 - y0) * (py + 0.5) / height;
		for (int px = 0; px < width; px++) {
			double cr = x0 + (x1 - x0) * (px + 0.5) / width;
			double zr = 0, zi = 0, zr2 = 0, zi2 = 0;
			int i = 0;
			while (i < maxiter && zr2 + zi2 <= 4.0) {
				zi = 2 * zr * zi + ci;
				zr = zr2 - zi2 + cr;
				zr2 = zr * zr;
				zi2 = zi * zi;
				i++;
			}
			row[px] = i == maxiter ? 0 : (unsigned char)(255 - i * 255 / maxiter);
		}
		fwrite(row, 1, (size_t)width, stdout);
	}
	free(row);
	return 0;
}
