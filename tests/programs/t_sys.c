/* Test program: tries to reach the host (files, directories, environment) and reports
 * what it saw, one word per probe; also checks that the clocks move. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	FILE *f = fopen("/etc/passwd", "r");
	printf("passwd:%s ", f ? "open" : "denied");
	f = fopen("relative.txt", "w");
	printf("create:%s ", f ? "open" : "denied");
	DIR *d = opendir("/");
	printf("root:%s ", d ? "open" : "denied");
	int fd = open("/proc/self/maps", O_RDONLY);
	printf("proc:%s ", fd >= 0 ? "open" : "denied");
	printf("env:%s ", getenv("PATH") ? "set" : "empty");
	char buf[16];
	printf("fd5:%s ", read(5, buf, sizeof buf) < 0 ? "badf" : "read");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	volatile unsigned long spin = 0;
	for (int i = 0; i < 1000000; i++)
		spin += (unsigned long)i;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	printf("clock:%s ", (t1.tv_sec > t0.tv_sec || t1.tv_nsec > t0.tv_nsec) ? "moves" : "stuck");
	printf("year2020+:%s\n", now.tv_sec > 1577836800 ? "yes" : "no");
	return 0;
}
