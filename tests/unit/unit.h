/*
 * unit.h — shared by the cmocka unit tests.  Each test file mirrors one
 * source file and runs its cases as a group named after the ctest test
 * (VIAL_TEST_NAME), so `make test` can count individual cases.
 */
#ifndef VIAL_UNIT_H
#define VIAL_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/core.h"

#define RUN_GROUP(tests) cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, NULL, NULL)

/* A GET through the in-process client; returns the response (free it). */
static inline vial_test_resp *get(vial_app *app, const char *target)
{
    vial_test_resp *r = vial_test(app, "GET", target, NULL, NULL, 0);
    assert_non_null(r);
    return r;
}

static inline void expect(vial_app *app, const char *method, const char *target, int status,
                          const char *body)
{
    vial_test_resp *r = vial_test(app, method, target, NULL, NULL, 0);
    assert_non_null(r);
    if (vial_test_status(r) != status) {
        size_t n;
        print_error("%s %s: status %d, body %s\n", method, target, vial_test_status(r),
                    vial_test_body(r, &n));
    }
    assert_int_equal(vial_test_status(r), status);
    if (body)
        assert_string_equal(vial_test_body(r, NULL), body);
    vial_test_free(r);
}

#endif
