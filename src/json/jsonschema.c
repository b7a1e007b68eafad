/*
 * jsonschema.c — validation schemas (vial_schema, vial_field) written as
 * JSON Schema, the 2020-12 dialect OpenAPI 3.1 uses.
 *
 * The API document shows a route's body and query rules as the very
 * structs the handler validates with, so the two cannot drift apart; this
 * file is the translation.  It says what schema.c checks, no more: a
 * field's `check` callback has no JSON Schema form and is left out.
 *
 * Schemas may be shared and may be recursive (a tree whose nodes hold
 * nodes).  A named schema (vial__jsdefs_name) becomes one definition that
 * every use references; an unnamed one is written inline, unless it turns
 * out to contain itself — then it is given a generated name when the
 * recursion is met, and its outermost use becomes a reference too, so the
 * translation always ends.
 */
#include "json.h"

#include <stdlib.h>

/* The entry of `s` in the table, or -1. */
static ptrdiff_t find(const vial__jsdefs *d, const vial_schema *s)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->tab[i].s == s)
            return (ptrdiff_t)i;
    return -1;
}

static bool name_taken(const vial__jsdefs *d, const char *name)
{
    if (json_object_get(d->defs, name))
        return true;
    for (size_t i = 0; i < d->n; i++)
        if (d->tab[i].name && !strcmp(d->tab[i].name, name))
            return true;
    return false;
}

/* A component name OpenAPI accepts (^[A-Za-z0-9._-]+$), unique in `d`:
 * "User", "User2", ...  malloc'd, NULL when out of memory. */
static char *unique_name(const vial__jsdefs *d, const char *want)
{
    size_t n = want && *want ? strlen(want) : 0;
    if (n > 100)
        n = 100;
    char base[104];
    if (!n) {
        memcpy(base, "Schema", sizeof "Schema");
    } else {
        for (size_t i = 0; i < n; i++) {
            char c = want[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
            base[i] = ok ? c : '_';
        }
        base[n] = '\0';
    }
    char buf[128];
    snprintf(buf, sizeof buf, "%s", base);
    for (unsigned k = 2; name_taken(d, buf); k++)
        snprintf(buf, sizeof buf, "%s%u", base, k);
    return strdup(buf);
}

static json_t *ref_to(const vial__jsdefs *d, const char *name)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", d->ref_prefix, name);
    return json_pack("{s:s}", "$ref", buf);
}

void vial__jsdefs_init(vial__jsdefs *d, json_t *defs, const char *ref_prefix)
{
    memset(d, 0, sizeof *d);
    d->defs = defs;
    d->ref_prefix = ref_prefix;
}

void vial__jsdefs_fini(vial__jsdefs *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->tab[i].name);
    free(d->tab);
    d->tab = NULL;
    d->n = d->cap = 0;
}

/* Sets key to a new reference `v` in `o`; a NULL `v` (out of memory) is
 * counted as a failure of the whole translation. */
static void put(vial__jsdefs *d, json_t *o, const char *key, json_t *v)
{
    if (!v || json_object_set_new(o, key, v))
        d->oom = true;
}

static json_t *object_body(vial__jsdefs *d, const vial_schema *s)
{
    json_t *o = json_object(), *props = json_object(), *req = json_array();
    if (!o || !props || !req) {
        json_decref(o);
        json_decref(props);
        json_decref(req);
        d->oom = true;
        return NULL;
    }
    put(d, o, "type", json_string("object"));
    ptrdiff_t i = find(d, s);
    if (i >= 0 && d->tab[i].doc)
        put(d, o, "description", json_string(d->tab[i].doc));
    for (const vial_field *f = s->fields; f && f->name; f++) {
        if (json_object_get(props, f->name))
            continue; /* named twice: vial_validate refuses the schema anyway */
        put(d, props, f->name, vial__jsonschema_field(d, f, true));
        if ((f->flags & VIAL_REQUIRED) && json_array_append_new(req, json_string(f->name)))
            d->oom = true;
    }
    put(d, o, "properties", props);
    if (json_array_size(req))
        put(d, o, "required", req);
    else
        json_decref(req);
    if (s->flags & VIAL_SCHEMA_STRICT)
        put(d, o, "additionalProperties", json_false());
    return o;
}

static ptrdiff_t add_entry(vial__jsdefs *d, const vial_schema *s)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        void *t = realloc(d->tab, cap * sizeof *d->tab);
        if (!t)
            return -1;
        d->tab = t;
        d->cap = cap;
    }
    d->tab[d->n] = (struct vial__jsdef){ .s = s };
    return (ptrdiff_t)d->n++;
}

int vial__jsdefs_name(vial__jsdefs *d, const vial_schema *s, const char *name, const char *doc)
{
    if (find(d, s) >= 0)
        return 0;
    ptrdiff_t i = add_entry(d, s);
    if (i < 0)
        return VIAL_ENOMEM;
    d->tab[i].doc = doc;
    if (!(d->tab[i].name = unique_name(d, name))) {
        d->n--;
        return VIAL_ENOMEM;
    }
    return 0;
}

json_t *vial__jsonschema_object(vial__jsdefs *d, const vial_schema *s)
{
    if (!s)
        return json_pack("{s:s}", "type", "object");
    ptrdiff_t i = find(d, s);
    if (i >= 0) {
        if (d->tab[i].name && (d->tab[i].done || d->tab[i].active))
            return ref_to(d, d->tab[i].name);
        if (d->tab[i].active) {
            /* Met inside itself: it needs a name, which its outermost use
             * will define when it finishes. */
            d->tab[i].name = unique_name(d, "Schema");
            if (!d->tab[i].name) {
                d->oom = true;
                return NULL;
            }
            return ref_to(d, d->tab[i].name);
        }
    } else if ((i = add_entry(d, s)) < 0) {
        d->oom = true;
        return NULL;
    }
    d->tab[i].active = true;
    json_t *body = object_body(d, s); /* may grow the table: index, not pointer */
    d->tab[i].active = false;
    if (!body || !d->tab[i].name)
        return body;
    if (json_object_set_new(d->defs, d->tab[i].name, body))
        d->oom = true;
    d->tab[i].done = true;
    return ref_to(d, d->tab[i].name);
}

/* A count bound as JSON Schema wants it: a non-negative integer. */
static json_t *count(double x)
{
    return json_integer(x <= 0 ? 0 : x >= 0x1p53 ? (json_int_t)1 << 53 : (json_int_t)x);
}

/* NULLABLE: "null" joins the types (and the enum); a reference is wrapped. */
static json_t *nullable(vial__jsdefs *d, json_t *base)
{
    json_t *type = json_object_get(base, "type");
    if (json_is_string(type)) {
        put(d, base, "type", json_pack("[O,s]", type, "null"));
        json_t *e = json_object_get(base, "enum");
        if (e && json_array_append_new(e, json_null()))
            d->oom = true;
        return base;
    }
    if (json_object_get(base, "$ref")) {
        json_t *w = json_pack("{s:[o,{s:s}]}", "anyOf", base, "type", "null");
        if (!w)
            d->oom = true;
        return w;
    }
    return base; /* ANY: null is already fine */
}

json_t *vial__jsonschema_field(vial__jsdefs *d, const vial_field *f, bool with_doc)
{
    json_t *o = NULL;
    bool bounded = f->min != 0 || f->max != 0;
    switch (f->type) {
    case VIAL_F_ANY:
        o = json_object();
        break;
    case VIAL_F_STRING:
        o = json_pack("{s:s}", "type", "string");
        if (o && bounded) {
            if (f->min > 0)
                put(d, o, "minLength", count(f->min));
            if (f->max > 0)
                put(d, o, "maxLength", count(f->max));
        }
        if (o && (f->flags & VIAL_NONEMPTY))
            put(d, o, "pattern", json_string("[^ \\t\\n\\r]")); /* schema.c's blanks */
        if (o && f->one_of) {
            json_t *e = json_array();
            for (const char *const *v = f->one_of; e && *v; v++)
                if (json_array_append_new(e, json_string(*v)))
                    d->oom = true;
            put(d, o, "enum", e);
        }
        break;
    case VIAL_F_INT:
    case VIAL_F_NUMBER:
        o = json_pack("{s:s}", "type", f->type == VIAL_F_INT ? "integer" : "number");
        if (o && f->type == VIAL_F_INT)
            put(d, o, "format", json_string("int64"));
        if (o && bounded) { /* schema.c checks both bounds once either is set */
            put(d, o, "minimum", json_real(f->min));
            if (vial__num_has_max(f))
                put(d, o, "maximum", json_real(f->max));
        }
        break;
    case VIAL_F_BOOL:
        o = json_pack("{s:s}", "type", "boolean");
        break;
    case VIAL_F_TIMESTAMP:
        o = json_pack("{s:s,s:s}", "type", "string", "format", "date-time");
        break;
    case VIAL_F_OBJECT:
        o = vial__jsonschema_object(d, f->schema);
        break;
    case VIAL_F_ARRAY: {
        o = json_pack("{s:s}", "type", "array");
        if (!o)
            break;
        if (f->schema)
            put(d, o, "items", vial__jsonschema_object(d, f->schema));
        else if (f->items)
            put(d, o, "items", vial__jsonschema_field(d, f->items, true));
        if (bounded) {
            if (f->min > 0)
                put(d, o, "minItems", count(f->min));
            if (f->max > 0)
                put(d, o, "maxItems", count(f->max));
        }
        break;
    }
    }
    if (!o) {
        d->oom = true;
        return NULL;
    }
    if (f->flags & VIAL_NULLABLE)
        o = nullable(d, o);
    if (o && with_doc && f->doc)
        put(d, o, "description", json_string(f->doc));
    return o;
}

json_t *vial_schema_jsonschema(const vial_schema *schema)
{
    if (!schema)
        return NULL;
    json_t *defs = json_object();
    if (!defs)
        return NULL;
    vial__jsdefs d;
    vial__jsdefs_init(&d, defs, "#/$defs/");
    json_t *root = vial__jsonschema_object(&d, schema);
    vial__jsdefs_fini(&d);
    if (!root || d.oom) {
        json_decref(root);
        json_decref(defs);
        return NULL;
    }
    /* A named root is a reference to its definition: keep the document's
     * root self-contained, with the definitions beside it. */
    json_t *out = json_pack("{s:s}", "$schema", "https://json-schema.org/draft/2020-12/schema");
    if (!out || json_object_update(out, root)) {
        json_decref(out);
        json_decref(root);
        json_decref(defs);
        return NULL;
    }
    json_decref(root);
    if (json_object_size(defs)) {
        if (json_object_set_new(out, "$defs", defs)) {
            json_decref(out);
            return NULL;
        }
    } else {
        json_decref(defs);
    }
    return out;
}
