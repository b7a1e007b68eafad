/*
 * config_fuzz.c — configuration value parsing (src/core/config.c).
 *
 * The input, NUL-terminated, goes to vial__parse_size() and
 * vial__parse_duration_ms(); each result must equal what an independent
 * reference computes from the documented grammar:
 *   size      digits [(K|M|G, either case) [B | b | iB | ib]]     → bytes
 *   duration  digits [ms | s | m | h | d]   (no unit: seconds)  → ms
 * with -1 for anything else or a value past INT64_MAX.  Then the input,
 * split at NULs, is an argv for the flag parser (vial__config_load), whose
 * positional leftovers must be a subsequence of the arguments.
 */
#include "core/core.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "config_fuzz: " __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

/* Reads digits; returns false past INT64_MAX (the real parser may accept
 * more digits only to refuse the product later, which is the same answer). */
static bool digits(const char **s, unsigned __int128 *v)
{
    const char *p = *s;
    if (*p < '0' || *p > '9')
        return false;
    unsigned __int128 x = 0;
    while (*p >= '0' && *p <= '9') {
        x = x * 10 + (unsigned)(*p - '0');
        if (x > (unsigned __int128)UINT64_MAX)
            x = (unsigned __int128)UINT64_MAX + 1; /* saturate: too big anyway */
        p++;
    }
    *s = p;
    *v = x;
    return true;
}

static int64_t ref_size(const char *s)
{
    unsigned __int128 v;
    if (!digits(&s, &v))
        return -1;
    unsigned __int128 mul = 1;
    switch (*s) {
    case 'k': case 'K': mul = 1024; s++; break;
    case 'm': case 'M': mul = 1024 * 1024; s++; break;
    case 'g': case 'G': mul = 1024 * 1024 * 1024; s++; break;
    default: break;
    }
    if (mul > 1 && (!strcmp(s, "B") || !strcmp(s, "b") || !strcmp(s, "iB") || !strcmp(s, "ib")))
        s += strlen(s);
    if (*s)
        return -1;
    if (v > (unsigned __int128)UINT64_MAX || v * mul > INT64_MAX)
        return -1;
    return (int64_t)(v * mul);
}

static int64_t ref_duration(const char *s)
{
    unsigned __int128 v;
    if (!digits(&s, &v))
        return -1;
    unsigned __int128 mul;
    if (!*s || !strcmp(s, "s"))
        mul = 1000;
    else if (!strcmp(s, "ms"))
        mul = 1;
    else if (!strcmp(s, "m"))
        mul = 60000;
    else if (!strcmp(s, "h"))
        mul = 3600000;
    else if (!strcmp(s, "d"))
        mul = 86400000;
    else
        return -1;
    if (v > (unsigned __int128)UINT64_MAX || v * mul > INT64_MAX)
        return -1;
    return (int64_t)(v * mul);
}

static vial__config *cfg;

static void setup(void)
{
    cfg = vial__config_new();
    if (!cfg)
        abort();
    static const char *const keys[][2] = {
        { "port", "5000" }, { "debug", "off" }, { "max_body", "10M" },
        { "header_timeout", "10s" }, { "app.flag", "yes" }, { "name", "" },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(keys); i++)
        if (vial__config_define(cfg, keys[i][0], keys[i][1], "help", true))
            abort();
}

static void flags(const uint8_t *data, size_t size)
{
    /* argv from NUL-separated pieces; a --config flag would read a file, so
     * such arguments are left out. */
    char *copy = malloc(size + 1);
    char *argv[33];
    char *orig[33];
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    int argc = 0;
    for (char *p = copy; p <= copy + size && argc < 32; p += strlen(p) + 1) {
        if (!strncmp(p, "--config", 8))
            continue;
        argv[argc++] = p;
    }
    argv[argc] = NULL;
    memcpy(orig, argv, sizeof argv);
    int n = argc;
    int rc = vial__config_load(cfg, &n, argv);
    if (rc == 0) {
        if (n < 0 || n > argc)
            die("config_load left %d of %d arguments", n, argc);
        int j = 0;
        for (int i = 0; i < n; i++) {
            while (j < argc && orig[j] != argv[i])
                j++;
            if (j++ == argc)
                die("leftover argument %d is not one of the arguments, in order", i);
        }
    }
    /* Values read back through the typed accessors' parsers. */
    static const char *const keys[] = { "port", "debug", "max_body", "header_timeout",
                                        "app.flag", "name" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(keys); i++) {
        const char *v = vial__config_get(cfg, keys[i]);
        if (v) {
            (void)vial__parse_size(v);
            (void)vial__parse_duration_ms(v);
        }
        vial__config_put(cfg, keys[i], NULL, VIAL__CFG_FLAG); /* reset for the next input */
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg) {
        setup();
        vial__log_level = VIAL_LOG_ERROR + 1; /* "option --x needs a value" */
    }
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t a = vial__parse_size(s), ra = ref_size(s);
    if (a != ra)
        die("parse_size(\"%s\") = %" PRId64 ", expected %" PRId64, s, a, ra);
    int64_t b = vial__parse_duration_ms(s), rb = ref_duration(s);
    if (b != rb)
        die("parse_duration_ms(\"%s\") = %" PRId64 ", expected %" PRId64, s, b, rb);
    free(s);
    flags(data, size);
    return 0;
}
