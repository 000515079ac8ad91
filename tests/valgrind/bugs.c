/* tests/valgrind/bugs.c -- one memory bug per run, for memcheck to find in
 * a program running on Cairn.  usage: bugs uaf-read|uaf-write|overrun|
 * uninit|leak|double-free|clean */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keep the compiler from seeing through the bugs. */
static void *volatile sink;

int main(int argc, char **argv) {
    const char *bug = argc > 1 ? argv[1] : "clean";
    const char *(*version)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "cairn_version");
    printf("allocator: %s\n", version ? "cairn" : "system");
    fflush(stdout);                           /* before any abort */
    /* Some traffic around the bug, so the blocks sit among others. */
    char *keep[64];
    for (int i = 0; i < 64; i++) {
        keep[i] = malloc((size_t)(8 + i * 40));
        memset(keep[i], i, (size_t)(8 + i * 40));
    }
    if (strcmp(bug, "uaf-read") == 0) {
        char *p = malloc(48);
        strcpy(p, "freed");
        sink = p;
        free(p);
        printf("read %d\n", ((volatile char *)sink)[2]);
    } else if (strcmp(bug, "uaf-write") == 0) {
        char *p = malloc(200);
        sink = p;
        free(p);
        ((volatile char *)sink)[100] = 1;
    } else if (strcmp(bug, "overrun") == 0) {
        char *p = malloc(20);                 /* usable size is larger */
        sink = p;
        ((volatile char *)sink)[20] = 1;
        free(p);
    } else if (strcmp(bug, "uninit") == 0) {
        int *p = malloc(64);
        sink = p;
        if (((volatile int *)sink)[3] == 12345) puts("unlikely");
        free(p);
    } else if (strcmp(bug, "leak") == 0) {
        char *p = malloc(777);
        memset(p, 0, 777);
        sink = p;
        sink = NULL;                          /* the only pointer is gone */
    } else if (strcmp(bug, "double-free") == 0) {
        char *p = malloc(32);
        sink = p;
        free(p);
        free(sink);
    } else {                                  /* clean: every call, no bug */
        char *c = calloc(100, 10);
        for (int i = 0; i < 1000; i++)
            if (c[i]) return 3;
        char *r = malloc(10);
        memcpy(r, "0123456789", 10);
        r = realloc(r, 100000);
        if (memcmp(r, "0123456789", 10)) return 4;
        r = realloc(r, 5);
        if (memcmp(r, "01234", 5)) return 4;
        void *a = NULL;
        if (posix_memalign(&a, 4096, 3000)) return 5;
        memset(a, 1, 3000);
        char *big = malloc(5 << 20);
        memset(big, 2, 5 << 20);
        free(big);
        free(a);
        free(r);
        free(c);
    }
    for (int i = 0; i < 64; i++) free(keep[i]);
    puts("done");
    return 0;
}
