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

/* Two hex digits per byte: one table lookup instead of two shifts, masks
 * and lookups per digit (this runs for every request). */
static const char hex2[256][2] = {
#define H(n) { "0123456789abcdef"[(n) >> 4], "0123456789abcdef"[(n) & 15] }
#define H4(n) H(n), H(n + 1), H(n + 2), H(n + 3)
#define H16(n) H4(n), H4(n + 4), H4(n + 8), H4(n + 12)
#define H64(n) H16(n), H16(n + 16), H16(n + 32), H16(n + 48)
    H64(0), H64(64), H64(128), H64(192)
#undef H64
#undef H16
#undef H4
#undef H
};

size_t vial__reqid_make(char *out, uint32_t prefix, uint64_t counter)
{
    for (int i = 0; i < 4; i++)
        memcpy(out + 2 * i, hex2[(prefix >> (24 - 8 * i)) & 0xff], 2);
    out[8] = '-';
    for (int i = 0; i < 5; i++) /* 10 hex digits: 40 bits of counter */
        memcpy(out + 9 + 2 * i, hex2[(counter >> (32 - 8 * i)) & 0xff], 2);
    out[19] = '\0';
    return 19;
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
