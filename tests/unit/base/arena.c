/*
 * Unit tests for src/base/arena.c: the per-worker block pool and the
 * per-request arena — alignment, the big-allocation path (a block of its
 * own behind the current one), vial__arena_realloc growing in place for
 * the newest allocation and with its block for one alone in a block of its
 * own, copying otherwise, reset handing pooled blocks back, the pool's
 * cap, and the size limit that refuses absurd requests before any malloc.
 */
#include "unit.h"

#include <stdlib.h>

#define ALIGNED(p) (((uintptr_t)(p) & 15u) == 0)

static void test_pool_get_put_drain(void **state)
{
    (void)state;
    vial__pool pool = { .max = 2 };
    void *a = vial__pool_get(&pool), *b = vial__pool_get(&pool), *c = vial__pool_get(&pool);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    memset(a, 1, VIAL__BLOCK_SIZE); /* a whole block is usable */
    vial__pool_put(&pool, a);
    vial__pool_put(&pool, b);
    assert_int_equal(pool.n, 2);
    vial__pool_put(&pool, c); /* over max: freed, not kept */
    assert_int_equal(pool.n, 2);
    /* last in, first out */
    assert_ptr_equal(vial__pool_get(&pool), b);
    assert_int_equal(pool.n, 1);
    vial__pool_put(&pool, b);
    vial__pool_put(&pool, NULL); /* a no-op */
    assert_int_equal(pool.n, 2);
    vial__pool_drain(&pool);
    assert_int_equal(pool.n, 0);
    assert_null(pool.free);
    /* the pool is usable again after a drain */
    void *d = vial__pool_get(&pool);
    vial__pool_put(&pool, d);
    assert_int_equal(pool.n, 1);
    vial__pool_drain(&pool);
}

static void test_pool_max_zero_keeps_nothing(void **state)
{
    (void)state;
    vial__pool pool = { .max = 0 };
    vial__pool_put(&pool, vial__pool_get(&pool));
    assert_int_equal(pool.n, 0);
    /* no pool at all: plain malloc/free */
    void *p = vial__pool_get(NULL);
    assert_non_null(p);
    vial__pool_put(NULL, p);
    vial__pool_drain(&pool);
}

static void test_alignment_of_every_size(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *prev = NULL;
    for (size_t size = 0; size < 300; size++) {
        char *p = vial__arena_alloc(&a, size);
        assert_non_null(p);
        assert_true(ALIGNED(p));
        assert_true(((uintptr_t)p % _Alignof(max_align_t)) == 0);
        memset(p, 0xab, size);
        assert_ptr_not_equal(p, prev); /* size 0 still gets its own address */
        prev = p;
    }
    vial__arena_reset(&a);
}

static void test_small_allocations_are_contiguous(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *p = vial__arena_alloc(&a, 1);
    char *q = vial__arena_alloc(&a, 17);
    char *r = vial__arena_alloc(&a, 0);
    assert_ptr_equal(q, p + 16);
    assert_ptr_equal(r, q + 32);
    assert_int_equal(a.total, 16 + 32 + 16);
    vial__arena_reset(&a);
    assert_int_equal(a.total, 0);
    assert_null(a.head);
}

static void test_big_allocation_keeps_current_block(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *small = vial__arena_alloc(&a, 100);
    char *mid = vial__arena_alloc(&a, 6000); /* fits: same block */
    assert_ptr_equal(mid, small + 112);
    /* over a quarter of a block, not fitting, with 2 KiB left in the current
     * one: a block of its own behind the current block */
    char *big = vial__arena_alloc(&a, 4000);
    assert_non_null(big);
    assert_true(ALIGNED(big));
    memset(big, 0x5a, 4000);
    /* so the next small allocation still continues the first block */
    char *next = vial__arena_alloc(&a, 100);
    assert_ptr_equal(next, mid + 6000);
    assert_int_equal(a.total, 112 + 6000 + 4000 + 112);
    vial__arena_reset(&a);
}

static void test_big_allocation_when_block_nearly_full(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *small = vial__arena_alloc(&a, 100);
    char *fill = vial__arena_alloc(&a, 7900); /* under 256 bytes left */
    assert_ptr_equal(fill, small + 112);
    /* not worth keeping the old block's tail: the new block becomes current */
    char *big = vial__arena_alloc(&a, 4000);
    char *next = vial__arena_alloc(&a, 100);
    assert_ptr_equal(next, big + 4000);
    vial__arena_reset(&a);
}

static void test_larger_than_a_block(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *p = vial__arena_alloc(&a, 100000);
    assert_non_null(p);
    memset(p, 1, 100000);
    /* small ones after it still work (a fresh block) */
    for (int i = 0; i < 1000; i++) {
        char *q = vial__arena_alloc(&a, 50);
        assert_non_null(q);
        memset(q, 2, 50);
    }
    assert_int_equal(p[99999], 1);
    vial__arena_reset(&a);
}

static void test_many_medium_allocations(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *v[200];
    for (int i = 0; i < 200; i++) {
        v[i] = vial__arena_alloc(&a, 3000);
        assert_non_null(v[i]);
        assert_true(ALIGNED(v[i]));
        memset(v[i], i, 3000);
    }
    for (int i = 0; i < 200; i++) { /* no allocation overlapped another */
        assert_int_equal((unsigned char)v[i][0], i & 0xff);
        assert_int_equal((unsigned char)v[i][2999], i & 0xff);
    }
    assert_int_equal(a.total, 200 * 3008);
    vial__arena_reset(&a);
}

static void test_realloc_grows_newest_in_place(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *p = vial__arena_alloc(&a, 32);
    memcpy(p, "0123456789abcdef0123456789abcdef", 32);
    size_t before = a.total;
    char *q = vial__arena_realloc(&a, p, 32, 64);
    assert_ptr_equal(q, p);
    assert_int_equal(a.total, before + 32);
    q = vial__arena_realloc(&a, q, 64, 1000);
    assert_ptr_equal(q, p);
    memset(q + 64, 'x', 936);
    /* the next allocation comes after the grown one */
    char *after = vial__arena_alloc(&a, 16);
    assert_ptr_equal(after, p + 1008);
    assert_memory_equal(p, "0123456789abcdef0123456789abcdef", 32);
    vial__arena_reset(&a);
}

static void test_realloc_copies_when_not_newest(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *p = vial__arena_alloc(&a, 24);
    memcpy(p, "hello, arena, keep this", 24);
    char *other = vial__arena_alloc(&a, 8);
    memset(other, 0x77, 8);
    char *q = vial__arena_realloc(&a, p, 24, 48);
    assert_ptr_not_equal(q, p);
    assert_memory_equal(q, "hello, arena, keep this", 24);
    /* the allocation in between is untouched */
    for (int i = 0; i < 8; i++)
        assert_int_equal((unsigned char)other[i], 0x77);
    vial__arena_reset(&a);
}

static void test_realloc_copies_when_block_is_full(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *p = vial__arena_alloc(&a, 16);
    memcpy(p, "fifteen chars!!", 16);
    /* newest, but far more than the block holds: moved, content kept */
    char *q = vial__arena_realloc(&a, p, 16, 50000);
    assert_non_null(q);
    assert_ptr_not_equal(q, p);
    assert_string_equal(q, "fifteen chars!!");
    memset(q + 16, 0, 50000 - 16);
    vial__arena_reset(&a);
}

static void test_realloc_grows_a_lone_big_block(void **state)
{
    (void)state;
    vial__pool pool = { .max = 4 };
    vial__arena a = { .pool = &pool };
    char *small = vial__arena_alloc(&a, 10);
    memset(small, 1, 10);
    /* a vector doubled from 50 KB to 3.2 MB, alone in its block: the block
     * is realloc'd (remapped, not copied), the contents survive */
    char *vec = vial__arena_alloc(&a, 50000);
    memset(vec, 3, 50000);
    size_t before = a.total;
    for (size_t cap = 50000; cap < 3200000; cap *= 2) {
        vec = vial__arena_realloc(&a, vec, cap, cap * 2);
        assert_non_null(vec);
        assert_true(ALIGNED(vec));
        for (size_t i = 0; i < cap; i += 4099)
            assert_int_equal(vec[i], 3);
        memset(vec + cap, 3, cap);
    }
    assert_true(a.total - before < 3200000); /* grown, not allocated again */
    /* the blocks around it are intact and still released by reset */
    assert_int_equal(small[9], 1);
    char *next = vial__arena_alloc(&a, 100);
    memset(next, 5, 100);
    assert_int_equal(vec[3199999], 3);
    vial__arena_reset(&a);
    vial__pool_drain(&pool);
}

static void test_realloc_shrink_and_null(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *p = vial__arena_alloc(&a, 64);
    size_t before = a.total;
    assert_ptr_equal(vial__arena_realloc(&a, p, 64, 10), p);
    assert_ptr_equal(vial__arena_realloc(&a, p, 64, 64), p);
    assert_int_equal(a.total, before);
    char *n = vial__arena_realloc(&a, NULL, 0, 40);
    assert_non_null(n);
    assert_ptr_equal(n, p + 64);
    vial__arena_reset(&a);
}

static void test_size_limit(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    /* refused before any size arithmetic could overflow */
    assert_null(vial__arena_alloc(&a, SIZE_MAX));
    assert_null(vial__arena_alloc(&a, SIZE_MAX - 8));
    assert_null(vial__arena_alloc(&a, ((size_t)1 << 40) + 1));
    assert_null(a.head);
    assert_int_equal(a.total, 0);
    /* a failed realloc leaves the old allocation valid */
    char *p = vial__arena_alloc(&a, 8);
    memcpy(p, "kept!!!", 8);
    assert_null(vial__arena_realloc(&a, p, 8, SIZE_MAX));
    assert_null(vial__arena_realloc(&a, p, 8, SIZE_MAX - 3));
    assert_string_equal(p, "kept!!!");
    /* and the arena goes on */
    assert_ptr_equal(vial__arena_alloc(&a, 1), p + 16);
    vial__arena_reset(&a);
}

static void test_reset_returns_pool_blocks(void **state)
{
    (void)state;
    vial__pool pool = { .max = 8 };
    vial__arena a = { .pool = &pool };
    char *p = vial__arena_alloc(&a, 10);
    vial__arena_alloc(&a, 5000); /* a malloc'd block of its own */
    assert_int_equal(pool.n, 0);
    vial__arena_reset(&a);
    assert_int_equal(pool.n, 1); /* only the standard block goes back */
    assert_null(a.head);
    /* the next request gets the same block back: no malloc */
    char *q = vial__arena_alloc(&a, 10);
    assert_ptr_equal(q, p);
    assert_int_equal(pool.n, 0);
    /* several pooled blocks: all of them return */
    for (int i = 0; i < 3000; i++)
        vial__arena_alloc(&a, 20);
    vial__arena_reset(&a);
    assert_int_equal(pool.n, 8); /* twelve blocks came back; the pool keeps its max */
    vial__pool_drain(&pool);
}

static void test_reset_of_big_only_arena_returns_nothing(void **state)
{
    (void)state;
    vial__pool pool = { .max = 8 };
    vial__arena a = { .pool = &pool };
    assert_non_null(vial__arena_alloc(&a, 20000));
    vial__arena_reset(&a);
    assert_int_equal(pool.n, 0);
    vial__arena_reset(&a); /* twice is fine */
    vial__pool_drain(&pool);
}

static void test_strndup(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    char *s = vial__arena_strndup(&a, "abcdef", 3);
    assert_string_equal(s, "abc");
    char *e = vial__arena_strndup(&a, "", 0);
    assert_string_equal(e, "");
    /* NULs inside are copied (the length rules) */
    char *z = vial__arena_strndup(&a, "a\0b", 3);
    assert_memory_equal(z, "a\0b\0", 4);
    vial__arena_reset(&a);
}

static char *fmt(vial__arena *a, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *p = vial__arena_vsprintf(a, f, ap);
    va_end(ap);
    return p;
}

static void test_vsprintf_short_and_long(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    assert_string_equal(fmt(&a, "%d-%s", 42, "x"), "42-x");
    assert_string_equal(fmt(&a, "%s", ""), "");
    /* longer than the 256-byte stack buffer: formatted a second time */
    char big[1000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *p = fmt(&a, "<%s|%d>", big, 7);
    assert_int_equal(strlen(p), 1003);
    assert_int_equal(p[0], '<');
    assert_memory_equal(p + 1000, "|7>", 4);
    /* exactly at the boundary */
    char b255[256];
    memset(b255, 'r', 255);
    b255[255] = '\0';
    assert_string_equal(fmt(&a, "%s", b255), b255);
    char b256[257];
    memset(b256, 's', 256);
    b256[256] = '\0';
    assert_string_equal(fmt(&a, "%s", b256), b256);
    vial__arena_reset(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_get_put_drain),
        cmocka_unit_test(test_pool_max_zero_keeps_nothing),
        cmocka_unit_test(test_alignment_of_every_size),
        cmocka_unit_test(test_small_allocations_are_contiguous),
        cmocka_unit_test(test_big_allocation_keeps_current_block),
        cmocka_unit_test(test_big_allocation_when_block_nearly_full),
        cmocka_unit_test(test_larger_than_a_block),
        cmocka_unit_test(test_many_medium_allocations),
        cmocka_unit_test(test_realloc_grows_newest_in_place),
        cmocka_unit_test(test_realloc_copies_when_not_newest),
        cmocka_unit_test(test_realloc_copies_when_block_is_full),
        cmocka_unit_test(test_realloc_grows_a_lone_big_block),
        cmocka_unit_test(test_realloc_shrink_and_null),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_reset_returns_pool_blocks),
        cmocka_unit_test(test_reset_of_big_only_arena_returns_nothing),
        cmocka_unit_test(test_strndup),
        cmocka_unit_test(test_vsprintf_short_and_long),
    };
    return RUN_GROUP(tests);
}
