/* hakmem tests: whether this build runs the quick check.
 *
 * tools/test-all sets HAKMEM_QUICK_CHECK (non-empty) in every build but the
 * default one and the one with other configure options: there the tests
 * that do not depend on the tier plan skip, or do the plan's share only.
 */
#ifndef HAK_TEST_QUICK_H
#define HAK_TEST_QUICK_H

#include <stdbool.h>
#include <stdlib.h>

static inline bool hak_test_quick(void)
{
    const char *quick = getenv("HAKMEM_QUICK_CHECK");
    return quick != NULL && *quick != '\0';
}

#endif /* HAK_TEST_QUICK_H */
