/* hakmem benchmarks: the Google benchmark microbenchmarks, one
 * registration function per file, called by main.c. */
#ifndef HAK_MICRO_H
#define HAK_MICRO_H

#include "gbench.h"

/* alloc.c: one thread, malloc/calloc/realloc/aligned_alloc and free. */
void micro_register_alloc(void);
/* xfree.c: blocks freed by a thread other than the one that allocated. */
void micro_register_xfree(void);

#endif /* HAK_MICRO_H */
