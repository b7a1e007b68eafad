/*
 * csv.c — a streaming RFC 4180 reader (vial_csv_*): one record at a time
 * from a file descriptor or a read callback, in memory bounded by the
 * largest record rather than the file, so a 300 MB export or a pipe is
 * read the same way.
 *
 * The buffer holds the bytes from the start of the current record to what
 * was last read.  A record is scanned first — field boundaries, quotes,
 * line breaks — without changing a byte, and only once it is known to be
 * well-formed are its quoted fields decoded in place and NUL-terminated
 * (a decoded field is never longer than its raw form).  That order is what
 * lets a malformed record be skipped: its raw bytes are still there, so
 * the reader can restart at the next line, report the record's line and
 * column, and go on; one stray quote costs one line, not the rest of the
 * file.
 */
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define READ_CHUNK (256u * 1024u)
#define DEFAULT_MAX_RECORD (1u << 20)

typedef struct field {
    size_t off, len; /* relative to the record's start: raw while scanning, decoded after */
    bool quoted;
} field;

struct vial_csv {
    vial_csv_read_fn read;
    void *ud;
    int fd;
    char sep;
    size_t max_record;

    char *buf;
    size_t cap;        /* bytes allocated (one more than data may fill: room for a NUL) */
    size_t start, end; /* unread bytes: [start, end) */
    uint64_t base;     /* the file offset of buf[0] */
    bool eof, started;

    size_t rec_off;    /* where the current record's decoded fields are in buf */
    int64_t line;      /* the line of buf[start] */
    int64_t rec_line;  /* the line the current (or refused) record starts on */

    field *f;
    size_t nf, fcap;

    const char *why;   /* the last refusal */
    size_t why_col;
};

static ptrdiff_t fd_read(void *ud, char *buf, size_t cap)
{
    int fd = *(int *)ud;
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n >= 0)
            return n;
        if (errno != EINTR)
            return VIAL_EIO;
    }
}

vial_csv *vial_csv_new(vial_csv_read_fn read, void *ud, const vial_csv_opts *opts)
{
    if (!read)
        return NULL;
    vial_csv *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->read = read;
    c->ud = ud;
    c->sep = opts && opts->sep ? opts->sep : ',';
    c->max_record = opts && opts->max_record ? opts->max_record : DEFAULT_MAX_RECORD;
    c->cap = READ_CHUNK + 1;
    c->buf = malloc(c->cap);
    c->fcap = 32;
    c->f = malloc(c->fcap * sizeof *c->f);
    if (!c->buf || !c->f || c->sep == '"' || c->sep == '\r' || c->sep == '\n') {
        vial_csv_free(c);
        return NULL;
    }
    c->line = 1;
    return c;
}

vial_csv *vial_csv_fd(int fd, const vial_csv_opts *opts)
{
    if (fd < 0)
        return NULL;
    vial_csv *c = vial_csv_new(fd_read, NULL, opts);
    if (c) {
        c->fd = fd;
        c->ud = &c->fd;
    }
    return c;
}

void vial_csv_free(vial_csv *c)
{
    if (!c)
        return;
    free(c->buf);
    free(c->f);
    free(c);
}

/* Reads more after `end`, first moving the unread bytes to the front and
 * growing the buffer when a record fills it.  1: more bytes, 0: end of
 * input, VIAL_ETOOBIG: the record at `start` would pass max_record,
 * VIAL_EIO / VIAL_ENOMEM. */
static int fill(vial_csv *c)
{
    if (c->eof)
        return 0;
    if (c->start > 0 && (c->start == c->end || c->cap - 1 - c->end < READ_CHUNK / 2)) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->base += c->start;
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == c->cap - 1) {
        if (c->end - c->start >= c->max_record)
            return VIAL_ETOOBIG;
        size_t cap = (c->cap - 1) * 2 + 1;
        if (cap - 1 > c->max_record + READ_CHUNK)
            cap = c->max_record + READ_CHUNK + 1;
        char *nb = realloc(c->buf, cap);
        if (!nb)
            return VIAL_ENOMEM;
        c->buf = nb;
        c->cap = cap;
    }
    ptrdiff_t n = c->read(c->ud, c->buf + c->end, c->cap - 1 - c->end);
    if (n < 0)
        return VIAL_EIO;
    if (n == 0) {
        c->eof = true;
        return 0;
    }
    c->end += (size_t)n;
    return 1;
}

/* The byte `i` places after the record's start, reading more if needed:
 * the byte, -1 at the end of input, or a negative VIAL_E* below -1
 * (VIAL_ETOOBIG from max_record bytes on). */
static int at(vial_csv *c, size_t i)
{
    if (i >= c->max_record)
        return VIAL_ETOOBIG;
    while (c->start + i >= c->end) {
        int rc = fill(c);
        if (rc <= 0)
            return rc == 0 ? -1 : rc;
    }
    return (unsigned char)c->buf[c->start + i];
}

static int add_field(vial_csv *c, size_t off, size_t len, bool quoted)
{
    if (c->nf == c->fcap) {
        field *nf = realloc(c->f, c->fcap * 2 * sizeof *nf);
        if (!nf)
            return VIAL_ENOMEM;
        c->f = nf;
        c->fcap *= 2;
    }
    c->f[c->nf++] = (field){ off, len, quoted };
    return 0;
}

/* Drops everything up to and including the first line break at or after
 * `from` bytes into the record; `breaks` line breaks were passed before
 * `from`.  The next record then starts on a line of its own. */
static int skip_line(vial_csv *c, size_t from, int64_t breaks)
{
    c->line = c->rec_line + breaks;
    size_t i = from;
    for (;;) {
        int b = at(c, i);
        if (b == -1) {
            c->start = c->end;
            return 0;
        }
        if (b < -1) {
            if (b != VIAL_ETOOBIG)
                return b;
            /* A line longer than a record may be: drop what was scanned. */
            c->start += i;
            i = 0;
            continue;
        }
        i++;
        if (b == '\n' || b == '\r') {
            if (b == '\r' && at(c, i) == '\n')
                i++;
            c->start += i;
            c->line++;
            return 0;
        }
    }
}

static int refuse(vial_csv *c, const char *why, size_t col, size_t from, int64_t breaks)
{
    c->why = why;
    c->why_col = col;
    c->nf = 0;
    int rc = skip_line(c, from, breaks);
    return rc ? rc : VIAL_EPARSE;
}

int vial_csv_next(vial_csv *c)
{
    if (!c)
        return VIAL_EINVAL;
    c->nf = 0;
    c->why = NULL;
    c->why_col = 0;
    if (!c->started) {
        c->started = true;
        /* A UTF-8 byte order mark is not data. */
        if (at(c, 0) == 0xef && at(c, 1) == 0xbb && at(c, 2) == 0xbf)
            c->start += 3;
    }
    /* Blank lines are no records. */
    for (;;) {
        int b = at(c, 0);
        if (b == -1)
            return 0;
        if (b < -1)
            return b == VIAL_ETOOBIG ? VIAL_EIO : b;
        if (b != '\n' && b != '\r')
            break;
        c->start++;
        if (b == '\r' && at(c, 0) == '\n')
            c->start++;
        c->line++;
    }
    c->rec_line = c->line;
    const int sep = (unsigned char)c->sep;
    size_t i = 0;
    int64_t breaks = 0; /* line breaks inside quoted fields so far */
    int b;
    for (;;) {
        size_t col = c->nf + 1;
        b = at(c, i);
        if (b < -1)
            goto failed;
        if (b == '"') {
            size_t begin = i++;
            for (;;) {
                /* The bytes already in the buffer are scanned in place. */
                const char *p = c->buf + c->start;
                size_t lim = c->end - c->start < c->max_record ? c->end - c->start : c->max_record;
                while (i < lim && p[i] != '"' && p[i] != '\r') {
                    breaks += p[i] == '\n';
                    i++;
                }
                b = at(c, i);
                if (b < -1)
                    goto failed;
                if (b == -1)
                    return refuse(c, "unterminated quoted field", col, 0, 0);
                if (b == '"') {
                    b = at(c, i + 1);
                    if (b == '"') {
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (b == '\n' || (b == '\r' && at(c, i + 1) != '\n'))
                    breaks++;
                i++;
            }
            if (b < -1)
                goto failed;
            if (b != -1 && b != sep && b != '\n' && b != '\r')
                return refuse(c, "text after the closing quote of a field", col, i, breaks);
            if (add_field(c, begin, i - begin, true))
                return VIAL_ENOMEM;
        } else {
            size_t begin = i;
            while (b >= 0 && b != sep && b != '\n' && b != '\r') {
                if (b == '"')
                    return refuse(c, "quote inside an unquoted field", col, i, breaks);
                const char *p = c->buf + c->start;
                size_t lim = c->end - c->start < c->max_record ? c->end - c->start : c->max_record;
                i++;
                while (i < lim && p[i] != sep && p[i] != '\n' && p[i] != '\r' && p[i] != '"')
                    i++;
                b = at(c, i);
            }
            if (b < -1)
                goto failed;
            if (add_field(c, begin, i - begin, false))
                return VIAL_ENOMEM;
        }
        if (b == sep) {
            i++;
            continue;
        }
        /* The end of the record: a line break, or the end of the input. */
        size_t rec_end = i;
        if (b == '\r' && at(c, i + 1) == '\n')
            i += 2;
        else if (b >= 0)
            i++;
        /* Decode in place, now that nothing has to be read again. */
        char *r = c->buf + c->start;
        for (size_t k = 0; k < c->nf; k++) {
            field *f = &c->f[k];
            if (f->quoted) {
                const char *s = r + f->off + 1, *e = r + f->off + f->len - 1;
                char *o = r + f->off;
                size_t start = f->off;
                while (s < e) {
                    *o++ = *s;
                    s += *s == '"' ? 2 : 1;
                }
                f->len = (size_t)(o - (r + start));
                *o = '\0';
            } else {
                r[f->off + f->len] = '\0';
            }
        }
        if (rec_end == c->end - c->start)
            r[rec_end] = '\0'; /* the last field of a file without a final line break */
        c->rec_off = c->start;
        c->start += i;
        c->line += breaks + (b >= 0 ? 1 : 0);
        return 1;
    }
failed:
    if (b == VIAL_ETOOBIG) {
        int rc = refuse(c, "record too long", c->nf + 1, 0, 0);
        return rc == VIAL_EPARSE ? VIAL_ETOOBIG : rc;
    }
    return b < -1 ? b : VIAL_EIO;
}

size_t vial_csv_count(const vial_csv *c)
{
    return c ? c->nf : 0;
}

const char *vial_csv_field(const vial_csv *c, size_t i, size_t *len)
{
    if (!c || i >= c->nf) {
        if (len)
            *len = 0;
        return NULL;
    }
    const field *f = &c->f[i];
    if (len)
        *len = f->len;
    return c->buf + c->rec_off + f->off;
}

int64_t vial_csv_line(const vial_csv *c)
{
    return c ? c->rec_line : 0;
}

uint64_t vial_csv_offset(const vial_csv *c)
{
    return c ? c->base + c->start : 0;
}

const char *vial_csv_error(const vial_csv *c)
{
    return c ? c->why : NULL;
}

size_t vial_csv_error_column(const vial_csv *c)
{
    return c && c->why ? c->why_col : 0;
}
