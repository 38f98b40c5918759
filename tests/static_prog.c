/* hakmem test helper for tests/static.sh: linked -static with libhakmem.a
 * (libtool -all-static). In a build that overrides malloc, every
 * allocation of the program must come from hakmem, the C library's own
 * ones (strdup, stdio buffers) included, with glibc's malloc.o left out of
 * the link; with --with-malloc-prefix, malloc stays glibc's and hakmem's
 * API works beside it.
 *
 * usage: static_prog PLAN (the configured tier plan)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"

static int failed;

static void check(int cond, const char *what)
{
    printf("%s: %s\n", cond ? "ok" : "FAILED", what);
    failed |= !cond;
}

static size_t live(void)
{
    struct hak_stats s;
    hak_stats_get(&s, sizeof s);
    return s.live_small_blocks;
}

/* Frees the blocks another thread allocated, allocates its own. */
static void *worker(void *arg)
{
    char **blocks = arg;
    for (int i = 0; i < 1000; i++) {
        free(blocks[i]);
        blocks[i] = malloc(1 + (size_t)i % 500);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    check(strcmp(hak_tier_plan(), argv[1]) == 0, "hak_tier_plan() is the configured plan");
    void *p = hak_malloc(100);
    check(p != NULL && hak_usable_size(p) >= 100, "hak_malloc");
    hak_free(p);

    size_t before = live();
    char **blocks = malloc(1000 * sizeof *blocks);
    for (int i = 0; i < 1000; i++)
        blocks[i] = malloc(1 + (size_t)i % 300);
    char *dup = strdup("allocated inside the C library");
    size_t during = live();
    if (HAKMEM_OVERRIDES_MALLOC) {
        check(during >= before + 1001, "malloc and strdup allocate from hakmem");
        check(hak_usable_size(blocks[7]) >= 8 && hak_usable_size(dup) >= 31,
              "hakmem knows the blocks malloc and strdup returned");
    } else {
        check(during == before, "--with-malloc-prefix: malloc is the C library's");
    }
    pthread_t t;
    check(pthread_create(&t, NULL, worker, blocks) == 0 && pthread_join(t, NULL) == 0,
          "a thread frees and allocates");
    for (int i = 0; i < 1000; i++)
        free(blocks[i]);
    free(blocks);
    free(dup);
    check(live() <= before + 1, "every block is back");
    check(hak_heap_check() == 0, "hak_heap_check");
    return failed;
}
