/*
 * tpl.h — what the template module offers the others: compiling and
 * rendering a template outside the public vial_render() calls, and the
 * render limits (the fuzz target tightens them).  The public API
 * (vial_render, vial_template_render_malloc, filters) is in vial.h.
 */
#ifndef VIAL_TPL_H
#define VIAL_TPL_H

#include "../core/core.h"

typedef struct vial__tpl vial__tpl;       /* a compiled template, reference-counted */
typedef struct vial__tplmod vial__tplmod; /* the module's state on an app */

/*
 * Limits that make hostile or broken templates fail cleanly instead of
 * crashing or hanging a worker.
 */
typedef struct vial__tpl_limits {
    size_t max_output;   /* bytes rendered (default 64 MiB) */
    size_t max_memory;   /* temporaries of one render (default 128 MiB) */
    uint64_t max_steps;  /* nodes, expressions, loop iterations (default 20M) */
    int max_calls;       /* include/extends nesting (default 16) */
    int max_depth;       /* recursion of the renderer overall (default 400) */
} vial__tpl_limits;

/* The module state of `app`, created on first use (NULL when out of memory). */
vial__tplmod *vial__tplmod_get(vial_app *app);
/* Its render limits, to change before rendering. */
vial__tpl_limits *vial__tplmod_limits(vial__tplmod *m);

/*
 * Compiles `src` (copied) into a template named `name`.  Returns NULL and a
 * "name:line:col: message" in `err` on a syntax error (*code = VIAL_EPARSE)
 * or out of memory (*code = VIAL_ENOMEM).  The result has one reference.
 */
vial__tpl *vial__tpl_compile(vial__tplmod *m, const char *name, const char *src, size_t len,
                             char *err, size_t errlen, int *code);
void vial__tpl_release(vial__tpl *t);

/*
 * Renders `t` with `ctx` (a jansson object or NULL; borrowed) appending to
 * `out`; `req` may be NULL (url_for is then unavailable).  Returns 0, or a
 * VIAL_E* code with the message in `err`.
 */
int vial__tpl_render(vial__tplmod *m, vial_req *req, const vial__tpl *t, json_t *ctx,
                     vial__buf *out, char *err, size_t errlen);

#endif /* VIAL_TPL_H */
