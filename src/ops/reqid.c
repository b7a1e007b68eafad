/*
 * reqid.c — request ids: the one a trusted client or proxy sent, checked,
 * or a fresh one that is unique across workers and restarts without any
 * coordination (per-process randomness, then a per-worker counter).
 */
#include "ops.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

bool vial__reqid_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

size_t vial__reqid_make(char *out, uint32_t prefix, uint64_t counter)
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 7; i >= 0; i--)
        *o++ = hex[(prefix >> (i * 4)) & 15];
    *o++ = '-';
    for (int i = 9; i >= 0; i--)
        *o++ = hex[(counter >> (i * 4)) & 15];
    *o = '\0';
    return (size_t)(o - out);
}

uint32_t vial__random_u32(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (uint32_t)getpid() * 2654435761u ^ (uint32_t)ts.tv_nsec ^ (uint32_t)ts.tv_sec;
    }
    return r;
}
