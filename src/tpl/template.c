/*
 * template.c — the template module's public face: vial_render(),
 * vial_template_render_malloc(), vial_template_render_string_malloc(),
 * vial_template_filter(), vial_template_folder(); the per-app state, the
 * cache of compiled templates and finding them in `templates_dir` and the
 * folders apps and blueprints add.
 *
 * The module needs no set-up call: its state is hung on the app
 * (vial__app_ext) by the first template call, so vial-server and plain
 * apps just render.  Its setting, `templates_dir` (default "templates"),
 * is declared on every new app by a declarer this file hands core before
 * main (vial__app_module_keys), so flags and the environment can set it
 * even in an app whose first template call comes from a view.
 *
 * A name is looked up in templates_dir first, then in the folders added to
 * the app and to its blueprints (Flask's blueprint template folders; kept
 * on the blueprint, so one not yet registered can have them), so an app can
 * override a blueprint's page by putting its own under the same name.
 * The directories are read each time a template is loaded, so
 * vial_config_set() before the first render is enough.
 *
 * The cache maps a template name to its compiled form.  A lookup holds the
 * mutex only to find the entry and take a reference; compiling and
 * rendering happen outside it, and compiled templates are immutable, so
 * every worker renders the same template concurrently.  Two threads missing
 * the same name at once may both compile it; the first insert wins.  In
 * debug mode each lookup compares the file's mtime, size and inode with
 * those it was compiled from and recompiles on a change (a file that now
 * shadows it in an earlier directory is a change too); since includes and
 * extends are looked up at render time, editing a base layout or a partial
 * shows up on the next render of every page that uses it.
 */
#include "tpl_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct vial__tcache_entry {
    char *name;
    vial__tpl *t;
    struct timespec mtime;
    off_t size;
    ino_t ino;
    dev_t dev;
    uint64_t hash;
    vial__tcache_entry *next;
};

static const char ext_key = 0;
/* Serializes the creation of module states (the first render may run on
 * several workers at once). */
static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

static void mod_free(void *p)
{
    vial__tplmod *m = p;
    for (size_t i = 0; i < m->nbuckets; i++) {
        vial__tcache_entry *e = m->buckets[i];
        while (e) {
            vial__tcache_entry *next = e->next;
            vial__tpl_release(e->t);
            free(e->name);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    for (size_t i = 0; i < m->nfilters; i++)
        free(m->filters[i].name);
    free(m->filters);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int declare_keys(vial_app *app)
{
    int rc = vial__config_define(app->cfg, "templates_dir", "templates",
                                 "directory of the app's templates (vial_render); folders added "
                                 "with vial_template_folder are searched after it",
                                 VIAL__CFG_BUILTIN);
    return rc == VIAL_EEXIST ? 0 : rc;
}

__attribute__((constructor)) static void tpl_keys(void)
{
    vial__app_module_keys(declare_keys);
}

vial__tpl_limits *vial__tplmod_limits(vial__tplmod *m)
{
    return &m->lim;
}

vial__tplmod *vial__tplmod_get(vial_app *app)
{
    vial__tplmod *m = vial__app_ext(app, &ext_key);
    if (m)
        return m;
    pthread_mutex_lock(&create_lock);
    m = vial__app_ext(app, &ext_key);
    if (!m && (m = calloc(1, sizeof *m))) {
        m->app = app;
        m->lim = (vial__tpl_limits){
            .max_output = (size_t)64 << 20,
            .max_memory = (size_t)128 << 20,
            .max_steps = 20000000,
            .max_calls = 16,
            .max_depth = 400,
        };
        m->nbuckets = 64;
        m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
        if (!m->buckets || pthread_mutex_init(&m->lock, NULL)) {
            free(m->buckets);
            free(m);
            m = NULL;
        } else if (vial__app_ext_set(app, &ext_key, m, mod_free)) {
            mod_free(m);
            m = NULL;
        }
    }
    pthread_mutex_unlock(&create_lock);
    return m;
}

/* ------------------------------------------------------------------ names and files */

static uint64_t hash_name(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Names are relative paths below templates_dir: no absolute paths, no "..",
 * no NUL.  Returns 0 or VIAL_EINVAL with a message. */
static int check_name(const char *name, size_t n, char *err, size_t errlen)
{
    const char *why = NULL;
    if (n == 0)
        why = "empty template name";
    else if (n > VIAL__TPL_MAX_NAME)
        why = "template name too long";
    else if (name[0] == '/')
        why = "absolute template names are refused";
    else if (memchr(name, '\0', n))
        why = "template name contains a NUL byte";
    for (size_t i = 0; !why && i < n;) {
        size_t j = i;
        while (j < n && name[j] != '/')
            j++;
        if (j - i == 2 && name[i] == '.' && name[i + 1] == '.')
            why = "'..' in template names is refused";
        i = j + 1;
    }
    if (!why)
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "'%.*s': %s", (int)(n > 200 ? 200 : n), name, why);
    return VIAL_EINVAL;
}

static const char *templates_dir(vial_app *app)
{
    const char *d = vial_config(app, "templates_dir");
    return d && *d ? d : "templates";
}

/* The folders added to one blueprint, in call order. */
typedef struct folders {
    char **v;
    size_t n;
} folders;

static const char folders_key = 0;

static void folders_free(void *p)
{
    folders *f = p;
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
    free(f);
}

/* Appends the folders of `bp` and its children (depth first, in the order
 * they were registered) to `out` (NULL: only counts). */
static size_t collect_folders(const vial_bp *bp, const char **out, size_t at)
{
    const folders *f = vial__bp_ext(bp, &folders_key);
    for (size_t i = 0; f && i < f->n; i++, at++)
        if (out)
            out[at] = f->v[i];
    for (size_t i = 0; i < bp->nchildren; i++)
        at = collect_folders(bp->children[i], out, at);
    return at;
}

/* Where a name is looked up, in order: templates_dir, then the folders of
 * the app and its blueprints.  Recomputed per lookup (a miss, or a stat in
 * debug mode): the tree is fixed once serving, and a walk costs less than
 * the file system calls it precedes.  malloc'd; NULL when out of memory. */
static const char **search_dirs(vial__tplmod *m, size_t *n)
{
    const vial_bp *root = vial_app_bp(m->app);
    *n = 1 + collect_folders(root, NULL, 0);
    const char **dirs = malloc(*n * sizeof *dirs);
    if (dirs) {
        dirs[0] = templates_dir(m->app);
        collect_folders(root, dirs, 1);
    }
    return dirs;
}

static char *path_in(const char *dir, const char *name)
{
    size_t dn = strlen(dir), nn = strlen(name);
    char *p = malloc(dn + nn + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, dn);
    p[dn] = '/';
    memcpy(p + dn + 1, name, nn + 1);
    return p;
}

/* Reads a whole template file.  Returns 0, VIAL_ENOENT, VIAL_EIO,
 * VIAL_ETOOBIG or VIAL_ENOMEM (with a message). */
static int read_file(const char *path, const char *name, char **src, size_t *len,
                     struct stat *st, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int code = errno == ENOENT || errno == ENOTDIR ? VIAL_ENOENT : VIAL_EIO;
        snprintf(err, errlen, "template '%s' not found%s%s", name,
                 code == VIAL_EIO ? ": " : "", code == VIAL_EIO ? strerror(errno) : "");
        return code;
    }
    int code = 0;
    if (fstat(fd, st) != 0) {
        code = VIAL_EIO;
        snprintf(err, errlen, "template '%s': %s", name, strerror(errno));
    } else if (!S_ISREG(st->st_mode)) {
        code = VIAL_ENOENT;
        snprintf(err, errlen, "template '%s' not found (not a regular file)", name);
    } else if ((uint64_t)st->st_size > VIAL__TPL_MAX_SOURCE) {
        code = VIAL_ETOOBIG;
        snprintf(err, errlen, "template '%s' is larger than %u bytes", name,
                 VIAL__TPL_MAX_SOURCE);
    }
    size_t cap = code ? 0 : (size_t)st->st_size, n = 0;
    char *p = code ? NULL : malloc(cap + 1);
    if (!code && !p) {
        code = VIAL_ENOMEM;
        snprintf(err, errlen, "template '%s': out of memory", name);
    }
    /* read to the end even if the file grew since fstat, up to the limit */
    while (!code) {
        if (n == cap) {
            if (cap >= VIAL__TPL_MAX_SOURCE) {
                code = VIAL_ETOOBIG;
                snprintf(err, errlen, "template '%s' is larger than %u bytes", name,
                         VIAL__TPL_MAX_SOURCE);
                break;
            }
            size_t ncap = cap ? cap * 2 : 4096;
            char *np = realloc(p, ncap + 1);
            if (!np) {
                code = VIAL_ENOMEM;
                snprintf(err, errlen, "template '%s': out of memory", name);
                break;
            }
            p = np;
            cap = ncap;
        }
        ssize_t r = read(fd, p + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            code = VIAL_EIO;
            snprintf(err, errlen, "template '%s': %s", name, strerror(errno));
        } else if (r == 0) {
            break;
        } else {
            n += (size_t)r;
        }
    }
    close(fd);
    if (code) {
        free(p);
        return code;
    }
    *src = p;
    *len = n;
    return 0;
}

/* ------------------------------------------------------------------ the cache */

static vial__tcache_entry *cache_find(vial__tplmod *m, const char *name, size_t n, uint64_t h)
{
    for (vial__tcache_entry *e = m->buckets[h % m->nbuckets]; e; e = e->next)
        if (e->hash == h && !strncmp(e->name, name, n) && e->name[n] == '\0')
            return e;
    return NULL;
}

static bool same_file(const vial__tcache_entry *e, const struct stat *st)
{
    return e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           e->size == st->st_size && e->ino == st->st_ino && e->dev == st->st_dev;
}

static void entry_stat(vial__tcache_entry *e, const struct stat *st)
{
    e->mtime = st->st_mtim;
    e->size = st->st_size;
    e->ino = st->st_ino;
    e->dev = st->st_dev;
}

/* Called with the lock held; a failed rehash just keeps longer chains. */
static void cache_grow(vial__tplmod *m)
{
    size_t nb = m->nbuckets * 4;
    vial__tcache_entry **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        vial__tcache_entry *e = m->buckets[i];
        while (e) {
            vial__tcache_entry *next = e->next;
            e->next = b[e->hash % nb];
            b[e->hash % nb] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

vial__tpl *vial__tpl_load(vial__tplmod *m, const char *name, size_t n, char *err, size_t errlen,
                          int *code)
{
    if ((*code = check_name(name, n, err, errlen)))
        return NULL;
    char key[VIAL__TPL_MAX_NAME + 1];
    memcpy(key, name, n);
    key[n] = '\0';
    uint64_t h = hash_name(key, n);
    bool debug = m->app->debug;
    /* The directories and the path are only needed to stat (debug) or to
     * read (a miss). */
    const char **dirs = NULL;
    size_t ndirs = 0;
    char *path = NULL;
    struct stat st;
    bool have_st = false;
    if (debug && !(dirs = search_dirs(m, &ndirs)))
        goto nomem;
    for (size_t i = 0; debug && i < ndirs && !have_st; i++) {
        free(path);
        if (!(path = path_in(dirs[i], key))) {
            free(dirs);
            goto nomem;
        }
        have_st = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    }

    vial__tpl *t = NULL;
    pthread_mutex_lock(&m->lock);
    vial__tcache_entry *e = cache_find(m, key, n, h);
    if (e && (!debug || (have_st && same_file(e, &st)))) {
        t = e->t;
        vial__tpl_retain(t);
    }
    pthread_mutex_unlock(&m->lock);
    if (t) {
        free(path);
        free(dirs);
        return t;
    }

    char *src = NULL;
    size_t len = 0;
    if (have_st) {
        *code = read_file(path, key, &src, &len, &st, err, errlen);
    } else if (!dirs && !(dirs = search_dirs(m, &ndirs))) {
        *code = VIAL_ENOMEM;
        snprintf(err, errlen, "out of memory");
    } else {
        /* The first directory that has it; "not found" once none has. */
        *code = VIAL_ENOENT;
        for (size_t i = 0; i < ndirs && *code == VIAL_ENOENT; i++) {
            free(path);
            if (!(path = path_in(dirs[i], key))) {
                *code = VIAL_ENOMEM;
                snprintf(err, errlen, "out of memory");
            } else {
                *code = read_file(path, key, &src, &len, &st, err, errlen);
            }
        }
    }
    free(path);
    free(dirs);
    if (*code)
        return NULL;
    t = vial__tpl_compile(m, key, src, len, err, errlen, code);
    free(src);
    if (!t)
        return NULL;

    pthread_mutex_lock(&m->lock);
    e = cache_find(m, key, n, h);
    if (e && !debug) {
        /* another thread compiled it meanwhile: use the cached one */
        vial__tpl_release(t);
        t = e->t;
    } else if (e) {
        vial__tpl_release(e->t); /* renders still using it hold their own reference */
        e->t = t;
        entry_stat(e, &st);
    } else if ((e = calloc(1, sizeof *e)) && (e->name = strdup(key))) {
        e->t = t;
        e->hash = h;
        entry_stat(e, &st);
        e->next = m->buckets[h % m->nbuckets];
        m->buckets[h % m->nbuckets] = e;
        if (++m->nentries > 2 * m->nbuckets)
            cache_grow(m);
    } else {
        /* cannot cache it: hand out the only reference */
        free(e);
        pthread_mutex_unlock(&m->lock);
        return t;
    }
    vial__tpl_retain(t);
    pthread_mutex_unlock(&m->lock);
    return t;

nomem:
    *code = VIAL_ENOMEM;
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* ------------------------------------------------------------------ public API */

static int render_common(vial_app *app, vial_req *req, const char *name, const char *src,
                         json_t *ctx, vial__buf *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!app || !name) {
        snprintf(err, errlen, "no app or no template name");
        return VIAL_EINVAL;
    }
    if (ctx && !json_is_object(ctx)) {
        snprintf(err, errlen, "%s: the context must be a JSON object", name);
        return VIAL_EINVAL;
    }
    vial__tplmod *m = vial__tplmod_get(app);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return VIAL_ENOMEM;
    }
    int code;
    vial__tpl *t = src ? vial__tpl_compile(m, name, src, strlen(src), err, errlen, &code)
                       : vial__tpl_load(m, name, strlen(name), err, errlen, &code);
    if (!t)
        return code;
    code = vial__tpl_render(m, req, t, ctx, out, err, errlen);
    vial__tpl_release(t);
    return code;
}

static int render_to_string(vial_app *app, vial_req *req, const char *name, const char *src,
                            json_t *ctx, char **out, size_t *len, char *err, size_t errlen)
{
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!out) {
        if (err && errlen)
            snprintf(err, errlen, "no output pointer");
        return VIAL_EINVAL;
    }
    vial__buf b = { 0 };
    int rc = render_common(app, req, name, src, ctx, &b, err, errlen);
    if (!rc && vial__buf_nul(&b) == 0 && (b.p || (b.p = calloc(1, 1)))) {
        *out = b.p;
        if (len)
            *len = b.n;
        return 0;
    }
    if (!rc) {
        rc = VIAL_ENOMEM;
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
    }
    vial__buf_free(&b);
    return rc;
}

int vial_template_render_malloc(vial_app *app, vial_req *req, const char *name, json_t *ctx,
                         char **out, size_t *len, char *err, size_t errlen)
{
    return render_to_string(app, req, name, NULL, ctx, out, len, err, errlen);
}

int vial_template_render_string_malloc(vial_app *app, vial_req *req, const char *name, const char *src,
                                json_t *ctx, char **out, size_t *len, char *err, size_t errlen)
{
    if (!src) {
        if (out)
            *out = NULL;
        if (err && errlen)
            snprintf(err, errlen, "no template source");
        return VIAL_EINVAL;
    }
    return render_to_string(app, req, name ? name : "<string>", src, ctx, out, len, err,
                            errlen);
}

/* As vial.h promises: HTML for the autoescaped names, text otherwise. */
static const char *content_type(const char *name)
{
    return vial__tpl_autoescape_name(name) ? "text/html; charset=utf-8"
                                           : "text/plain; charset=utf-8";
}

int vial_render(vial_req *req, int status, const char *name, json_t *ctx)
{
    if (!req)
        return VIAL_EINVAL;
    char err[512];
    /* the first 8 KiB of output come from the worker's block pool */
    vial__buf b = { .pool = vial__req_pool(req) };
    int rc = render_common(req->app, req, name, NULL, ctx, &b, err, sizeof err);
    if (rc) {
        vial__buf_free(&b);
        vial_req_log(req, VIAL_LOG_ERROR, "template error: %s", err);
        return vial_abort(req, 500, req->app->debug ? err : NULL);
    }
    rc = vial_send(req, status, content_type(name), b.p ? b.p : "", b.n);
    vial__buf_free(&b);
    return rc;
}

int vial_render_take(vial_req *req, int status, const char *name, json_t *ctx)
{
    int rc;
    if (!ctx) {
        vial_req_log(req, VIAL_LOG_ERROR, "template error: %s: no context (out of memory?)",
                     name ? name : "");
        rc = req ? vial_abort(req, 500, NULL) : VIAL_EINVAL;
    } else {
        rc = vial_render(req, status, name, ctx);
    }
    json_decref(ctx);
    return rc;
}

int vial_template_filter(vial_app *app, const char *name, vial_filter_fn fn)
{
    if (!app || !name || !fn)
        return VIAL_EINVAL;
    size_t n = strlen(name);
    if (n == 0 || n > 64 || !((name[0] >= 'a' && name[0] <= 'z') ||
                              (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_'))
        return VIAL_EINVAL;
    for (size_t i = 1; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
            return VIAL_EINVAL;
    if (app->server)
        return VIAL_ESTATE; /* filters are read by workers without a lock */
    vial__tplmod *m = vial__tplmod_get(app);
    if (!m)
        return VIAL_ENOMEM;
    for (size_t i = 0; i < m->nfilters; i++) {
        if (!strcmp(m->filters[i].name, name)) {
            m->filters[i].fn = fn;
            return 0;
        }
    }
    vial__tfilter_custom *f = realloc(m->filters, (m->nfilters + 1) * sizeof *f);
    if (!f)
        return VIAL_ENOMEM;
    m->filters = f;
    if (!(f[m->nfilters].name = strdup(name)))
        return VIAL_ENOMEM;
    f[m->nfilters++].fn = fn;
    return 0;
}

int vial_bp_template_folder(vial_bp *bp, const char *dir)
{
    if (!bp || !dir || !*dir)
        return VIAL_EINVAL;
    if (bp->app && bp->app->server)
        return VIAL_ESTATE; /* workers read the folders without a lock */
    folders *f = vial__bp_ext(bp, &folders_key);
    if (!f) {
        if (!(f = calloc(1, sizeof *f)))
            return VIAL_ENOMEM;
        if (vial__bp_ext_set(bp, &folders_key, f, folders_free)) {
            free(f);
            return VIAL_ENOMEM;
        }
    }
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->v[i], dir))
            return 0;
    char **v = realloc(f->v, (f->n + 1) * sizeof *v);
    if (!v)
        return VIAL_ENOMEM;
    f->v = v;
    if (!(v[f->n] = strdup(dir)))
        return VIAL_ENOMEM;
    f->n++;
    return 0;
}
