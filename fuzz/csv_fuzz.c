/*
 * csv_fuzz.c — the streaming RFC 4180 reader (src/base/csv.c), as the
 * music importer drives it over a tracks_features.csv.
 *
 * Input: byte 0 picks the read schedule's seed and a small max_record
 * (bit 7: 64 bytes, else the default); the rest is the file.
 * Properties checked (abort() on violation):
 *  - the same file read in one piece, byte by byte and in a seeded random
 *    schedule of pieces gives the same transcript: every vial_csv_next()
 *    result, field count, field bytes, line, offset, error and column;
 *  - a record's fields are NUL-terminated, of the length they claim, and
 *    together no longer than the file; vial_csv_field() past the last is
 *    NULL;
 *  - lines and offsets never go back, offsets stay within the file and end
 *    at its size; a refused record has a reason and a column from 1, a good
 *    one neither;
 *  - the good records, written back with every field quoted, read back as
 *    the same records (nothing refused).
 */
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "csv_fuzz: " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

typedef struct feed {
    const char *p;
    size_t n, at;
    int mode;      /* 0 whole, 1 byte by byte, 2 random pieces */
    uint32_t rng;
} feed;

static ptrdiff_t feed_read(void *ud, char *buf, size_t cap)
{
    feed *f = ud;
    size_t left = f->n - f->at, k = left < cap ? left : cap;
    if (f->mode == 1 && k > 1)
        k = 1;
    if (f->mode == 2 && k > 1) {
        f->rng = f->rng * 1103515245u + 12345u;
        k = 1 + (f->rng >> 16) % k;
    }
    memcpy(buf, f->p + f->at, k);
    f->at += k;
    return (ptrdiff_t)k;
}

/* The transcript of one read of the file, as bytes to compare. */
static void put(vial__buf *t, const void *p, size_t n)
{
    if (vial__buf_append(t, p, n))
        abort();
}

static void put_i64(vial__buf *t, int64_t v)
{
    put(t, &v, sizeof v);
}

/* Reads the file per `mode`; the transcript goes to `t`, the good records
 * written back (every field quoted) to `back` (may be NULL). */
static void run(const char *p, size_t n, int mode, uint32_t seed, size_t max_record, vial__buf *t,
                vial__buf *back)
{
    feed f = { .p = p, .n = n, .mode = mode, .rng = seed };
    vial_csv *c = vial_csv_new(feed_read, &f, &(vial_csv_opts){ .max_record = max_record });
    if (!c)
        abort();
    int64_t last_line = 0;
    uint64_t last_off = 0;
    int rc;
    size_t records = 0;
    while ((rc = vial_csv_next(c)) != 0) {
        if (++records > n + 2)
            die("more records than bytes");
        int64_t line = vial_csv_line(c);
        uint64_t off = vial_csv_offset(c);
        if (line < 1 || line < last_line)
            die("line %lld after %lld", (long long)line, (long long)last_line);
        if (off < last_off || off > n)
            die("offset %llu after %llu (file %zu)", (unsigned long long)off,
                (unsigned long long)last_off, n);
        last_line = line;
        last_off = off;
        put_i64(t, rc);
        put_i64(t, line);
        put_i64(t, (int64_t)off);
        if (rc == VIAL_EPARSE || rc == VIAL_ETOOBIG) {
            const char *why = vial_csv_error(c);
            if (!why || !*why || vial_csv_error_column(c) < 1)
                die("a refused record without a reason or a column");
            put(t, why, strlen(why) + 1);
            put_i64(t, (int64_t)vial_csv_error_column(c));
            continue;
        }
        if (rc < 0)
            die("vial_csv_next: %s", vial_strerror(rc));
        if (rc != 1)
            die("vial_csv_next returned %d", rc);
        if (vial_csv_error(c) || vial_csv_error_column(c))
            die("a good record with an error");
        size_t count = vial_csv_count(c), total = 0;
        if (!count)
            die("a record without fields");
        put_i64(t, (int64_t)count);
        for (size_t i = 0; i < count; i++) {
            size_t len = (size_t)-1;
            const char *v = vial_csv_field(c, i, &len);
            if (!v || len == (size_t)-1 || v[len] != '\0')
                die("field %zu: no value, length or NUL", i);
            total += len;
            put_i64(t, (int64_t)len);
            put(t, v, len);
            if (back) {
                put(back, i ? ",\"" : "\"", i ? 2 : 1);
                for (size_t k = 0; k < len; k++)
                    put(back, v[k] == '"' ? "\"\"" : &v[k], v[k] == '"' ? 2 : 1);
                put(back, "\"", 1);
            }
        }
        if (back)
            put(back, "\n", 1);
        if (total > n)
            die("fields of %zu bytes from a file of %zu", total, n);
        if (vial_csv_field(c, count, NULL))
            die("a field past the last");
    }
    if (vial_csv_offset(c) != n)
        die("ended at offset %llu of %zu", (unsigned long long)vial_csv_offset(c), n);
    if (vial_csv_count(c))
        die("a record still current at the end");
    vial_csv_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    uint32_t seed = data[0];
    size_t max_record = data[0] & 0x80 ? 64 : 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;

    vial__buf whole = { 0 }, back = { 0 };
    run(p, n, 0, seed, max_record, &whole, &back);
    for (int mode = 1; mode <= 2; mode++) {
        vial__buf t = { 0 };
        run(p, n, mode, seed, max_record, &t, NULL);
        if (t.n != whole.n || (t.n && memcmp(t.p, whole.p, t.n)))
            die("read %s, the transcript differs from one read whole",
                mode == 1 ? "byte by byte" : "in random pieces");
        vial__buf_free(&t);
    }

    /* The good records again, every field quoted: the same records.  (A
     * record of one empty field is written "" and read back as it was.) */
    if (!max_record) {
        vial__buf again = { 0 }, back2 = { 0 };
        run(back.p ? back.p : "", back.n, 0, seed, 0, &again, &back2);
        if (back2.n != back.n || (back.n && memcmp(back.p, back2.p, back.n)))
            die("the good records, written back quoted, read back differently");
        vial__buf_free(&again);
        vial__buf_free(&back2);
    }
    vial__buf_free(&whole);
    vial__buf_free(&back);
    return 0;
}
