/*
 * notes.c — templates, forms and sessions: a visitor's notes, kept in their session.
 *
 *   SECRET_KEY=$(head -c 32 /dev/urandom | base64) ./build/examples/notes   # from the checkout
 *   then open http://127.0.0.1:5000/
 *
 * Pages come from examples/templates/notes/ (autoescaped Jinja); every form carries the
 * CSRF token; the session is a signed cookie (session_store=server keeps it in Redis or
 * the database instead).
 */
#include <string.h>
#include <vial.h>

/* The page, with an error and the refused input to show again (both may be NULL). */
static int page(vial_req *req, int status, const char *error, const char *draft)
{
    json_t *s = vial_session(req); /* a JSON object, saved with the response if changed */
    if (!s)
        return vial_abort(req, 503, "session store unavailable");
    json_t *notes = json_object_get(s, "notes");
    return vial_render_take(req, status, "notes/index.html",
                            json_pack("{s:O?, s:o, s:s?, s:s?, s:s?}",
                                      "name", json_object_get(s, "name"),
                                      "notes", notes ? json_incref(notes) : json_array(),
                                      "csrf_token", vial_csrf_token(req),
                                      "error", error, "draft", draft));
}

static int home(vial_req *req)
{
    return page(req, 200, NULL, NULL);
}

/* A form field that is 1..max characters of UTF-8, or NULL. */
static const char *field(vial_req *req, const char *name, size_t max)
{
    const char *v = vial_form(req, name);
    size_t n = v ? strlen(v) : 0, chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)v[i] & 0xC0) != 0x80; /* UTF-8 lead bytes */
    return n && chars <= max && vial_utf8_valid(v, n) ? v : NULL;
}

static int login(vial_req *req)
{
    const char *name = field(req, "name", 40);
    if (!name)
        return page(req, 400, "Tell me your name (1 to 40 characters).", NULL);
    vial_session_rotate(req); /* a new session id for a new identity: no fixation */
    json_object_set_new(vial_session(req), "name", json_string(name));
    return vial_redirect(req, 303, vial_url_for(req, "home", NULL));
}

static int add_note(vial_req *req)
{
    json_t *s = vial_session(req);
    if (!s || !json_object_get(s, "name"))
        return vial_redirect(req, 303, vial_url_for(req, "home", NULL));
    const char *note = field(req, "note", 100);
    if (!note)
        return page(req, 400, "A note is 1 to 100 characters.", vial_form(req, "note"));
    json_t *notes = json_object_get(s, "notes");
    if (!json_is_array(notes))
        json_object_set_new(s, "notes", notes = json_array());
    json_array_append_new(notes, json_string(note));
    while (json_array_size(notes) > 5) /* a cookie holds about 4 KB: session_store=server for more */
        json_array_remove(notes, 0);
    return vial_redirect(req, 303, vial_url_for(req, "home", NULL)); /* POST, redirect, GET */
}

static int logout(vial_req *req)
{
    vial_session_clear(req);
    return vial_redirect(req, 303, vial_url_for(req, "home", NULL));
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("notes");
    vial_session_init(app);                        /* needs SECRET_KEY (or --debug) */
    vial_template_folder(app, "examples/templates");
    vial_csrf_protect(vial_app_bp(app));           /* POSTs without the token: 403 */
    vial_get(app, "/", home);
    vial_post(app, "/login", login);
    vial_post(app, "/notes", add_note);
    vial_post(app, "/logout", logout);
    return vial_main(app, argc, argv);
}
