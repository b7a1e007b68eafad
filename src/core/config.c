/*
 * config.c — configuration keys and their precedence.
 *
 * Every key has one value per source; the highest source that set it wins:
 *   default < config file (vial.ini, libinih) < environment < flag < vial_config_set()
 * Keeping all levels (instead of overwriting) lets `help` show where a value
 * came from and lets a later load not clobber a higher source.
 */
#include "core.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <unistd.h>

#define NLEVELS (VIAL__CFG_SET + 1)

typedef struct cfg_key {
    char *key;
    char *help;
    char *val[NLEVELS];
    bool defined, builtin, bare_env;
} cfg_key;

struct vial__config {
    cfg_key *keys;
    size_t n, cap;
    char *file; /* the file that was loaded, for help */
};

vial__config *vial__config_new(void)
{
    return calloc(1, sizeof(vial__config));
}

void vial__config_free(vial__config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->keys[i].key);
        free(c->keys[i].help);
        for (int l = 0; l < NLEVELS; l++)
            free(c->keys[i].val[l]);
    }
    free(c->keys);
    free(c->file);
    free(c);
}

static cfg_key *find(const vial__config *c, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->keys[i].key, key) == 0)
            return &c->keys[i];
    return NULL;
}

static bool valid_key(const char *k)
{
    if (!*k)
        return false;
    for (; *k; k++)
        if (!(islower((unsigned char)*k) || isdigit((unsigned char)*k) || *k == '_' || *k == '.'))
            return false;
    return true;
}

static cfg_key *add(vial__config *c, const char *key)
{
    cfg_key *k = find(c, key);
    if (k)
        return k;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        cfg_key *nk = realloc(c->keys, cap * sizeof *nk);
        if (!nk)
            return NULL;
        c->keys = nk;
        c->cap = cap;
    }
    k = &c->keys[c->n];
    memset(k, 0, sizeof *k);
    k->key = strdup(key);
    if (!k->key)
        return NULL;
    c->n++;
    return k;
}

static int set_level(cfg_key *k, int level, const char *value)
{
    char *v = value ? strdup(value) : NULL;
    if (value && !v)
        return VIAL_ENOMEM;
    free(k->val[level]);
    k->val[level] = v;
    return 0;
}

int vial__config_define(vial__config *c, const char *key, const char *def, const char *help,
                        unsigned flags)
{
    if (!key || !valid_key(key))
        return VIAL_EINVAL;
    cfg_key *k = find(c, key);
    if (k && k->defined)
        return VIAL_EEXIST;
    if (!k && !(k = add(c, key)))
        return VIAL_ENOMEM;
    k->defined = true;
    k->builtin = (flags & VIAL__CFG_BUILTIN) != 0;
    k->bare_env = (flags & VIAL__CFG_BARE_ENV) != 0;
    free(k->help);
    k->help = help ? strdup(help) : NULL;
    return set_level(k, VIAL__CFG_DEFAULT, def);
}

int vial__config_put(vial__config *c, const char *key, const char *value, int level)
{
    if (!key || !valid_key(key) || level < 0 || level >= NLEVELS)
        return VIAL_EINVAL;
    cfg_key *k = add(c, key);
    if (!k)
        return VIAL_ENOMEM;
    return set_level(k, level, value);
}

const char *vial__config_get(const vial__config *c, const char *key)
{
    const cfg_key *k = find(c, key);
    if (!k)
        return NULL;
    for (int l = NLEVELS - 1; l >= 0; l--)
        if (k->val[l])
            return k->val[l];
    return NULL;
}

/* A key is a switch (--debug, --no-debug) when its default is spelled as
 * one; "0"/"1" do not count, so `--workers 0` keeps meaning a number. */
static bool is_bool_text(const char *v)
{
    return v && (!strcasecmp(v, "true") || !strcasecmp(v, "false") || !strcasecmp(v, "on") ||
                 !strcasecmp(v, "off") || !strcasecmp(v, "yes") || !strcasecmp(v, "no"));
}

/* ------------------------------------------------------------------ loading */

typedef struct ini_ctx {
    vial__config *c;
    const char *path;
    int err;
} ini_ctx;

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx *ctx = user;
    char key[256];
    /* [vial] and the top level hold the framework's keys; other sections
     * are namespaced for apps: [logs] protect = 1 → "logs.protect". */
    if (section && *section && strcmp(section, "vial") != 0)
        snprintf(key, sizeof key, "%s.%s", section, name);
    else
        snprintf(key, sizeof key, "%s", name);
    for (char *p = key; *p; p++)
        *p = (*p == '-') ? '_' : (char)tolower((unsigned char)*p);
    if (!valid_key(key)) {
        vial_log(VIAL_LOG_ERROR, "%s: invalid key '%s'", ctx->path, key);
        ctx->err = VIAL_EINVAL;
        return 0;
    }
    if (!find(ctx->c, key) || !find(ctx->c, key)->defined)
        vial_log(VIAL_LOG_WARN, "%s: unknown key '%s' (kept for apps that read it)", ctx->path,
                 key);
    if (vial__config_put(ctx->c, key, value, VIAL__CFG_FILE)) {
        ctx->err = VIAL_ENOMEM;
        return 0;
    }
    return 1;
}

static int load_file(vial__config *c, const char *path, bool must_exist)
{
    if (!must_exist && access(path, F_OK) != 0)
        return 0;
    ini_ctx ctx = { c, path, 0 };
    int rc = ini_parse(path, on_ini, &ctx);
    if (rc < 0) {
        vial_log(VIAL_LOG_ERROR, "cannot read config file %s: %s", path, strerror(errno));
        return VIAL_EIO;
    }
    if (rc > 0) {
        vial_log(VIAL_LOG_ERROR, "%s:%d: syntax error", path, rc);
        return VIAL_EPARSE;
    }
    if (ctx.err)
        return ctx.err;
    free(c->file);
    c->file = strdup(path);
    return 0;
}

static void load_env(vial__config *c)
{
    char name[300];
    for (size_t i = 0; i < c->n; i++) {
        cfg_key *k = &c->keys[i];
        if (!k->defined)
            continue;
        size_t n = 0;
        for (const char *p = k->key; *p && n < 250; p++)
            name[n++] = (*p == '.') ? '_' : (char)toupper((unsigned char)*p);
        name[n] = '\0';
        char vname[310];
        snprintf(vname, sizeof vname, "VIAL_%s", name);
        const char *v = getenv(vname);
        /* Keys that deployment tooling conventionally sets without a prefix
         * (12-factor style: PORT, DATABASE_URL) are declared so by their
         * module.  Everything else needs VIAL_, so a stray DEBUG or TIMEOUT
         * in someone's shell cannot change the server. */
        if (!v && k->bare_env)
            v = getenv(name);
        if (v)
            set_level(k, VIAL__CFG_ENV, v);
    }
}

/*
 * Flags: --key value, --key=value, --flag / --no-flag for boolean keys.
 * Dashes in names become underscores.  Flags naming unknown keys, and
 * everything that is not a flag, stay in argv for the command to judge.
 */
int vial__config_load(vial__config *c, int *argc, char **argv)
{
    const char *cfgfile = getenv("VIAL_CONFIG");
    int out = 0, n = argc ? *argc : 0;
    int rc = 0;
    /* First pass finds --config so the file can be loaded before flags are
     * applied (they are stored at their own level, so order only matters
     * for the file's location). */
    for (int i = 0; i < n; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < n)
            cfgfile = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            cfgfile = argv[i] + 9;
    }
    if (cfgfile)
        rc = load_file(c, cfgfile, true);
    else
        rc = load_file(c, "vial.ini", false);
    if (rc)
        return rc;
    load_env(c);

    for (int i = 0; i < n; i++) {
        char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            argv[out++] = a;
            continue;
        }
        char key[256];
        const char *eq = strchr(a + 2, '=');
        size_t kn = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (kn >= sizeof key) {
            argv[out++] = a;
            continue;
        }
        for (size_t j = 0; j < kn; j++)
            key[j] = a[2 + j] == '-' ? '_' : (char)tolower((unsigned char)a[2 + j]);
        key[kn] = '\0';
        if (!strcmp(key, "config")) {
            if (!eq)
                i++;
            continue;
        }
        bool neg = false;
        cfg_key *k = find(c, key);
        if ((!k || !k->defined) && !strncmp(key, "no_", 3)) {
            k = find(c, key + 3);
            neg = k && k->defined && is_bool_text(k->val[VIAL__CFG_DEFAULT]);
            if (!neg)
                k = NULL;
        }
        if (!k || !k->defined) {
            argv[out++] = a; /* the command decides */
            continue;
        }
        bool boolean = is_bool_text(k->val[VIAL__CFG_DEFAULT]);
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (boolean) {
            value = neg ? "0" : "1";
        } else if (i + 1 < n) {
            value = argv[++i];
        } else {
            vial_log(VIAL_LOG_ERROR, "option --%s needs a value", a + 2);
            return VIAL_EINVAL;
        }
        if ((rc = set_level(k, VIAL__CFG_FLAG, value)))
            return rc;
    }
    if (argc)
        *argc = out;
    if (argv && out < n)
        argv[out] = NULL;
    return 0;
}

void vial__config_help(const vial__config *c, FILE *out)
{
    static const char *const src[] = { "default", "file", "env", "flag", "set" };
    fprintf(out, "configuration (flag --key, env VIAL_KEY or KEY, file %s):\n",
            c->file ? c->file : "vial.ini");
    for (size_t i = 0; i < c->n; i++) {
        const cfg_key *k = &c->keys[i];
        if (!k->defined)
            continue;
        int l = NLEVELS - 1;
        while (l > 0 && !k->val[l])
            l--;
        char flag[260];
        snprintf(flag, sizeof flag, "--%s", k->key);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "  %-22s %s [%s: %s]\n", flag, k->help ? k->help : "",
                src[l], k->val[l] ? k->val[l] : "");
    }
}

/* ------------------------------------------------------------------ value parsing */

int64_t vial__parse_size(const char *s)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned long long mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1ull << 10; end++; break;
    case 'm': case 'M': mul = 1ull << 20; end++; break;
    case 'g': case 'G': mul = 1ull << 30; end++; break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b' || (*end == 'i' && (end[1] == 'B' || end[1] == 'b')))
        end += *end == 'i' ? 2 : 1;
    if (*end || v > (unsigned long long)INT64_MAX / mul)
        return -1;
    return (int64_t)(v * mul);
}

int64_t vial__parse_duration_ms(const char *s)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    unsigned long long mul;
    if (!strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "s") || !*end)
        mul = 1000;
    else if (!strcmp(end, "m"))
        mul = 60000;
    else if (!strcmp(end, "h"))
        mul = 3600000;
    else if (!strcmp(end, "d"))
        mul = 86400000;
    else
        return -1;
    if (v > (unsigned long long)INT64_MAX / mul)
        return -1;
    return (int64_t)(v * mul);
}

/* ------------------------------------------------------------------ public */

int vial__config_define_env(vial_app *app, const char *key, const char *def, const char *help)
{
    if (!app)
        return VIAL_EINVAL;
    return vial__config_define(app->cfg, key, def, help, VIAL__CFG_BARE_ENV);
}

int vial_config_define(vial_app *app, const char *key, const char *def, const char *help)
{
    if (!app)
        return VIAL_EINVAL;
    return vial__config_define(app->cfg, key, def, help, 0);
}

const char *vial_config(vial_app *app, const char *key)
{
    return app && key ? vial__config_get(app->cfg, key) : NULL;
}

int vial_config_set(vial_app *app, const char *key, const char *value)
{
    if (!app || !value)
        return VIAL_EINVAL;
    return vial__config_put(app->cfg, key, value, VIAL__CFG_SET);
}

int vial_config_default(vial_app *app, const char *key, const char *value)
{
    if (!app || !value)
        return VIAL_EINVAL;
    return vial__config_put(app->cfg, key, value, VIAL__CFG_DEFAULT);
}

int64_t vial_config_int(vial_app *app, const char *key, int64_t def)
{
    const char *v = vial_config(app, key);
    if (!v || !*v)
        return def;
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (errno || *end)
        return def;
    return x;
}

int64_t vial_config_duration_ms(vial_app *app, const char *key, int64_t def)
{
    int64_t v = vial__parse_duration_ms(vial_config(app, key));
    return v < 0 ? def : v;
}

int64_t vial_config_size(vial_app *app, const char *key, int64_t def)
{
    int64_t v = vial__parse_size(vial_config(app, key));
    return v < 0 ? def : v;
}

int vial_config_bool(vial_app *app, const char *key, int def)
{
    const char *v = vial_config(app, key);
    if (!v)
        return def;
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcasecmp(v, "yes"))
        return 1;
    if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcasecmp(v, "no") ||
        !*v)
        return 0;
    return def;
}
