/*
 * form.c — form bodies: urlencoded fields, multipart/form-data fields and
 * file uploads (RFC 7578), parsed lazily from the request body (held in
 * memory, or mapped from the spool file http.c streamed a multipart body
 * into).
 *
 * The multipart parser works on the whole body at once (it is all there
 * when the handler runs), bounded: at most 1,000 parts, 8 KiB of headers a
 * part, 1 MiB per text field.  File contents are never copied: an upload is
 * an (offset, size) inside the body.
 */
#include "web.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_PARTS 1000
#define MAX_PART_HEADERS 8192
#define MAX_TEXT_FIELD (1 << 20)

typedef struct vial__form vial__form;
struct vial__form {
    vial__arg *fields;
    size_t nfields;
    vial_upload *uploads;
    size_t nuploads;
    const char *error;
};

static const char *param_value(vial_req *req, const char *h, size_t n, const char *name)
{
    /* ...; name="value" or name=value (RFC 7578 4.2, RFC 2183) */
    size_t nl = strlen(name);
    for (size_t i = 0; i + nl < n; i++) {
        if ((i == 0 || h[i - 1] == ';' || h[i - 1] == ' ' || h[i - 1] == '\t') &&
            vial__strneq_ci(h + i, name, nl) && h[i + nl] == '=') {
            const char *v = h + i + nl + 1, *end = h + n;
            if (v < end && *v == '"') {
                const char *q = v + 1;
                while (q < end && *q != '"')
                    q += (*q == '\\' && q + 1 < end) ? 2 : 1;
                return vial_strndup(req, v + 1, (size_t)(q - v - 1));
            }
            const char *e = v;
            while (e < end && *e != ';' && *e != ' ')
                e++;
            return vial_strndup(req, v, (size_t)(e - v));
        }
    }
    return NULL;
}

static const char *basename_of(vial_req *req, const char *f)
{
    const char *b = f;
    for (const char *p = f; *p; p++)
        if (*p == '/' || *p == '\\')
            b = p + 1;
    return vial_strdup(req, b);
}

static void add_field(vial_req *req, vial__form *f, const char *name, const char *v, size_t vn,
                      size_t *cap)
{
    if (f->nfields == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        vial__arg *a = vial_alloc(req, c * sizeof *a);
        if (!a) {
            f->error = "out of memory";
            return;
        }
        if (f->nfields)
            memcpy(a, f->fields, f->nfields * sizeof *a);
        f->fields = a;
        *cap = c;
    }
    f->fields[f->nfields].name = name;
    f->fields[f->nfields].value = vial_strndup(req, v, vn);
    f->nfields++;
}

static void parse_multipart(vial_req *req, vial__form *f, const char *ct)
{
    const char *boundary = param_value(req, ct, strlen(ct), "boundary");
    size_t bl = boundary ? strlen(boundary) : 0;
    if (bl < 1 || bl > 70) {
        f->error = "multipart body without a valid boundary";
        return;
    }
    size_t n;
    const char *body = vial_body(req, &n), *end = body + n;
    char *delim = vial_sprintf(req, "\r\n--%s", boundary);
    size_t dl = bl + 4;
    /* The first delimiter may have no CRLF before it. */
    const char *p;
    if (n >= dl - 2 && !memcmp(body, delim + 2, dl - 2))
        p = body + dl - 2;
    else if ((p = memmem(body, n, delim, dl)))
        p += dl;
    else {
        f->error = "multipart body without its boundary";
        return;
    }
    size_t fcap = 0, ucap = 0, parts = 0;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return; /* the close delimiter: done */
        while (p < end && (*p == ' ' || *p == '\t'))
            p++; /* transport padding */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            f->error = "malformed multipart delimiter";
            return;
        }
        p += 2;
        if (++parts > MAX_PARTS) {
            f->error = "too many multipart parts";
            return;
        }
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend && end - p >= 2 && p[0] == '\r' && p[1] == '\n')
            hend = p - 2; /* a part without headers */
        if (!hend || hend - p > MAX_PART_HEADERS) {
            f->error = "malformed multipart part headers";
            return;
        }
        const char *name = NULL, *filename = NULL, *ptype = "text/plain";
        for (const char *l = p; l < hend;) {
            const char *le = memmem(l, (size_t)(hend - l), "\r\n", 2);
            if (!le)
                le = hend;
            const char *colon = memchr(l, ':', (size_t)(le - l));
            if (colon) {
                const char *v = colon + 1;
                while (v < le && (*v == ' ' || *v == '\t'))
                    v++;
                size_t kn = (size_t)(colon - l);
                if (vial__streq_ci(l, kn, "content-disposition")) {
                    name = param_value(req, v, (size_t)(le - v), "name");
                    filename = param_value(req, v, (size_t)(le - v), "filename");
                } else if (vial__streq_ci(l, kn, "content-type")) {
                    ptype = vial_strndup(req, v, (size_t)(le - v));
                }
            }
            l = le + 2;
        }
        const char *data = hend + 4;
        const char *next = data <= end ? memmem(data, (size_t)(end - data), delim, dl) : NULL;
        if (!next) {
            f->error = "multipart body ends inside a part";
            return;
        }
        size_t dn = (size_t)(next - data);
        if (!name) {
            f->error = "multipart part without a name";
            return;
        }
        if (filename) {
            if (f->nuploads == ucap) {
                size_t c = ucap ? ucap * 2 : 4;
                vial_upload *u = vial_alloc(req, c * sizeof *u);
                if (!u) {
                    f->error = "out of memory";
                    return;
                }
                if (f->nuploads)
                    memcpy(u, f->uploads, f->nuploads * sizeof *u);
                f->uploads = u;
                ucap = c;
            }
            f->uploads[f->nuploads++] = (vial_upload){ name, basename_of(req, filename), ptype, dn,
                                                       (uint64_t)(data - body) };
        } else {
            if (dn > MAX_TEXT_FIELD) {
                f->error = "a multipart text field is larger than 1 MiB";
                return;
            }
            add_field(req, f, name, data, dn, &fcap);
            if (f->error)
                return;
        }
        p = next + dl;
    }
}

static const char form_key = 0;

static vial__form *form_of(vial_req *req)
{
    if (!req)
        return NULL;
    vial__form *f = vial__req_ext(req, &form_key);
    if (f)
        return f;
    if (!(f = vial__req_state(req, &form_key, sizeof *f)))
        return NULL;
    const char *ct = vial_header(req, "content-type");
    if (!ct)
        return f;
    if (vial__strneq_ci(ct, "application/x-www-form-urlencoded", 33)) {
        size_t n;
        const char *b = vial_body(req, &n);
        if (vial__parse_query(&req->m.arena, b, n, &f->fields, &f->nfields))
            f->error = "out of memory";
    } else if (vial__strneq_ci(ct, "multipart/form-data", 19)) {
        parse_multipart(req, f, ct);
    } else {
        f->error = "the body is not a form (urlencoded or multipart/form-data)";
    }
    return f;
}

const char *vial_form(vial_req *req, const char *name)
{
    vial__form *f = form_of(req);
    for (size_t i = 0; f && name && i < f->nfields; i++)
        if (!strcmp(f->fields[i].name, name))
            return f->fields[i].value;
    return NULL;
}

size_t vial_forms(vial_req *req, const char *name, const char **out, size_t max)
{
    vial__form *f = form_of(req);
    size_t n = 0;
    for (size_t i = 0; f && name && i < f->nfields; i++) {
        if (strcmp(f->fields[i].name, name))
            continue;
        if (n < max && out)
            out[n] = f->fields[i].value;
        n++;
    }
    return n;
}

int vial_form_at(vial_req *req, size_t i, const char **name, const char **value)
{
    vial__form *f = form_of(req);
    if (!f || i >= f->nfields)
        return 0;
    if (name)
        *name = f->fields[i].name;
    if (value)
        *value = f->fields[i].value;
    return 1;
}

const char *vial_form_error(vial_req *req)
{
    vial__form *f = form_of(req);
    return f ? f->error : "out of memory";
}

const vial_upload *vial_upload_get(vial_req *req, const char *field)
{
    vial__form *f = form_of(req);
    for (size_t i = 0; f && field && i < f->nuploads; i++)
        if (!strcmp(f->uploads[i].field, field))
            return &f->uploads[i];
    return NULL;
}

const vial_upload *vial_upload_at(vial_req *req, size_t i)
{
    vial__form *f = form_of(req);
    return f && i < f->nuploads ? &f->uploads[i] : NULL;
}

const char *vial_upload_data(vial_req *req, const vial_upload *u)
{
    size_t n;
    const char *b = vial_body(req, &n);
    return u && u->offset + u->size <= n ? b + u->offset : NULL;
}

int vial_upload_save(vial_req *req, const vial_upload *u, const char *path)
{
    size_t n;
    const char *b = vial_body(req, &n);
    if (!u || !path || u->offset + u->size > n)
        return VIAL_EINVAL;
    int out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0)
        return errno == EEXIST ? VIAL_EEXIST : VIAL_EIO;
    int rc = 0;
    uint64_t left = u->size;
    if (req->m.body_fd >= 0) {
        loff_t in_off = (loff_t)u->offset;
        while (left) {
            ssize_t w = copy_file_range(req->m.body_fd, &in_off, out, NULL, left, 0);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break; /* EXDEV/ENOSYS on older kernels: finish with write() */
            left -= (uint64_t)w;
        }
    }
    const char *p = b + u->offset + (u->size - left);
    while (left && !rc) {
        ssize_t w = write(out, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = VIAL_EIO;
        else {
            p += w;
            left -= (uint64_t)w;
        }
    }
    if (close(out) && !rc)
        rc = VIAL_EIO;
    if (rc)
        unlink(path);
    return rc;
}
