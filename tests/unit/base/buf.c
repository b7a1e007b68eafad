/*
 * Unit tests for src/base/buf.c: growable buffers — growth and the room
 * always kept for vial__buf_nul(), the first block taken from a block pool
 * and the move to malloc past it, release/free and the pool binding,
 * printf into a buffer (short, long, failing), and sizes that would
 * overflow refused with VIAL_ENOMEM and the buffer left as it was.
 */
#include "unit.h"

#include <stdlib.h>
#include <wchar.h>

static void test_empty_buffer(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    assert_int_equal(vial__buf_append(&b, "x", 0), 0);
    assert_null(b.p); /* nothing appended, nothing allocated */
    assert_int_equal(vial__buf_puts(&b, ""), 0);
    assert_null(b.p);
    assert_int_equal(vial__buf_nul(&b), 0);
    assert_non_null(b.p);
    assert_string_equal(b.p, "");
    assert_int_equal(b.n, 0);
    vial__buf_free(&b);
    assert_null(b.p);
    vial__buf_free(&b); /* twice is fine */
}

static void test_growth_keeps_content_and_nul_room(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    assert_int_equal(vial__buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.cap, 256);
    char chunk[100];
    for (int i = 0; i < 100; i++) {
        memset(chunk, 'a' + i % 26, sizeof chunk);
        assert_int_equal(vial__buf_append(&b, chunk, sizeof chunk), 0);
        assert_true(b.cap > b.n); /* a byte for the NUL is always there */
    }
    assert_int_equal(b.n, 3 + 100 * 100);
    assert_int_equal(b.cap, 16384); /* doubled from 256 */
    assert_memory_equal(b.p, "abc", 3);
    for (int i = 0; i < 100; i++)
        assert_int_equal(b.p[3 + i * 100 + 99], 'a' + i % 26);
    char *before = b.p;
    assert_int_equal(vial__buf_nul(&b), 0);
    assert_ptr_equal(b.p, before); /* no growth needed for the NUL */
    assert_int_equal(b.p[b.n], '\0');
    vial__buf_free(&b);
}

static void test_exact_fill_then_nul(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    char data[255];
    memset(data, 'z', sizeof data);
    assert_int_equal(vial__buf_append(&b, data, 1), 0); /* cap 256 */
    char *p = b.p;
    assert_int_equal(vial__buf_add(&b, data, 254), 0);  /* the inline fast path */
    assert_int_equal(b.n, 255);
    assert_ptr_equal(b.p, p);
    assert_int_equal(vial__buf_nul(&b), 0);
    assert_ptr_equal(b.p, p);
    assert_int_equal(strlen(b.p), 255);
    /* one more byte must grow (the fast path would overwrite the NUL room) */
    assert_int_equal(vial__buf_add(&b, "!", 1), 0);
    assert_int_equal(b.cap, 512);
    assert_int_equal(b.p[255], '!');
    vial__buf_free(&b);
}

static void test_first_block_from_pool(void **state)
{
    (void)state;
    vial__pool pool = { .max = 4 };
    void *block = vial__pool_get(&pool);
    vial__pool_put(&pool, block);
    vial__buf b = { .pool = &pool };
    assert_int_equal(vial__buf_puts(&b, "hello"), 0);
    assert_true(b.pooled);
    assert_ptr_equal(b.p, block);
    assert_int_equal(b.cap, VIAL__BLOCK_SIZE);
    assert_int_equal(pool.n, 0);
    vial__buf_release(&b); /* back to the pool, binding kept */
    assert_int_equal(pool.n, 1);
    assert_null(b.p);
    assert_false(b.pooled);
    assert_ptr_equal(b.pool, &pool);
    assert_int_equal(vial__buf_puts(&b, "again"), 0);
    assert_true(b.pooled);
    assert_ptr_equal(b.p, block);
    vial__buf_free(&b); /* also back to the pool, binding dropped */
    assert_int_equal(pool.n, 1);
    assert_null(b.pool);
    assert_int_equal(vial__buf_puts(&b, "plain"), 0);
    assert_false(b.pooled);
    vial__buf_free(&b);
    vial__pool_drain(&pool);
}

static void test_pooled_moves_to_malloc(void **state)
{
    (void)state;
    vial__pool pool = { .max = 4 };
    vial__buf b = { .pool = &pool };
    char block[VIAL__BLOCK_SIZE];
    for (size_t i = 0; i < sizeof block; i++)
        block[i] = (char)('0' + i % 10);
    assert_int_equal(vial__buf_append(&b, block, VIAL__BLOCK_SIZE - 1), 0);
    assert_true(b.pooled); /* 8191 bytes + the NUL fit the block */
    assert_int_equal(vial__buf_append(&b, "X", 1), 0);
    assert_false(b.pooled);
    assert_int_equal(b.cap, 2 * VIAL__BLOCK_SIZE);
    assert_int_equal(pool.n, 1); /* the block went back */
    assert_memory_equal(b.p, block, VIAL__BLOCK_SIZE - 1);
    assert_int_equal(b.p[VIAL__BLOCK_SIZE - 1], 'X');
    vial__buf_release(&b); /* a malloc'd buffer is freed, not pooled */
    assert_int_equal(pool.n, 1);
    vial__buf_free(&b);
    vial__pool_drain(&pool);
}

static void test_large_first_append_skips_pool(void **state)
{
    (void)state;
    vial__pool pool = { .max = 4 };
    vial__buf b = { .pool = &pool };
    char *big = malloc(10000);
    memset(big, 'b', 10000);
    assert_int_equal(vial__buf_append(&b, big, 10000), 0);
    assert_false(b.pooled);
    assert_int_equal(pool.n, 0);
    assert_true(b.cap > 10000);
    assert_memory_equal(b.p, big, 10000);
    free(big);
    vial__buf_free(&b);
    vial__pool_drain(&pool);
}

static void test_printf_short_long_and_appending(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    assert_int_equal(vial__buf_printf(&b, "%d:%s", 12, "ab"), 0);
    assert_int_equal(b.n, 5);
    assert_memory_equal(b.p, "12:ab", 5);
    char long_s[3000];
    memset(long_s, 'L', sizeof long_s - 1);
    long_s[sizeof long_s - 1] = '\0';
    assert_int_equal(vial__buf_printf(&b, "[%s]", long_s), 0); /* past the 128 reserved */
    assert_int_equal(b.n, 5 + 3001);
    assert_int_equal(b.p[5], '[');
    assert_int_equal(b.p[5 + 3000], ']');
    assert_int_equal(b.p[b.n], '\0'); /* vsnprintf wrote it; not counted */
    assert_int_equal(vial__buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.n, 3006);
    vial__buf_free(&b);
}

static void test_printf_failure_leaves_buffer(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    assert_int_equal(vial__buf_puts(&b, "keep"), 0);
    /* a wide character the C locale cannot encode: vsnprintf fails */
    wchar_t w[] = { 0x263a, 0 };
    assert_int_equal(vial__buf_printf(&b, "%ls", w), VIAL_EINVAL);
    assert_int_equal(b.n, 4);
    assert_int_equal(vial__buf_nul(&b), 0);
    assert_string_equal(b.p, "keep");
    vial__buf_free(&b);
}

static void test_overflowing_sizes_refused(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    assert_int_equal(vial__buf_puts(&b, "abcde"), 0);
    char *p = b.p;
    size_t cap = b.cap;
    assert_int_equal(vial__buf_grow(&b, SIZE_MAX), VIAL_ENOMEM);
    assert_int_equal(vial__buf_grow(&b, SIZE_MAX - 5), VIAL_ENOMEM); /* n + extra + 1 overflows */
    assert_int_equal(vial__buf_reserve(&b, SIZE_MAX - 5), VIAL_ENOMEM);
    assert_int_equal(vial__buf_append(&b, "x", SIZE_MAX - 5), VIAL_ENOMEM);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.n, 5);
    assert_memory_equal(b.p, "abcde", 5);
    /* a reservation that fits changes nothing either */
    assert_int_equal(vial__buf_reserve(&b, 10), 0);
    assert_int_equal(b.n, 5);
    vial__buf_free(&b);
}

static void test_reserve_then_direct_write(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    assert_int_equal(vial__buf_reserve(&b, 1000), 0);
    assert_true(b.cap - b.n > 1000);
    memcpy(b.p + b.n, "direct", 6);
    b.n += 6;
    assert_int_equal(vial__buf_nul(&b), 0);
    assert_string_equal(b.p, "direct");
    vial__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_buffer),
        cmocka_unit_test(test_growth_keeps_content_and_nul_room),
        cmocka_unit_test(test_exact_fill_then_nul),
        cmocka_unit_test(test_first_block_from_pool),
        cmocka_unit_test(test_pooled_moves_to_malloc),
        cmocka_unit_test(test_large_first_append_skips_pool),
        cmocka_unit_test(test_printf_short_long_and_appending),
        cmocka_unit_test(test_printf_failure_leaves_buffer),
        cmocka_unit_test(test_overflowing_sizes_refused),
        cmocka_unit_test(test_reserve_then_direct_write),
    };
    return RUN_GROUP(tests);
}
