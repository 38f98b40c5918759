/* hakmem tests: malloc & co. are hakmem's in every build.
 *
 * A test that calls the C names to exercise hakmem includes this last.
 * Built with the shim (the default), those names are hakmem's already;
 * built with --disable-override (sanitizer builds, where the sanitizer's
 * malloc must stay in charge), they are mapped to hak_* here. Memory the
 * C library hands out (strdup, open_memstream) may still go to free():
 * hak_free gives a pointer that is not hakmem's to the program's free.
 */
#ifndef HAK_TEST_HAK_ALLOC_H
#define HAK_TEST_HAK_ALLOC_H

#include <malloc.h>
#include <stdlib.h>

#include "config.h"
#include "hakmem.h"

#if !HAK_OVERRIDE
#define malloc(n) hak_malloc(n)
#define calloc(n, s) hak_calloc((n), (s))
#define realloc(p, n) hak_realloc((p), (n))
#define reallocarray(p, n, s) hak_reallocarray((p), (n), (s))
#define free(p) hak_free(p)
#define posix_memalign(pp, a, n) hak_posix_memalign((pp), (a), (n))
#define aligned_alloc(a, n) hak_aligned_alloc((a), (n))
#define malloc_usable_size(p) hak_usable_size(p)
#endif

#endif /* HAK_TEST_HAK_ALLOC_H */
