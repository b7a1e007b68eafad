/*
 * Unit tests for src/base/outq.c: the output queue — small appends
 * coalesced into one segment (one iovec for a pipelined batch), buffers
 * taken by reference, file regions, vial__outq_iov gathering memory up to
 * the first file, consume across segment boundaries (and the coalesce
 * buffer starting over once nothing refers to it), file chunks read into
 * memory in the file's place, and descriptors closed on every path.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* Drains the queue as a writer would, file regions by pread; returns a
 * malloc'd NUL-terminated copy of everything. */
static char *drain(vial__outq *q, size_t step)
{
    vial__buf all = { 0 };
    while (q->bytes) {
        int fd;
        uint64_t off;
        size_t len;
        if (vial__outq_head_file(q, &fd, &off, &len)) {
            size_t n = len < step ? len : step;
            char tmp[4096];
            assert_true(n <= sizeof tmp);
            assert_int_equal(pread(fd, tmp, n, (off_t)off), (ssize_t)n);
            vial__buf_append(&all, tmp, n);
            vial__outq_consume(q, n);
            continue;
        }
        struct iovec iov[16];
        size_t k = vial__outq_iov(q, iov, 16);
        assert_true(k > 0);
        size_t left = step;
        size_t took = 0;
        for (size_t i = 0; i < k && left; i++) {
            size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;
            vial__buf_append(&all, iov[i].iov_base, n);
            left -= n;
            took += n;
        }
        vial__outq_consume(q, took);
    }
    vial__buf_nul(&all);
    return all.p;
}

/* A temporary file holding `s`; returns an open descriptor. */
static int temp_file(const char *s)
{
    char path[] = "/tmp/vial-outq-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    return fd;
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static void test_small_appends_coalesce(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    for (int i = 0; i < 50; i++)
        assert_int_equal(vial__outq_append(&q, "HTTP/1.1 200 OK\r\n", 17), 0);
    assert_int_equal(q.nsegs, 1); /* one segment, one iovec */
    assert_int_equal(q.bytes, 50 * 17);
    struct iovec iov[4];
    assert_int_equal(vial__outq_iov(&q, iov, 4), 1);
    assert_int_equal(iov[0].iov_len, 50 * 17);
    assert_int_equal(vial__outq_append(&q, "x", 0), 0); /* nothing queued */
    assert_int_equal(q.nsegs, 1);
    vial__outq_free(&q);
    assert_int_equal(q.bytes, 0);
    assert_null(q.segs);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    char *p = vial__outq_reserve(&q, 100);
    assert_non_null(p);
    memcpy(p, "abc", 3);
    vial__outq_commit(&q, 3);
    vial__outq_commit(&q, 0); /* a no-op */
    p = vial__outq_reserve(&q, 10);
    memcpy(p, "def", 3);
    vial__outq_commit(&q, 3);
    assert_int_equal(q.nsegs, 1);
    assert_int_equal(q.bytes, 6);
    char *s = drain(&q, 1000);
    assert_string_equal(s, "abcdef");
    free(s);
    vial__outq_free(&q);
}

static void test_take_keeps_order(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    vial__outq_append(&q, "head|", 5);
    char *body = strdup("BODY");
    assert_int_equal(vial__outq_take(&q, body, 4), 0);
    vial__outq_append(&q, "|tail", 5);
    /* the append after a taken buffer cannot extend the first segment */
    assert_int_equal(q.nsegs, 3);
    struct iovec iov[8];
    assert_int_equal(vial__outq_iov(&q, iov, 8), 3);
    assert_ptr_equal(iov[1].iov_base, body);
    assert_int_equal(vial__outq_iov(&q, iov, 2), 2); /* `max` is respected */
    char *s = drain(&q, 1000);
    assert_string_equal(s, "head|BODY|tail");
    free(s);
    vial__outq_free(&q);
}

static void test_take_empty_frees(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    assert_int_equal(vial__outq_take(&q, malloc(16), 0), 0); /* freed (ASan would see a leak) */
    assert_int_equal(q.nsegs, 0);
    assert_int_equal(q.bytes, 0);
    vial__outq_free(&q);
}

static void test_consume_across_segments(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    vial__outq_append(&q, "0123456789", 10);
    vial__outq_take(&q, strdup("abcdefghij"), 10);
    vial__outq_append(&q, "KLMNOPQRST", 10);
    /* part of the first */
    vial__outq_consume(&q, 3);
    assert_int_equal(q.bytes, 27);
    struct iovec iov[4];
    assert_int_equal(vial__outq_iov(&q, iov, 4), 3);
    assert_int_equal(iov[0].iov_len, 7);
    assert_memory_equal(iov[0].iov_base, "3456789", 7);
    /* the rest of the first and part of the second in one go */
    vial__outq_consume(&q, 12);
    assert_int_equal(q.nsegs, 2);
    assert_int_equal(vial__outq_iov(&q, iov, 4), 2);
    assert_int_equal(iov[0].iov_len, 5);
    assert_memory_equal(iov[0].iov_base, "fghij", 5);
    /* exactly to a boundary */
    vial__outq_consume(&q, 5);
    assert_int_equal(q.nsegs, 1);
    assert_int_equal(q.head_off, 0);
    char *s = drain(&q, 4);
    assert_string_equal(s, "KLMNOPQRST");
    free(s);
    assert_int_equal(q.nsegs, 0);
    vial__outq_free(&q);
}

static void test_coalesce_buffer_starts_over(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    vial__outq_append(&q, "first", 5);
    char *base = q.coal.p;
    vial__outq_consume(&q, 5);
    assert_int_equal(q.coal.n, 0); /* nothing refers to it: rewound */
    vial__outq_append(&q, "second", 6);
    assert_ptr_equal(q.coal.p, base);
    struct iovec iov[2];
    assert_int_equal(vial__outq_iov(&q, iov, 2), 1);
    assert_ptr_equal(iov[0].iov_base, base);
    /* while a taken buffer is in front, a coalesced segment behind it
     * keeps the buffer alive */
    vial__outq_consume(&q, 6);
    vial__outq_take(&q, strdup("T"), 1);
    vial__outq_append(&q, "behind", 6);
    vial__outq_consume(&q, 1);
    assert_int_equal(q.coal.n, 6);
    char *s = drain(&q, 100);
    assert_string_equal(s, "behind");
    free(s);
    vial__outq_free(&q);
}

static void test_file_segments(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    int fd = temp_file("0123456789abcdefghij");
    vial__outq_append(&q, "<", 1);
    assert_int_equal(vial__outq_file(&q, fd, 5, 10), 0);
    vial__outq_append(&q, ">", 1);
    assert_int_equal(q.nsegs, 3);
    assert_int_equal(q.bytes, 12);
    int hfd;
    uint64_t off;
    size_t len;
    assert_false(vial__outq_head_file(&q, &hfd, &off, &len)); /* memory first */
    struct iovec iov[4];
    assert_int_equal(vial__outq_iov(&q, iov, 4), 1); /* stops at the file */
    vial__outq_consume(&q, 1);
    assert_true(vial__outq_head_file(&q, &hfd, &off, &len));
    assert_int_equal(hfd, fd);
    assert_int_equal(off, 5);
    assert_int_equal(len, 10);
    assert_int_equal(vial__outq_iov(&q, iov, 4), 0);
    /* part of the file went out (sendfile): the rest starts later */
    vial__outq_consume(&q, 4);
    assert_true(vial__outq_head_file(&q, &hfd, &off, &len));
    assert_int_equal(off, 9);
    assert_int_equal(len, 6);
    char *s = drain(&q, 100);
    assert_string_equal(s, "9abcde>");
    free(s);
    assert_false(fd_open(fd)); /* closed once written */
    vial__outq_free(&q);
}

static void test_empty_file_region_closes_fd(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    int fd = temp_file("x");
    assert_int_equal(vial__outq_file(&q, fd, 0, 0), 0);
    assert_int_equal(q.nsegs, 0);
    assert_false(fd_open(fd));
    vial__outq_free(&q);
}

static void test_free_closes_and_frees_everything(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    int fd = temp_file("data");
    vial__outq_append(&q, "a", 1);
    vial__outq_take(&q, strdup("owned"), 5);
    vial__outq_file(&q, fd, 0, 4);
    vial__outq_free(&q); /* ASan checks the owned buffer; we check the fd */
    assert_false(fd_open(fd));
    assert_int_equal(q.nsegs, 0);
    assert_int_equal(q.bytes, 0);
}

static void test_file_chunk_in_place(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    int fd = temp_file("ABCDEFGHIJKLMNOPQRST");
    vial__outq_file(&q, fd, 2, 15); /* "CDEFGHIJKLMNOPQ" */
    vial__outq_append(&q, "!", 1);
    /* a chunk of the file moves into memory, ahead of the rest */
    assert_int_equal(vial__outq_file_chunk(&q, 4), 0);
    assert_int_equal(q.bytes, 16);
    struct iovec iov[4];
    assert_int_equal(vial__outq_iov(&q, iov, 4), 1);
    assert_int_equal(iov[0].iov_len, 4);
    assert_memory_equal(iov[0].iov_base, "CDEF", 4);
    int hfd;
    uint64_t off;
    size_t len;
    vial__outq_consume(&q, 4);
    assert_true(vial__outq_head_file(&q, &hfd, &off, &len));
    assert_int_equal(off, 6);
    assert_int_equal(len, 11);
    /* a partly written file: the chunk starts where writing stopped */
    vial__outq_consume(&q, 1);
    assert_int_equal(vial__outq_file_chunk(&q, 3), 0);
    assert_int_equal(vial__outq_iov(&q, iov, 4), 1);
    assert_memory_equal(iov[0].iov_base, "HIJ", 3);
    /* the last chunk swallows the file: closed, the segment gone */
    vial__outq_consume(&q, 3);
    assert_int_equal(vial__outq_file_chunk(&q, 1000), 0);
    assert_false(fd_open(fd));
    assert_int_equal(vial__outq_iov(&q, iov, 4), 2);
    char *s = drain(&q, 100);
    assert_string_equal(s, "KLMNOPQ!");
    free(s);
    /* no file in front: nothing to do */
    assert_int_equal(vial__outq_file_chunk(&q, 10), 0);
    vial__outq_free(&q);
}

static void test_file_chunk_of_shrunk_file(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    int fd = temp_file("short");
    vial__outq_file(&q, fd, 0, 100); /* says 100, the file has 5 */
    assert_int_equal(vial__outq_file_chunk(&q, 1000), VIAL_EIO);
    /* the queue is as it was */
    int hfd;
    uint64_t off;
    size_t len;
    assert_true(vial__outq_head_file(&q, &hfd, &off, &len));
    assert_int_equal(len, 100);
    assert_int_equal(q.bytes, 100);
    vial__outq_free(&q);
    assert_false(fd_open(fd));
}

static void test_many_segments_grow(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    vial__buf want = { 0 };
    for (int i = 0; i < 100; i++) {
        char tmp[16];
        int n = snprintf(tmp, sizeof tmp, "<%d>", i);
        if (i % 2)
            vial__outq_take(&q, strndup(tmp, (size_t)n), (size_t)n);
        else
            vial__outq_append(&q, tmp, (size_t)n);
        vial__buf_append(&want, tmp, (size_t)n);
    }
    assert_int_equal(q.nsegs, 100);
    vial__buf_nul(&want);
    char *s = drain(&q, 7); /* odd steps: every consume crosses boundaries */
    assert_string_equal(s, want.p);
    free(s);
    vial__buf_free(&want);
    vial__outq_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_appends_coalesce),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_take_keeps_order),
        cmocka_unit_test(test_take_empty_frees),
        cmocka_unit_test(test_consume_across_segments),
        cmocka_unit_test(test_coalesce_buffer_starts_over),
        cmocka_unit_test(test_file_segments),
        cmocka_unit_test(test_empty_file_region_closes_fd),
        cmocka_unit_test(test_free_closes_and_frees_everything),
        cmocka_unit_test(test_file_chunk_in_place),
        cmocka_unit_test(test_file_chunk_of_shrunk_file),
        cmocka_unit_test(test_many_segments_grow),
    };
    return RUN_GROUP(tests);
}
