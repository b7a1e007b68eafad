/*
 * Unit tests for src/base/csv.c: RFC 4180 records (quoted fields holding
 * separators, line breaks and doubled quotes; empty fields; CRLF, LF and
 * CR line ends; a last record without one), line numbers across quoted
 * line breaks and blank lines, the byte order mark, other separators,
 * refused records (a quote inside an unquoted field, text after a closing
 * quote, a quote that never closes, a record past max_record) each
 * reported with its line and column and skipped so the next line still
 * reads, read errors, offsets for progress, the fd reader, and records
 * larger than the read buffer.  Every input is also fed in reads of every
 * size from one byte up, which must not change a single result.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* Feeds `s` in reads of at most `chunk` bytes (0: all at once); a
 * negative `fail_at` makes the read at that offset fail. */
typedef struct feed {
    const char *s;
    size_t n, pos, chunk;
    long fail_at;
} feed;

static ptrdiff_t feed_read(void *ud, char *buf, size_t cap)
{
    feed *f = ud;
    if (f->fail_at >= 0 && f->pos >= (size_t)f->fail_at)
        return -1;
    size_t k = f->n - f->pos;
    if (f->chunk && k > f->chunk)
        k = f->chunk;
    if (k > cap)
        k = cap;
    if (f->fail_at >= 0 && f->pos + k > (size_t)f->fail_at)
        k = (size_t)f->fail_at - f->pos;
    memcpy(buf, f->s + f->pos, k);
    f->pos += k;
    return (ptrdiff_t)k;
}

/* Every record as "L<line>[f1|f2]" (refusals "L<line>!<column>:<why>"),
 * one per line; a read error ends it with "EIO". */
static char *transcript(const char *s, size_t n, size_t chunk, const vial_csv_opts *opts)
{
    feed f = { s, n, 0, chunk, -1 };
    vial_csv *c = vial_csv_new(feed_read, &f, opts);
    assert_non_null(c);
    size_t cap = 4 * n + 256, len = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    int rc;
    while ((rc = vial_csv_next(c)) != 0) {
        if (len + 200 > cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        if (rc == VIAL_EPARSE || rc == VIAL_ETOOBIG) {
            len += (size_t)snprintf(out + len, cap - len, "L%lld!%zu:%s\n", (long long)vial_csv_line(c),
                                    vial_csv_error_column(c), vial_csv_error(c));
            assert_int_equal(vial_csv_count(c), 0);
            continue;
        }
        if (rc < 0) {
            len += (size_t)snprintf(out + len, cap - len, "E%d\n", rc);
            break;
        }
        assert_int_equal(rc, 1);
        assert_null(vial_csv_error(c));
        len += (size_t)snprintf(out + len, cap - len, "L%lld[", (long long)vial_csv_line(c));
        for (size_t i = 0; i < vial_csv_count(c); i++) {
            size_t fl;
            const char *fv = vial_csv_field(c, i, &fl);
            assert_non_null(fv);
            assert_int_equal(fv[fl], '\0');
            while (len + fl + 8 > cap) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            if (i)
                out[len++] = '|';
            memcpy(out + len, fv, fl);
            len += fl;
        }
        assert_null(vial_csv_field(c, vial_csv_count(c), NULL));
        len += (size_t)snprintf(out + len, cap - len, "]\n");
    }
    /* The end is sticky. */
    if (rc == 0)
        assert_int_equal(vial_csv_next(c), 0);
    vial_csv_free(c);
    return out;
}

/* The transcript must be `want` whatever the read sizes. */
static void check_opts(const char *in, size_t n, const char *want, const vial_csv_opts *opts)
{
    char *all = transcript(in, n, 0, opts);
    if (strcmp(all, want))
        print_error("input %s\ngot:\n%s\nwant:\n%s\n", in, all, want);
    assert_string_equal(all, want);
    free(all);
    for (size_t chunk = 1; chunk <= n + 1 && chunk <= 64; chunk++) {
        char *t = transcript(in, n, chunk, opts);
        if (strcmp(t, want))
            print_error("reads of %zu bytes:\n%s\nwant:\n%s\n", chunk, t, want);
        assert_string_equal(t, want);
        free(t);
    }
}

static void check(const char *in, const char *want)
{
    check_opts(in, strlen(in), want, NULL);
}

static void test_plain_records(void **state)
{
    (void)state;
    check("a,b,c\n1,2,3\n", "L1[a|b|c]\nL2[1|2|3]\n");
    check("a,b\r\nc,d\r\n", "L1[a|b]\nL2[c|d]\n");
    check("a,b\rc,d\r", "L1[a|b]\nL2[c|d]\n");
    /* no line break at the end */
    check("a,b\nc,d", "L1[a|b]\nL2[c|d]\n");
    check("x", "L1[x]\n");
    /* empty fields, at either end too */
    check(",a,,b,\n", "L1[|a||b|]\n");
    check(",\n", "L1[|]\n");
    check("a,", "L1[a|]\n");
    /* spaces are data */
    check(" a , b \n", "L1[ a | b ]\n");
    check("", "");
}

static void test_quoted_fields(void **state)
{
    (void)state;
    check("\"a,b\",c\n", "L1[a,b|c]\n");
    check("\"say \"\"hi\"\"\",x\n", "L1[say \"hi\"|x]\n");
    check("\"\",\"\"\"\"\n", "L1[|\"]\n");
    /* a line break inside quotes is data, and the next record's line says so */
    check("\"two\nlines\",b\nnext,x\n", "L1[two\nlines|b]\nL3[next|x]\n");
    check("\"crlf\r\ninside\",b\r\nnext\r\n", "L1[crlf\r\ninside|b]\nL3[next]\n");
    check("\"a\rb\",c\nd\n", "L1[a\rb|c]\nL3[d]\n");
    /* the last field quoted, no final line break */
    check("a,\"b\"", "L1[a|b]\n");
    /* Python list literals, as the music file writes them */
    check("x,\"['A', \"\"Screamin' Jay\"\"]\",y\n", "L1[x|['A', \"Screamin' Jay\"]|y]\n");
}

static void test_blank_lines_and_bom(void **state)
{
    (void)state;
    check("\n\na\n\r\n\nb\n\n", "L3[a]\nL6[b]\n");
    check("\xef\xbb\xbf" "id,name\n1,x\n", "L1[id|name]\nL2[1|x]\n");
    /* a BOM later on is data */
    check("a\n\xef\xbb\xbf" "b\n", "L1[a]\nL2[\xef\xbb\xbf" "b]\n");
    /* a blank-looking line of spaces is a record */
    check("a\n \nb\n", "L1[a]\nL2[ ]\nL3[b]\n");
}

static void test_refused_records(void **state)
{
    (void)state;
    /* a quote inside an unquoted field: that line is skipped, the next reads */
    check("a,b\"c,d\ne,f\n", "L1!2:quote inside an unquoted field\nL2[e|f]\n");
    /* text after a closing quote */
    check("\"a\"x,b\nc\n", "L1!1:text after the closing quote of a field\nL2[c]\n");
    check("1,\"a\" ,b\nc\n", "L1!2:text after the closing quote of a field\nL2[c]\n");
    /* a quote that never closes: only its first line is lost */
    check("ok\n\"open,b\nnext,1\nlast\n",
          "L1[ok]\nL2!1:unterminated quoted field\nL3[next|1]\nL4[last]\n");
    /* an error after a quoted line break: skipping resumes after the bad line */
    check("\"a\nb\",c\"d\nnext\n", "L1!2:quote inside an unquoted field\nL3[next]\n");
    /* several bad lines in a row, and a bad last line without a line break */
    check("a\"\nb\"\nc\nd\"", "L1!1:quote inside an unquoted field\nL2!1:quote inside an unquoted field\n"
                             "L3[c]\nL4!1:quote inside an unquoted field\n");
}

static void test_max_record(void **state)
{
    (void)state;
    vial_csv_opts o = { .max_record = 16 };
    check_opts("short,x\nthis line is longer than sixteen bytes\nok\n", 50,
               "L1[short|x]\nL2!1:record too long\nL3[ok]\n", &o);
    /* a quoted field that runs past the limit: the record's first line goes */
    check_opts("\"aaaaaaaaaaaaaaaaaaaa\nb\nok\n", 26, "L1!1:record too long\nL2[b]\nL3[ok]\n", &o);
    /* exactly at the limit is fine */
    check_opts("0123456789abcde\nz\n", 18, "L1[0123456789abcde]\nL2[z]\n", &o);
}

static void test_separator(void **state)
{
    (void)state;
    vial_csv_opts semi = { .sep = ';' };
    check_opts("a;b,c;\"d;e\"\n", 12, "L1[a|b,c|d;e]\n", &semi);
    vial_csv_opts tab = { .sep = '\t' };
    check_opts("a\tb\n", 4, "L1[a|b]\n", &tab);
    feed f = { "", 0, 0, 0, -1 };
    assert_null(vial_csv_new(feed_read, &f, &(vial_csv_opts){ .sep = '"' }));
    assert_null(vial_csv_new(feed_read, &f, &(vial_csv_opts){ .sep = '\n' }));
    assert_null(vial_csv_new(NULL, &f, NULL));
    assert_null(vial_csv_fd(-1, NULL));
}

static void test_nul_bytes_are_data(void **state)
{
    (void)state;
    static const char in[] = "a\0b,c\n";
    feed f = { in, sizeof in - 1, 0, 0, -1 };
    vial_csv *c = vial_csv_new(feed_read, &f, NULL);
    assert_int_equal(vial_csv_next(c), 1);
    size_t len;
    const char *v = vial_csv_field(c, 0, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(v, "a\0b", 3);
    assert_string_equal(vial_csv_field(c, 1, NULL), "c");
    assert_int_equal(vial_csv_next(c), 0);
    vial_csv_free(c);
}

static void test_read_error(void **state)
{
    (void)state;
    const char *in = "a,b\nc,d\ne,f\n";
    feed f = { in, strlen(in), 0, 3, 6 };
    vial_csv *c = vial_csv_new(feed_read, &f, NULL);
    assert_int_equal(vial_csv_next(c), 1);
    assert_int_equal(vial_csv_next(c), VIAL_EIO);
    vial_csv_free(c);
    vial_csv_free(NULL);
    assert_int_equal(vial_csv_next(NULL), VIAL_EINVAL);
    assert_int_equal(vial_csv_count(NULL), 0);
    assert_null(vial_csv_field(NULL, 0, NULL));
}

static void test_offsets(void **state)
{
    (void)state;
    const char *in = "\xef\xbb\xbf" "ab,c\r\n\n\"x\ny\"\nlast";
    feed f = { in, strlen(in), 0, 2, -1 };
    vial_csv *c = vial_csv_new(feed_read, &f, NULL);
    assert_int_equal(vial_csv_offset(c), 0);
    assert_int_equal(vial_csv_next(c), 1);
    assert_int_equal(vial_csv_offset(c), 9);  /* BOM + "ab,c\r\n" */
    assert_int_equal(vial_csv_next(c), 1);
    assert_int_equal(vial_csv_offset(c), 16); /* + blank line + "\"x\ny\"\n" */
    assert_int_equal(vial_csv_line(c), 3);
    assert_int_equal(vial_csv_next(c), 1);
    assert_int_equal(vial_csv_offset(c), strlen(in));
    assert_int_equal(vial_csv_line(c), 5);
    assert_int_equal(vial_csv_next(c), 0);
    vial_csv_free(c);
}

static void test_large_records(void **state)
{
    (void)state;
    /* one field of 600 KB (more than a read), quoted with quotes inside,
     * then a normal record: the buffer grows and still reads right */
    size_t big = 600 * 1024;
    char *in = malloc(big + 64);
    size_t n = 0;
    in[n++] = '"';
    for (size_t i = 0; i < big; i++)
        in[n++] = i % 1000 == 999 ? '\n' : (char)('a' + i % 26);
    memcpy(in + n, "\"\"\",tail\nnext\n", 14);
    n += 14;
    feed f = { in, n, 0, 70000, -1 };
    vial_csv *c = vial_csv_new(feed_read, &f, NULL);
    assert_int_equal(vial_csv_next(c), 1);
    size_t len;
    const char *v = vial_csv_field(c, 0, &len);
    assert_int_equal(len, big + 1);
    assert_memory_equal(v, in + 1, big);
    assert_int_equal(v[big], '"');
    assert_string_equal(vial_csv_field(c, 1, NULL), "tail");
    assert_int_equal(vial_csv_next(c), 1);
    assert_string_equal(vial_csv_field(c, 0, NULL), "next");
    assert_int_equal(vial_csv_line(c), 1 + (int64_t)(big / 1000) + 1);
    assert_int_equal(vial_csv_next(c), 0);
    vial_csv_free(c);
    free(in);
}

static void test_many_fields(void **state)
{
    (void)state;
    /* more fields than the reader starts with room for */
    char in[4096];
    size_t n = 0;
    for (int i = 0; i < 500; i++)
        n += (size_t)snprintf(in + n, sizeof in - n, "%s%d", i ? "," : "", i % 10);
    in[n++] = '\n';
    feed f = { in, n, 0, 0, -1 };
    vial_csv *c = vial_csv_new(feed_read, &f, NULL);
    assert_int_equal(vial_csv_next(c), 1);
    assert_int_equal(vial_csv_count(c), 500);
    assert_string_equal(vial_csv_field(c, 499, NULL), "9");
    vial_csv_free(c);
}

static void test_fd_reader(void **state)
{
    (void)state;
    char path[] = "/tmp/vial-csv-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    /* a million short records: streamed in constant memory */
    FILE *w = fdopen(dup(fd), "w");
    fputs("id,name\n", w);
    for (int i = 0; i < 200000; i++)
        fprintf(w, "%d,\"n, %d\"\n", i, i);
    fclose(w);
    lseek(fd, 0, SEEK_SET);
    vial_csv *c = vial_csv_fd(fd, NULL);
    assert_int_equal(vial_csv_next(c), 1);
    long rows = 0;
    int rc;
    while ((rc = vial_csv_next(c)) == 1) {
        char want[32];
        snprintf(want, sizeof want, "n, %ld", rows);
        if (strcmp(vial_csv_field(c, 1, NULL), want))
            fail_msg("row %ld: %s", rows, vial_csv_field(c, 1, NULL));
        rows++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(rows, 200000);
    assert_int_equal(vial_csv_line(c), 200001);
    vial_csv_free(c);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_records),   cmocka_unit_test(test_quoted_fields),
        cmocka_unit_test(test_blank_lines_and_bom), cmocka_unit_test(test_refused_records),
        cmocka_unit_test(test_max_record),      cmocka_unit_test(test_separator),
        cmocka_unit_test(test_nul_bytes_are_data), cmocka_unit_test(test_read_error),
        cmocka_unit_test(test_offsets),         cmocka_unit_test(test_large_records),
        cmocka_unit_test(test_many_fields),     cmocka_unit_test(test_fd_reader),
    };
    return RUN_GROUP(tests);
}
