/* runner.c -- launcher used by bench/run to measure one benchmark process.
 *
 *   runner STATSFILE LIB|- PROGRAM ARGS...
 *
 * Forks; the child sets LD_PRELOAD=LIB (or unsets it for "-") and execs
 * PROGRAM; the parent waits with wait4 and writes
 *   wall_s user_s sys_s maxrss_kb status
 * to STATSFILE (status as from waitpid).  Why not measure from Python: Linux
 * carries the peak RSS of a process across exec, so a child forked from the
 * Python harness would start with Python's RSS as its ru_maxrss; this small
 * program, not itself preloaded, keeps that floor at about 1 MiB, the same
 * for every allocator.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: runner STATSFILE LIB|- PROGRAM ARGS...\n");
        return 2;
    }
    FILE *stats = fopen(argv[1], "w");
    if (!stats) {
        perror(argv[1]);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        fclose(stats);
        if (strcmp(argv[2], "-") == 0) unsetenv("LD_PRELOAD");
        else setenv("LD_PRELOAD", argv[2], 1);
        execvp(argv[3], argv + 3);
        fprintf(stderr, "runner: cannot run %s: %s\n", argv[3], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0)
        if (errno != EINTR) {
            perror("wait4");
            return 2;
        }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stats, "%.6f %.6f %.6f %ld %d\n", wall,
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6,
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6, ru.ru_maxrss, status);
    fclose(stats);
    return 0;
}
