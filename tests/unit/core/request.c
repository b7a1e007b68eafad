/* Unit tests for src/core/request.c: the arena calls a handler uses
 * (vial_alloc, vial_realloc) inside a real request. */
#include "unit.h"

static int h_realloc(vial_req *req)
{
    /* NULL grows from nothing; a smaller size keeps the block */
    int *v = vial_realloc(req, NULL, 0, 4 * sizeof *v);
    assert_non_null(v);
    assert_ptr_equal(vial_realloc(req, v, 4 * sizeof *v, 2 * sizeof *v), v);
    /* the newest allocation grows where it is */
    for (int i = 0; i < 4; i++)
        v[i] = i;
    int *w = vial_realloc(req, v, 4 * sizeof *v, 8 * sizeof *v);
    assert_ptr_equal(w, v);
    /* one allocated after it: now it is copied, contents kept */
    char *other = vial_alloc(req, 10);
    assert_non_null(other);
    size_t cap = 8;
    for (int i = 4; i < 100000; i++) {
        if ((size_t)i == cap) {
            int *g = vial_realloc(req, w, cap * sizeof *w, 2 * cap * sizeof *w);
            assert_non_null(g);
            w = g;
            cap *= 2;
        }
        w[i] = i;
    }
    for (int i = 0; i < 100000; i++)
        if (w[i] != i)
            fail_msg("w[%d] = %d", i, w[i]);
    assert_null(vial_realloc(NULL, w, 4, 8));
    assert_null(vial_realloc(req, NULL, 0, (size_t)1 << 62)); /* refused, not overflowed */
    return vial_text(req, 200, "ok");
}

static void test_arena_realloc(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_configure(app, 0, NULL);
    vial_get(app, "/r", h_realloc);
    expect(app, "GET", "/r", 200, "ok");
    expect(app, "GET", "/r", 200, "ok"); /* a reset arena serves the next one */
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_realloc),
    };
    return RUN_GROUP(tests);
}
