/*
 * log.c — diagnostics and the access log.
 *
 * Diagnostics go straight to stderr (they are rare).  Access log lines are
 * one per request, so they are gathered in a per-thread buffer and written
 * with one write(2) per loop turn (the loop calls vial__log_flush()), or
 * when the buffer passes 16 KiB: a busy worker does not pay a syscall per
 * request for its log.
 */
#include "ops.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

int vial__log_level = VIAL_LOG_INFO;

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR" };

static _Thread_local vial__buf access_buf;
static _Thread_local bool access_batched; /* set by event-loop workers */

static size_t timestamp(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
    return n;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing stderr */
        }
        p += w;
        n -= (size_t)w;
    }
}

void vial__vlog(int level, const char *reqid, const char *fmt, va_list ap)
{
    if (level < vial__log_level)
        return;
    if (level < VIAL_LOG_DEBUG || level > VIAL_LOG_ERROR)
        level = VIAL_LOG_ERROR;
    char line[2048];
    size_t n = timestamp(line, sizeof line);
    n += (size_t)snprintf(line + n, sizeof line - n, " %-5s ", level_names[level]);
    if (reqid && n < sizeof line)
        n += (size_t)snprintf(line + n, sizeof line - n, "[%s] ", reqid);
    if (n < sizeof line) {
        int k = vsnprintf(line + n, sizeof line - n, fmt, ap);
        if (k > 0)
            n += (size_t)k;
    }
    if (n >= sizeof line - 1)
        n = sizeof line - 2;
    line[n++] = '\n';
    vial__log_flush(); /* keep order with buffered access lines */
    write_all(2, line, n);
}

void vial_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vial__vlog(level, NULL, fmt, ap);
    va_end(ap);
}

/* Appends `s` with control characters and quotes escaped, so a hostile
 * request target cannot forge log lines. */
static void put_escaped(vial__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            char e[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };
            vial__buf_append(b, e, 4);
        } else {
            vial__buf_append(b, &c, 1);
        }
    }
}

uint64_t vial__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vial__access_log(const vial__access *a)
{
    vial__buf *b = &access_buf;
    char ts[40];
    size_t tn = timestamp(ts, sizeof ts);
    uint64_t dur_us = (vial__now_ns() - a->t0_ns) / 1000;
    vial__buf_append(b, ts, tn);
    vial__buf_printf(b, " ACCESS %s \"%s ", a->client ? a->client : "-", a->method ? a->method : "-");
    put_escaped(b, a->target ? a->target : "", a->target ? a->target_len : 0);
    vial__buf_printf(b, "\" %d %zu %" PRIu64 "us %s\n", a->status, a->bytes, dur_us,
                     a->reqid ? a->reqid : "-");
    if (!access_batched || b->n > 16384)
        vial__log_flush();
}

void vial__log_flush(void)
{
    if (access_buf.n) {
        write_all(2, access_buf.p, access_buf.n);
        access_buf.n = 0;
    }
}

void vial__log_set_batched(bool batched)
{
    access_batched = batched;
}

void vial__log_thread_end(void)
{
    vial__log_flush();
    vial__buf_free(&access_buf);
}
