/* check_run.h — run one Check suite the way every steno suite does
 * (fork mode, normal output) and say how many tests failed. */
#ifndef STENO_TESTS_CHECK_RUN_H
#define STENO_TESTS_CHECK_RUN_H

#include <check.h>

static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

#endif
