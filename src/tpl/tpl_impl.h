/*
 * tpl_impl.h — private to the template engine (src/tpl/template.c,
 * tpl_parse.c, tpl_render.c, tpl_value.c, tpl_filters.c); never installed.
 *
 * A template goes through three stages:
 *   tpl_parse.c    source → tokens → AST (vial__tpl), filters resolved, every
 *                  limit on nesting checked, so a compiled template is known
 *                  to be renderable with bounded recursion;
 *   tpl_render.c   AST + context → bytes in a vial__buf, with a step budget,
 *                  a memory budget and an output cap (tpl_value.c: values,
 *                  str()/repr(), escaping, the budget; tpl_filters.c: the
 *                  builtin filters and tests);
 *   template.c     the public API, the per-app module state (custom filters,
 *                  the cache of compiled templates, limits) and file loading.
 * Compiled templates are immutable once built, so every worker thread may
 * render the same one at the same time; a reference count keeps one alive
 * while a render uses it even if debug mode replaces it in the cache.
 *
 * Values during a render (vial__tval) are small structs copied by value.
 * They never own memory: strings point into a template's AST, into the
 * context (jansson), or into the render's arena; arrays and objects are
 * jansson values that are either borrowed from the context or kept alive by
 * the render (vial__tr_keep) until it ends.  So nothing is freed while a
 * render runs and nothing leaks when it stops half-way on an error.
 *
 * A jansson string has no room for the safe mark, so a safe string stored
 * in a list the render builds is remembered by address (vial__tr_to_json)
 * and read back as safe (vial__tr_from_json), as Jinja's Markup stays
 * Markup in a list.  The render holds a reference on each such string, so
 * no other value can come to that address while it runs.
 */
#ifndef VIAL_TPL_IMPL_H
#define VIAL_TPL_IMPL_H

#include "tpl.h"

#include <pthread.h>

/* ------------------------------------------------------------------ limits */

/*
 * Limits that make hostile or broken templates fail cleanly instead of
 * crashing or hanging a worker.  The parse limits bound the recursion of
 * both the parser and the renderer (the AST cannot be deeper than they
 * allow); the render limits bound time, memory and output.
 */
#define VIAL__TPL_MAX_SOURCE (8u << 20)   /* bytes of template source */
#define VIAL__TPL_MAX_EXPR_DEPTH 64       /* nesting of one expression */
#define VIAL__TPL_MAX_STMT_DEPTH 48       /* nesting of {% %} blocks */
#define VIAL__TPL_MAX_NAME 1024           /* length of a template name */
#define VIAL__TPL_MAX_BLOCKS 4096         /* {% block %}s in one template */



/* ------------------------------------------------------------------ values */

enum {
    TV_UNDEF,   /* an undefined name: u.s holds the name, for messages */
    TV_NONE,
    TV_BOOL,
    TV_INT,
    TV_REAL,
    TV_STR,     /* u.s: UTF-8 (not checked), not NUL-terminated */
    TV_ARR,     /* u.j: a jansson array */
    TV_OBJ,     /* u.j: a jansson object */
    TV_LOOP,    /* the `loop` variable of a for loop */
};

/* The state behind a for loop's `loop` variable. */
struct vial__tloop {
    size_t index0, length;
};

typedef struct vial__tval {
    uint8_t t;
    bool safe; /* TV_STR already escaped for HTML (|safe, |escape, super()) */
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            const char *p;
            size_t n;
        } s;
        json_t *j;
        struct vial__tloop *loop;
    } u;
} vial__tval;

/* ------------------------------------------------------------------ AST */

/* Expression operators. */
enum {
    TX_LIT,     /* u.lit */
    TX_LIST,    /* [a, b] or (a, b): u.call.args */
    TX_NAME,    /* u.name */
    TX_ATTR,    /* a.name */
    TX_ITEM,    /* a[b] */
    TX_NOT,
    TX_NEG,
    TX_POS,
    TX_BIN,     /* a <sub> b: '+', '-', '*', '/', 'F' (//), '%', '~' */
    TX_AND,
    TX_OR,
    TX_COND,    /* a if b else c (c may be NULL) */
    TX_CMP,     /* a <sub> b, sub: 'E' ==, 'N' !=, '<', 'L' <=, '>', 'G' >=, 'i' in, 'n' not in;
                 * a chain a < b < c is TX_CMP whose `a` is the previous TX_CMP (flag chain) */
    TX_FILTER,  /* a|f(args): u.call */
    TX_TEST,    /* a is [not] t(args): u.call, sub = 1 when negated */
    TX_CALL,    /* url_for(...), static(...), super(), obj.items(), loop.cycle(...): u.call */
};

/* Functions callable in templates (TX_CALL's u.call.id). */
enum { TF_URL_FOR, TF_STATIC, TF_SUPER, TF_ITEMS, TF_KEYS, TF_VALUES, TF_CYCLE };

typedef struct vial__texpr vial__texpr;
typedef struct vial__trender vial__trender;

/* A builtin filter: turns *v into its result.  `a` holds the bound
 * arguments (TV_UNDEF with a NULL name where one was omitted). */
typedef int (*vial__tfilter_fn)(vial__trender *r, const vial__texpr *x, vial__tval *v,
                                const vial__tval *a);

typedef struct vial__tcall {
    const char *name;
    int id;                 /* builtin filter/test/function index */
    vial__tfilter_fn fn;    /* builtin filter */
    vial_filter_fn custom;  /* app filter (positional arguments only) */
    vial__texpr **args;     /* builtins: bound to parameters (NULL: omitted) */
    const char **kw;        /* url_for: names of args[npos..nargs) */
    size_t nargs, npos;
} vial__tcall;

struct vial__texpr {
    uint8_t op;
    uint8_t sub;
    bool chain;      /* TX_CMP: `a` is the previous comparison of a chain */
    uint16_t depth;  /* height of this subtree */
    uint32_t pos;    /* byte offset in the source, for messages */
    vial__texpr *a, *b, *c;
    union {
        vial__tval lit;
        struct {
            const char *p;
            size_t n;
        } name;
        vial__tcall call;
    } u;
};

enum {
    TN_TEXT,
    TN_OUT,      /* {{ expr }} */
    TN_IF,
    TN_FOR,
    TN_SET,      /* {% set x = expr %} */
    TN_SETBLOCK, /* {% set x %}...{% endset %} */
    TN_INCLUDE,
    TN_BLOCK,
};

typedef struct vial__tnode vial__tnode;
typedef struct vial__tbody {
    vial__tnode **v;
    size_t n;
} vial__tbody;

#define VIAL__TPL_MAX_TARGETS 8

typedef struct vial__tname {
    const char *p;
    size_t n;
} vial__tname;

struct vial__tnode {
    uint8_t kind;
    uint32_t pos;
    union {
        vial__tname text;
        vial__texpr *expr;
        struct {
            vial__texpr *cond;
            vial__tbody then, els; /* an elif is an if alone in els */
        } if_;
        struct {
            vial__tname targets[VIAL__TPL_MAX_TARGETS];
            size_t ntargets;
            vial__texpr *iter, *filter;
            vial__tbody body, els;
        } for_;
        struct {
            vial__tname name;
            vial__texpr *value;
            vial__tbody body; /* TN_SETBLOCK */
        } set;
        struct {
            vial__texpr *name;
            bool ignore_missing, without_context;
        } include;
        struct {
            vial__tname name;
            vial__tbody body;
        } block;
    } u;
};

/* A compiled template: immutable after vial__tpl_compile() returns. */
struct vial__tpl {
    atomic_uint refs;
    char *name;           /* as given (relative to templates_dir) */
    char *src;            /* the source (text nodes point into it) */
    size_t len;
    vial__arena ar;       /* every AST node and decoded string literal */
    vial__tbody body;
    vial__texpr *extends; /* {% extends %} target, or NULL */
    vial__tnode **blocks; /* every {% block %}, nested ones included */
    size_t nblocks;
    bool autoescape;
};

/* ------------------------------------------------------------------ module */

typedef struct vial__tfilter_custom {
    char *name;
    vial_filter_fn fn;
} vial__tfilter_custom;

typedef struct vial__tcache_entry vial__tcache_entry;

/* The template module's state, hung on the app (vial__app_ext). */
struct vial__tplmod {
    vial_app *app;
    pthread_mutex_t lock; /* guards the cache only; renders never hold it */
    vial__tcache_entry **buckets;
    size_t nbuckets, nentries;
    vial__tfilter_custom *filters; /* registered before vial_run(): read without lock */
    size_t nfilters;
    vial__tpl_limits lim;
};


void vial__tpl_retain(vial__tpl *t);
/* True for names whose output is HTML-escaped: .html .htm .xml .svg. */
bool vial__tpl_autoescape_name(const char *name);

/*
 * Finds `name` in the cache, loading and compiling it on a miss (or, in
 * debug mode, when its file changed).  Returns a new reference, or NULL with
 * the error in `err` and `*code` set (VIAL_ENOENT when there is no such
 * file, VIAL_EINVAL for a refused name, VIAL_EPARSE for a syntax error).
 */
vial__tpl *vial__tpl_load(vial__tplmod *m, const char *name, size_t n, char *err, size_t errlen,
                          int *code);

/* Writes "name:line:col: " for byte offset `pos` of `t`'s source. */
int vial__tpl_where(const vial__tpl *t, uint32_t pos, char *out, size_t outlen);

/* ------------------------------------------------------------------ rendering */

typedef struct vial__tframe vial__tframe;
typedef struct vial__tblocks vial__tblocks;
typedef struct vial__tblock_ctx vial__tblock_ctx;

struct vial__trender {
    vial__tplmod *mod;
    vial_app *app;
    vial_req *req;
    json_t *ctx;                /* borrowed */
    vial__buf *out;
    vial__arena ar;             /* temporaries: strings built while rendering */
    const vial__tpl *tpl;       /* the template whose nodes run now */
    vial__tframe *top;          /* innermost scope */
    vial__tblocks *blocks;      /* block chains of the current extends tree */
    vial__tblock_ctx *block;    /* the block being rendered, for super() */
    json_t **keep;              /* jansson values created by the render */
    size_t nkeep, capkeep;
    json_t **safe;              /* strings stored from safe values: open addressing, referenced */
    size_t nsafe, capsafe;
    json_t *request;            /* the `request` global, built on first use */
    uint64_t steps;
    size_t mem;                 /* arena bytes + an estimate of kept values */
    int depth, calls;
    int err;                    /* first error (VIAL_E*), 0 while fine */
    char *errbuf;
    size_t errlen;
    vial__tpl_limits lim;
};


/* Helpers the filters share with the renderer (tpl_render.c). */
int vial__tr_error(vial__trender *r, uint32_t pos, int code, const char *fmt, ...)
    VIAL_PRINTF(4, 5);
/* Charges `n` bytes against the memory limit; fails the render past it. */
int vial__tr_charge(vial__trender *r, uint32_t pos, size_t n);
/* Arena memory counted against the memory limit; NULL after an error. */
void *vial__tr_alloc(vial__trender *r, uint32_t pos, size_t n);
/* Keeps a new jansson reference alive until the render ends (steals it). */
int vial__tr_keep(vial__trender *r, uint32_t pos, json_t *j);
/* Counts `n` units of work; fails the render past the step budget. */
int vial__tr_steps(vial__trender *r, uint32_t pos, uint64_t n);
/* The string form of a value (Python's str()): into the arena when needed. */
int vial__tr_str(vial__trender *r, uint32_t pos, const vial__tval *v, vial__tval *out);
/* Appends the string form of `v` to `b` (no escaping). */
int vial__tr_str_into(vial__trender *r, uint32_t pos, const vial__tval *v, vial__buf *b);
/* HTML-escapes into `b` (& < > " ' as markupsafe does). */
int vial__tr_escape_into(vial__buf *b, const char *s, size_t n);
/* A jansson value → template value (borrowed). */
vial__tval vial__tv_from_json(json_t *j);
/* The same for an element of a list or dict: safe when the render stored
 * it from a safe string. */
vial__tval vial__tr_from_json(const vial__trender *r, json_t *j);
/* A template value → new jansson reference to store in a list, keeping a
 * safe string's mark; NULL once the render has failed. */
json_t *vial__tr_to_json(vial__trender *r, uint32_t pos, const vial__tval *v);
/* Drops what the render holds for safe strings (at its end). */
void vial__tr_safe_free(vial__trender *r);
/* A template value → new jansson reference (NULL on OOM; undefined → null). */
json_t *vial__tv_to_json(const vial__tval *v);
bool vial__tv_truthy(const vial__tval *v);
/* A number as Python sees it (bools are ints); false for other types. */
bool vial__tv_num(const vial__tval *v, bool *is_int, int64_t *i, double *d);
/* Python's ==. */
bool vial__tv_equal(const vial__tval *a, const vial__tval *b);
/* Python's <, for sorting: -1/0/1, or 2 when the types cannot be ordered. */
int vial__tv_compare(const vial__tval *a, const vial__tval *b, bool casefold);
const char *vial__tv_type_name(const vial__tval *v);
/* Copies bytes into a new arena string value. */
int vial__tr_strval(vial__trender *r, uint32_t pos, const char *p, size_t n, bool safe,
                    vial__tval *out);
/* Length in code points (invalid bytes count one each). */
size_t vial__utf8_len(const char *s, size_t n);
/* Byte length of the code point starting at s[0] (1 for an invalid byte). */
size_t vial__utf8_step(const char *s, size_t n);

/* ------------------------------------------------------------------ filters and tests */

#define VIAL__TF_MAX_PARAMS 4

typedef struct vial__tfilter_def {
    const char *name;
    vial__tfilter_fn fn;
    const char *params[VIAL__TF_MAX_PARAMS]; /* names, in positional order */
    int nparams, nrequired;
} vial__tfilter_def;

typedef struct vial__ttest_def {
    const char *name;
    int nargs; /* 0 or 1 */
    int (*fn)(vial__trender *r, const vial__texpr *x, const vial__tval *v, const vial__tval *a,
              bool *result);
} vial__ttest_def;

const vial__tfilter_def *vial__tpl_filter_find(const char *name, size_t n);
const vial__ttest_def *vial__tpl_test_find(const char *name, size_t n);
const vial__ttest_def *vial__tpl_test_at(int id);

#endif /* VIAL_TPL_IMPL_H */
