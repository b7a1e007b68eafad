/*
 * @NAME@: notes, as a JSON API and as web pages.
 *
 *   GET  /                     the notes and a form to add one (a template)
 *   POST /notes                the form's target (CSRF-protected), then back to /
 *   GET  /api/notes            every note as JSON
 *   GET  /api/notes/<int:id>   one note, 404 in vial's error shape if absent
 *   POST /api/notes            {"text": "..."} -> 201 and the stored note
 *
 * The table comes from migrations/sqlite/0001_notes.sql, applied at start.
 */
#include "app.h"

#include <strings.h>

/* GET /api/notes/<int:id> */
static int get_note(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    vial_rows *r = vial_db_one(req, db, "SELECT id, text, created FROM notes WHERE id = $1",
                               VIAL_ARGS(VIAL_INT(vial_param_int(req, "id"))), "no such note");
    if (!r)
        return 0; /* answered: 404, or the database's error */
    vial_jw *w = vial_jw_begin(req, 200);
    vial_rows_jw_row(r, w);
    return vial_jw_finish(w);
}

/* GET /api/notes */
static int list_notes(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT id, text, created FROM notes ORDER BY id", VIAL_NOARGS);
    if (!r)
        return vial_db_abort(req, db);
    return vial_json_take(req, 200, vial_rows_json(r));
}

static const vial_field note_fields[] = {
    VIAL_FIELD("text", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .max = 1000),
    VIAL_FIELD_END,
};
static const vial_schema note_schema = { note_fields, VIAL_SCHEMA_STRICT };

/* Stores a note; answers with it (201) or with the database's error. */
static int store_note(vial_req *req, const char *text)
{
    vial_db *db = vial_db_get(req);
    vial_rows *r = vial_db_one(req, db,
                               "INSERT INTO notes (text) VALUES ($1) RETURNING id, text, created",
                               VIAL_ARGS(VIAL_TEXT(text)), NULL);
    if (!r)
        return 0;
    vial_jw *w = vial_jw_begin(req, 201);
    vial_rows_jw_row(r, w);
    return vial_jw_finish(w);
}

/* POST /api/notes: a JSON body, validated (400 names the bad fields).
 * Only application/json: a page of another site can make a browser post a
 * form, never JSON, so this route needs no CSRF token. */
static int create_note(vial_req *req)
{
    const char *type = vial_header(req, "content-type");
    if (!type || strncasecmp(type, "application/json", 16) != 0)
        return vial_abort(req, 415, "send the note as application/json");
    json_t *body = vial_body_json_valid(req, &note_schema);
    if (!body)
        return 0;
    return store_note(req, json_string_value(json_object_get(body, "text")));
}

/* GET /: a page rendered from templates/index.html */
static int index_page(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT id, text, created FROM notes ORDER BY id DESC",
                                 VIAL_NOARGS);
    if (!r)
        return vial_db_abort(req, db);
    return vial_render_take(req, 200, "index.html",
                            json_pack("{s:o, s:s}", "notes", vial_rows_json(r),
                                      "csrf_token", vial_csrf_token(req)));
}

/* POST /notes: the form of the page; vial_csrf_protect() checked its token */
static int add_note(vial_req *req)
{
    const char *text = vial_form(req, "text");
    if (!text || !*text)
        return vial_abort(req, 400, "the note is empty");
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    if (vial_db_exec(db, "INSERT INTO notes (text) VALUES ($1)", VIAL_ARGS(VIAL_TEXT(text))) < 0)
        return vial_db_abort(req, db);
    return vial_redirect(req, 303, vial_url_for(req, "pages.index_page", NULL));
}

vial_app *app_create(void)
{
    vial_app *app = vial_app_new("@NAME@");
    if (!app)
        return NULL;
    /* Two blueprints: the pages, whose forms carry a CSRF token (checked on
     * every POST), and the JSON API under /api, which takes
     * application/json only (create_note). */
    vial_bp *pages = vial_bp_new("pages"), *api = vial_bp_new("api");
    if (!pages || !api || vial_db_init(app) || vial_session_init(app) ||
        vial_static(app, "/static", "static") || vial_csrf_protect(pages)) {
        vial_bp_free(pages);
        vial_bp_free(api);
        vial_app_free(app);
        return NULL;
    }
    vial_get(pages, "/", index_page);
    vial_post(pages, "/notes", add_note);
    vial_get(api, "/notes", list_notes);
    vial_post(api, "/notes", create_note);
    vial_get(api, "/notes/<int:id>", get_note);
    if (vial_register(app, pages, "") || vial_register(app, api, "/api")) {
        vial_app_free(app);
        return NULL;
    }
    return app;
}
