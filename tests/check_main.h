/* hakmem tests: the main() every check suite shares. A suite file defines
 * `static Suite *suite(void)` and includes this header last. Output is
 * TAP-free check output plus the summary line check prints; the exit code
 * is the number of failures (0 = pass). */
#ifndef HAK_TEST_CHECK_MAIN_H
#define HAK_TEST_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static Suite *suite(void);

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
