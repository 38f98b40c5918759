/* hakmem test helper for tests/diag.sh: one misbehaviour per run.
 *
 * usage: diag_prog CASE
 *   segv             dereference a bad pointer
 *   segv-own         the same, with a SIGSEGV handler the program installed
 *                    (it prints "own handler ran" and exits 3)
 *   double-free      free a small block twice
 *   double-free-cached  free twice with the first free still in a cache tier
 *   foreign          free a pointer hakmem never handed out (inside a slab)
 *   interior         free an interior pointer of a small block
 *   overwritten      overwrite a freed block's free-list link, then allocate
 *   stack            free, realloc and malloc_usable_size of a stack address
 *   interior-all     free, realloc and malloc_usable_size of an interior
 *                    pointer, then check the block and the heap are intact
 *   metadata         the same with pointers into a SuperSlab's first slab
 *                    (its header and slab descriptors), then check the heap
 *   stats N          allocate N small blocks, print the JSON statistics to
 *                    stdout and exit without freeing them
 *   heap-check       allocate and free, then hak_heap_check() must report 0
 */
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hakmem.h"
#include "hak_alloc.h"

static void own_handler(int sig)
{
    (void)sig;
    static const char msg[] = "own handler ran\n";
    write(2, msg, sizeof msg - 1);
    _exit(3);
}

/* Keeps the compiler from seeing through the misuse. */
static void *volatile sink;
static void *launder(void *p)
{
    sink = p;
    return sink;
}

int main(int argc, char **argv)
{
    const char *c = argc > 1 ? argv[1] : "";
    if (strcmp(c, "segv") == 0 || strcmp(c, "segv-own") == 0) {
        if (strcmp(c, "segv-own") == 0)
            signal(SIGSEGV, own_handler);
        *(volatile int *)launder((void *)16) = 1;
        return 0;
    }
    if (strcmp(c, "double-free") == 0) {
        void *keep[64];
        for (int i = 0; i < 64; i++)
            keep[i] = malloc(48);
        free(keep[10]);
        free(launder(keep[10]));
        return 0;
    }
    if (strcmp(c, "double-free-cached") == 0) {
        void *p = malloc(100);
        free(p);                /* lands in the top cache tier */
        free(launder(p));
        return 0;
    }
    if (strcmp(c, "foreign") == 0) {
        char *p = malloc(64);
        free(launder(p + 64 * 200)); /* a block of the slab never carved */
        return 0;
    }
    if (strcmp(c, "interior") == 0) {
        char *p = malloc(64);
        free(launder(p + 8));
        return 0;
    }
    if (strcmp(c, "overwritten") == 0) {
        /* Free two blocks so the second links to the first, then scribble
         * over the link, as a use after free would, and allocate. */
        void *a = malloc(32), *b = malloc(32);
        free(a);
        free(b);
        memset(launder(b), 0x41, 16);
        void *x = malloc(32), *y = malloc(32);
        sink = x;
        sink = y;
        return 0;
    }
    if (strcmp(c, "stack") == 0) {
        char local[64];
        free(launder(local));
        if (realloc(launder(local), 10) != NULL || malloc_usable_size(launder(local)) != 0)
            return 1;
        return 0;
    }
    if (strcmp(c, "interior-all") == 0) {
        char *p = malloc(200);
        memset(p, 7, 200);
        free(launder(p + 16));
        if (realloc(launder(p + 16), 10) != NULL || malloc_usable_size(launder(p + 16)) != 0)
            return 1;
        /* The block is still the program's and whole; nothing else was
         * handed out over it. */
        char *q[64];
        for (int i = 0; i < 64; i++) {
            q[i] = malloc(200);
            if (q[i] + 200 > p + 16 && q[i] < p + 200)
                return 1;
        }
        for (int i = 0; i < 200; i++)
            if (p[i] != 7)
                return 1;
        return hak_heap_check() != 0;
    }
    if (strcmp(c, "metadata") == 0) {
        char *p = malloc(200);
        memset(p, 7, 200);
        char *ss = (char *)((uintptr_t)p & ~(uintptr_t)((2u << 20) - 1));
        /* The header, every row of descriptors (4 KiB apart), and past them. */
        static const size_t at[] = {0, 16, 128, 4096, 4096 + 128, 8192 + 256, 28672 + 3968,
                                    32768, 32768 + 64, 65536 - 16};
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
            free(launder(ss + at[i]));
            if (realloc(launder(ss + at[i]), 10) != NULL ||
                malloc_usable_size(launder(ss + at[i])) != 0)
                return 1;
        }
        for (int i = 0; i < 200; i++)
            if (p[i] != 7)
                return 1;
        free(p);
        return hak_heap_check() != 0;
    }
    if (strcmp(c, "stats") == 0 && argc > 2) {
        setvbuf(stdout, NULL, _IONBF, 0); /* no stdio buffer among the blocks */
        struct hak_stats before;
        hak_stats_get(&before, sizeof before);
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++)
            sink = malloc(24 + (size_t)(i % 200));
        printf("{\"baseline\":%zu,\"hakmem\":", before.live_small_blocks);
        fflush(stdout);
        hak_stats_print_json(stdout);
        printf("}\n");
        return 0;
    }
    if (strcmp(c, "heap-check") == 0) {
        void *p[1000];
        for (int i = 0; i < 1000; i++)
            p[i] = malloc((size_t)(i % 300) + 1);
        for (int i = 0; i < 1000; i += 2)
            free(p[i]);
        int problems = hak_heap_check();
        printf("heap check: %d problems\n", problems);
        return problems != 0;
    }
    fprintf(stderr, "usage: diag_prog CASE (see the source)\n");
    return 2;
}
