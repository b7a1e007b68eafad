/*
 * log.c — diagnostics and the access log.
 *
 * Diagnostics go straight to stderr (they are rare).  Access log lines are
 * one per request, so they are gathered in a per-thread buffer and written
 * with one write(2) per loop turn (the loop calls vial__log_flush()), or
 * when the buffer passes 16 KiB: a busy worker does not pay a syscall per
 * request for its log.
 *
 * Both go to file descriptor 2.  A log file is opened onto it (dup2), so
 * whatever else writes to stderr — libpq's notices, a sanitizer's report,
 * the last words of a crash — lands in the same file, and reopening it
 * for logrotate (SIGUSR1) swaps the file under every writer at once
 * without a lock: a write goes wholly to the old file or the new one.
 * Lines are text, or JSON objects one per line (log_format = json).
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int vial__log_level = VIAL_LOG_INFO;
bool vial__log_json;
static char *log_path; /* NULL: stderr as the process got it */

int vial__log_open(const char *path)
{
    if (!path || !*path) {
        free(log_path);
        log_path = NULL;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    char *copy = strdup(path);
    if (!copy) {
        close(fd);
        return -ENOMEM;
    }
    vial__log_flush();
    if (fd != 2) {
        if (dup2(fd, 2) < 0) {
            int e = errno;
            close(fd);
            free(copy);
            return -e;
        }
        close(fd);
    }
    free(log_path);
    log_path = copy;
    return 0;
}

int vial__log_reopen(void)
{
    if (!log_path)
        return 0;
    char *path = strdup(log_path);
    if (!path)
        return -ENOMEM;
    int rc = vial__log_open(path);
    free(path);
    return rc;
}

const char *vial__log_file(void)
{
    return log_path;
}

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

static const char *const json_levels[] = { "debug", "info", "warn", "error" };

/* Appends `s` as the inside of a JSON string (RFC 8259 escapes; bytes
 * >= 0x80 pass: a message is UTF-8 or an escaped request target). */
static void put_json(vial__buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            vial__buf_append(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            vial__buf_append(b, e, 6);
        } else {
            vial__buf_append(b, &c, 1);
        }
    }
}

static void vlog_json(int level, const char *reqid, const char *fmt, va_list ap)
{
    char msg[2048], ts[40];
    int k = vsnprintf(msg, sizeof msg, fmt, ap);
    size_t mn = k < 0 ? 0 : (size_t)k >= sizeof msg ? sizeof msg - 1 : (size_t)k;
    timestamp(ts, sizeof ts);
    vial__buf b = { .pool = NULL }; /* diagnostics are rare: the heap will do */
    vial__buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, json_levels[level]);
    put_json(&b, msg, mn);
    vial__buf_puts(&b, "\"");
    if (reqid) {
        vial__buf_puts(&b, ",\"request_id\":\"");
        put_json(&b, reqid, strlen(reqid));
        vial__buf_puts(&b, "\"");
    }
    vial__buf_puts(&b, "}\n");
    vial__log_flush();
    if (b.p)
        write_all(2, b.p, b.n);
    vial__buf_free(&b);
}

void vial__vlog(int level, const char *reqid, const char *fmt, va_list ap)
{
    if (level < vial__log_level)
        return;
    if (level < VIAL_LOG_DEBUG || level > VIAL_LOG_ERROR)
        level = VIAL_LOG_ERROR;
    if (vial__log_json) {
        vlog_json(level, reqid, fmt, ap);
        return;
    }
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
    if (vial__log_json) {
        vial__buf_printf(b, "{\"time\":\"%s\",\"level\":\"info\",\"type\":\"access\",\"client\":\"", ts);
        put_json(b, a->client ? a->client : "-", a->client ? strlen(a->client) : 1);
        vial__buf_puts(b, "\",\"method\":");
        if (a->method) {
            vial__buf_puts(b, "\"");
            put_json(b, a->method, strlen(a->method));
            vial__buf_puts(b, "\"");
        } else {
            vial__buf_puts(b, "null");
        }
        vial__buf_puts(b, ",\"target\":\"");
        put_json(b, a->target ? a->target : "", a->target ? a->target_len : 0);
        vial__buf_printf(b, "\",\"status\":%d,\"bytes\":%zu,\"duration_us\":%" PRIu64 ",\"request_id\":",
                         a->status, a->bytes, dur_us);
        if (a->reqid) {
            vial__buf_puts(b, "\"");
            put_json(b, a->reqid, strlen(a->reqid));
            vial__buf_puts(b, "\"}\n");
        } else {
            vial__buf_puts(b, "null}\n");
        }
        if (!access_batched || b->n > 16384)
            vial__log_flush();
        return;
    }
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
