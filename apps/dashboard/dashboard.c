/*
 * dashboard.c — the pages of vial-server: log in, register, log out (a
 * session cookie), the account page, and the logs explorer (filters by
 * user, type and time range, a paged table, a chart of events over time by
 * type), and the music catalogue's page (/music: search, random songs,
 * charts, playlists — static/js/music.js over the music blueprint's API).
 *
 * The pages are server-rendered templates and work without JavaScript; only
 * the chart and the live mode need it (static/js/explorer.js fetches
 * /explorer/stats and draws with Chart.js, which `make` copies from npm
 * into static/vendor/; its live mode reads /explorer/live, the logs' live
 * tail as Server-Sent Events, and puts each new log at the top of the
 * table).
 * Accounts and log queries come from the users and logs blueprints
 * (users_create, users_authenticate, logs_page, logs_stats), so the rules
 * — password policy, login backoff, validation — are the API's own.
 */
#include "dashboard.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "logs/logs.h"
#include "users/users.h"

/* Who is logged in, found once per request by the blueprint's before-hook
 * (load_user): a template object, or NULL (none, or a deleted account). */
#define USER_KEY "dashboard.user"

static void user_free(void *u)
{
    json_decref(u);
}

/* Before every dashboard route.  A session or an account that cannot be
 * read because Redis (session_store = server) or the database is down is a
 * 503: answering as if nobody were logged in would send a logged-in user
 * to the login page, and hand out a form whose CSRF token was never stored. */
static int load_user(vial_req *req)
{
    json_t *s = vial_session(req);
    if (!s) {
        vial_abort(req, 503, "the session store is unavailable; try again shortly");
        vial_set_header(req, "Retry-After", "1");
        return 0;
    }
    json_t *uid = json_object_get(s, "uid");
    if (!json_is_integer(uid))
        return 0;
    users_account a;
    int rc = users_get(req, (int64_t)json_integer_value(uid), &a);
    if (rc == VIAL_ENOENT) {
        json_object_del(s, "uid"); /* the account is gone: so is the login */
        return 0;
    }
    if (rc) {
        if (!vial_responded(req))
            vial_db_unavailable(req);
        return 0;
    }
    json_t *u = json_pack("{s:I,s:s,s:s,s:s}", "id", (json_int_t)a.id, "username", a.username, "role", a.role,
                          "created_at", a.created_at);
    if (!u || vial_defer(req, user_free, u)) {
        json_decref(u);
        return VIAL_ENOMEM;
    }
    return vial_set_local(req, USER_KEY, u);
}

/* The logged-in account (a new reference), or NULL. */
static json_t *current_user(vial_req *req)
{
    json_t *u = vial_local(req, USER_KEY);
    return u ? json_incref(u) : NULL;
}

/* Renders `name` with the common context (user, csrf_token) plus `extra`
 * (stolen). */
static int page(vial_req *req, int status, const char *name, json_t *user, json_t *extra)
{
    json_t *ctx = extra ? extra : json_object();
    if (!ctx)
        return vial_abort(req, 503, "out of memory");
    json_object_set_new(ctx, "user", user ? user : json_null());
    const char *csrf = vial_csrf_token(req);
    json_object_set_new(ctx, "csrf_token", json_string(csrf ? csrf : ""));
    vial_set_header(req, "Cache-Control", "no-store");
    return vial_render_take(req, status, name, ctx);
}

static int see_other(vial_req *req, const char *endpoint)
{
    const char *to = vial_url_for(req, endpoint, NULL);
    return vial_redirect(req, 303, to ? to : "/");
}

/* The pages that need a login send the browser to it first. */
static json_t *require_user(vial_req *req)
{
    json_t *u = current_user(req);
    if (!u)
        see_other(req, "dashboard.login_page");
    return u;
}

/* ------------------------------------------------------------------ pages */

static int home(vial_req *req)
{
    json_t *u = current_user(req);
    if (u) {
        json_decref(u);
        return see_other(req, "dashboard.explorer");
    }
    return page(req, 200, "home.html", NULL, NULL);
}

static int login_page(vial_req *req)
{
    return page(req, 200, "login.html", current_user(req), NULL);
}

static int log_in(vial_req *req, int64_t uid)
{
    if (users_session_login(req, uid)) /* a new session for a new login: no fixation */
        return vial_db_unavailable(req);
    return see_other(req, "dashboard.explorer");
}

static int login_post(vial_req *req)
{
    if (users_limit_login(req))
        return 0;
    const char *name = vial_form(req, "username"), *pw = vial_form(req, "password");
    if (!name || !pw || !*name || !*pw)
        return page(req, 400, "login.html", NULL,
                    json_pack("{s:s,s:s}", "error", "Enter your username and password.", "username", name ? name : ""));
    int64_t uid = 0, retry = 0;
    int st = users_authenticate(req, name, pw, &uid, &retry);
    if (st == 0)
        return log_in(req, uid);
    const char *msg = st == 401 ? "Wrong username or password."
                      : st == 429 ? vial_sprintf(req, "Too many failed attempts: wait %lld s and try again.",
                                                 (long long)retry)
                                  : "The service is unavailable; try again shortly.";
    if (st == 429) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)retry);
        vial_set_header(req, "Retry-After", ra);
    }
    return page(req, st, "login.html", NULL, json_pack("{s:s,s:s}", "error", msg, "username", name));
}

static int register_page(vial_req *req)
{
    return page(req, 200, "register.html", current_user(req), NULL);
}

static int register_post(vial_req *req)
{
    if (users_limit_register(req))
        return 0;
    const char *name = vial_form(req, "username"), *pw = vial_form(req, "password"),
               *again = vial_form(req, "password2");
    if (!name || !pw)
        return page(req, 400, "register.html", NULL, json_pack("{s:s}", "error", "Fill in every field."));
    if (again && strcmp(pw, again))
        return page(req, 400, "register.html", NULL,
                    json_pack("{s:s,s:s}", "error", "The two passwords differ.", "username", name));
    int64_t uid = 0;
    const char *why = NULL;
    int st = users_create(req, name, pw, &uid, &why);
    if (st)
        return page(req, st, "register.html", NULL, json_pack("{s:s,s:s}", "error", why, "username", name));
    return log_in(req, uid);
}

static int logout(vial_req *req)
{
    vial_session_clear(req);
    return see_other(req, "dashboard.login_page");
}

static int me(vial_req *req)
{
    json_t *u = require_user(req);
    if (!u)
        return 0;
    return page(req, 200, "me.html", u, NULL);
}

/* A filter value from the query string, NULL when absent or blank. */
static const char *arg(vial_req *req, const char *name)
{
    const char *v = vial_arg(req, name);
    return v && *v ? v : NULL;
}

static int explorer(vial_req *req)
{
    json_t *u = require_user(req);
    if (!u)
        return 0;
    const char *user = arg(req, "user"), *type = arg(req, "type"), *start = arg(req, "start"),
               *end = arg(req, "end"), *after = arg(req, "after");
    json_t *rows = NULL;
    const char *next = NULL, *why = NULL;
    int st = 0;
    if ((start && !end) || (end && !start)) {
        st = 400;
        why = "Give both ends of the time range (or neither).";
    } else {
        st = logs_page(req, user, type, start, end, "50", after, &rows, &next, &why);
    }
    json_t *filters = json_pack("{s:s,s:s,s:s,s:s}", "user", user ? user : "", "type", type ? type : "",
                                "start", start ? start : "", "end", end ? end : "");
    json_t *ctx = json_pack("{s:o,s:o*,s:s?,s:s?,s:b}", "filters", filters, "rows", rows, "next", next,
                            "error", st ? why : NULL, "paged", after != NULL);
    if (next && ctx) /* this page's URL with the next cursor: the filters stay */
        json_object_set_new(ctx, "next_url", json_string(vial_page_url(req, 0, next)));
    return page(req, st == 503 ? 503 : st ? 400 : 200, "explorer.html", u, ctx);
}

static int stats(vial_req *req)
{
    json_t *u = current_user(req);
    if (!u)
        return vial_abort(req, 401, "log in first");
    json_decref(u);
    const char *start = arg(req, "start"), *end = arg(req, "end");
    if ((start && !end) || (end && !start))
        return vial_abort(req, 400, "give both ends of the time range (or neither)");
    json_t *out = NULL;
    const char *why = NULL;
    int st = logs_stats(req, arg(req, "user"), arg(req, "type"), start, end, &out, &why);
    if (st)
        return vial_abort(req, st, why);
    return vial_json_take(req, 200, out);
}

/* The music catalogue's page: a client of the music blueprint's JSON API
 * (static/js/music.js).  Open to everyone, like the API's reads; the
 * playlists part shows for a logged-in user, whose session and CSRF token
 * the page's requests carry. */
static int music(vial_req *req)
{
    return page(req, 200, "music.html", current_user(req), NULL);
}

/* The chat (apps/chat): the page only; static/js/chat.js speaks the
 * WebSocket protocol of /ws/chat.  A logged-in user chats under their
 * username (the WebSocket handshake carries the session cookie); anyone
 * else picks a display name on the page. */
static int chat_page(vial_req *req)
{
    return page(req, 200, "chat.html", current_user(req), NULL);
}

/* The explorer's live mode (static/js/explorer.js): the logs' live tail
 * for the logged-in user, with the page's user and type filters. */
static int live(vial_req *req)
{
    json_t *u = current_user(req);
    if (!u)
        return vial_abort(req, 401, "log in first");
    json_decref(u);
    return logs_live(req, arg(req, "user"), arg(req, "type"));
}

/* The pages live in the dashboard's own folder (the dashboard_templates
 * setting), searched after the app's templates_dir, so a deployment can
 * override a page without touching these.  Pages without their templates
 * would each be a 500: refuse to start instead. */
static vial_bp *dashboard_bp;

static int dashboard_start(vial_app *app)
{
    const char *dir = vial_config(app, "dashboard_templates");
    char path[4096];
    snprintf(path, sizeof path, "%s/base.html", dir);
    if (access(path, R_OK) != 0) {
        vial_log(VIAL_LOG_ERROR,
                 "dashboard: no templates in '%s' (dashboard_templates): run from the source tree, "
                 "`make install`, or set dashboard_templates",
                 dir);
        return VIAL_EINVAL;
    }
    return vial_template_folder(dashboard_bp, dir);
}

/* ------------------------------------------------------------------ the API document */

/* The pages are for browsers: HTML, forms with a CSRF token, a session
 * cookie.  The document lists them so every route is described. */
static const vial_field login_form_f[] = {
    VIAL_FIELD("username", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("password", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("csrf_token", VIAL_F_STRING, VIAL_REQUIRED, .doc = "the token of the page's form"),
    VIAL_FIELD_END,
};
static const vial_schema login_form = { login_form_f, 0 };
static const vial_field register_form_f[] = {
    VIAL_FIELD("username", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("password", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("password2", VIAL_F_STRING, 0, .doc = "the password again"),
    VIAL_FIELD("csrf_token", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema register_form = { register_form_f, 0 };
static const vial_field csrf_form_f[] = {
    VIAL_FIELD("csrf_token", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema csrf_form = { csrf_form_f, 0 };
static const vial_field filters_q[] = {
    VIAL_FIELD("user", VIAL_F_STRING, 0, .doc = "only this userId"),
    VIAL_FIELD("type", VIAL_F_STRING, 0, .doc = "only this log type"),
    VIAL_FIELD("start", VIAL_F_TIMESTAMP, 0, .doc = "with end: from this instant"),
    VIAL_FIELD("end", VIAL_F_TIMESTAMP, 0, .doc = "with start: to this instant"),
    VIAL_FIELD("after", VIAL_F_STRING, 0, .doc = "the next page's cursor"),
    VIAL_FIELD_END,
};
static const vial_field live_q[] = {
    VIAL_FIELD("user", VIAL_F_STRING, 0, .doc = "only this userId"),
    VIAL_FIELD("type", VIAL_F_STRING, 0, .doc = "only this log type"),
    VIAL_FIELD_END,
};
static const vial_field stats_f[] = {
    VIAL_FIELD("from_ms", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("to_ms", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("bucket_ms", VIAL_F_INT, VIAL_REQUIRED, .doc = "about 60 buckets, whole seconds"),
    VIAL_FIELD("series", VIAL_F_OBJECT, VIAL_REQUIRED,
               .doc = "by log type: an array of [bucket start ms, count] points"),
    VIAL_FIELD_END,
};
static const vial_schema stats_schema = { stats_f, 0 };

#define R_HTML(st, what) { st, what, NULL, NULL, "text/html" }
#define R_SEE(what) { 303, what, NULL, NULL, NULL }
#define R_END { 0, NULL, NULL, NULL, NULL }
static const vial_doc home_doc = {
    .summary = "Home page",
    .responses = (const vial_response_doc[]){ R_HTML(200, "the welcome page"),
                                              R_SEE("signed in: to the explorer"), R_END },
    .security = "",
};
static const vial_doc login_page_doc = {
    .summary = "Sign-in form",
    .responses = (const vial_response_doc[]){ R_HTML(200, "the form"), R_END },
    .security = "",
};
static const vial_doc login_post_doc = {
    .summary = "Sign in (form)",
    .description = "On success a new session cookie and a redirect to the explorer. The API's "
                   "password checks, login backoff and rate limit apply.",
    .body = &login_form,
    .body_type = "application/x-www-form-urlencoded",
    .responses = (const vial_response_doc[]){
        R_SEE("signed in: to the explorer"), R_HTML(400, "a field is missing"),
        R_HTML(401, "wrong username or password"), { 403, "no valid CSRF token", NULL, NULL, NULL },
        R_HTML(429, "too many failed attempts (Retry-After)"), R_END },
    .security = "",
};
static const vial_doc register_page_doc = {
    .summary = "Registration form",
    .responses = (const vial_response_doc[]){ R_HTML(200, "the form"), R_END },
    .security = "",
};
static const vial_doc register_post_doc = {
    .summary = "Create an account and sign in (form)",
    .body = &register_form,
    .body_type = "application/x-www-form-urlencoded",
    .responses = (const vial_response_doc[]){
        R_SEE("registered and signed in: to the explorer"),
        R_HTML(400, "a field is missing, the passwords differ or a rule is broken"),
        { 403, "no valid CSRF token", NULL, NULL, NULL },
        R_HTML(409, "the username is taken"), R_END },
    .security = "",
};
static const vial_doc logout_doc = {
    .summary = "Sign out (form)",
    .body = &csrf_form,
    .body_type = "application/x-www-form-urlencoded",
    .responses = (const vial_response_doc[]){ R_SEE("signed out: to the sign-in form"),
                                              { 403, "no valid CSRF token", NULL, NULL, NULL }, R_END },
    .security = "",
};
static const vial_doc me_doc = {
    .summary = "Account page",
    .responses = (const vial_response_doc[]){ R_HTML(200, "the signed-in account"),
                                              R_SEE("not signed in: to the sign-in form"), R_END },
    .security = "session",
};
static const vial_doc explorer_doc = {
    .summary = "Logs explorer page",
    .description = "Filters, a paged table (50 a page) and a chart of events over time by type.",
    .query = filters_q,
    .responses = (const vial_response_doc[]){
        R_HTML(200, "the page"), R_HTML(400, "a bad filter (the page says which)"),
        R_SEE("not signed in: to the sign-in form"), R_END },
    .security = "session",
};
static const vial_doc stats_doc = {
    .summary = "The explorer's chart data",
    .query = filters_q,
    .responses = (const vial_response_doc[]){
        { 200, "counts of logs by type over about 60 time buckets", &stats_schema, NULL, NULL },
        { 400, "a bad filter", NULL, NULL, NULL },
        { 401, "not signed in", NULL, NULL, NULL }, R_END },
    .security = "session",
};
static const vial_doc live_doc = {
    .summary = "The explorer's live mode (Server-Sent Events)",
    .description = "The logs' live tail (as GET /logs/stream) for the signed-in user.",
    .query = live_q,
    .responses = (const vial_response_doc[]){
        { 200, "an event stream of `log` events", NULL, NULL, "text/event-stream" },
        { 401, "not signed in", NULL, NULL, NULL }, R_END },
    .security = "session",
};

static const vial_doc music_doc = {
    .summary = "Music catalogue page",
    .description = "Search with filters, random songs, features by year, a histogram and a scatter, and the "
                   "signed-in user's playlists: a client of the music blueprint's JSON API under /api (static/js/music.js).",
    .responses = (const vial_response_doc[]){ R_HTML(200, "the page"), R_END },
    .security = "",
};

static const vial_doc chat_doc = {
    .summary = "Chat page",
    .description = "Channels and their messages, live: a client of the WebSocket protocol of /ws/chat "
                   "(static/js/chat.js).  A signed-in user chats under their username, anyone else "
                   "picks a display name.",
    .responses = (const vial_response_doc[]){ R_HTML(200, "the page"), R_END },
    .security = "",
};

int dashboard_register(vial_app *app)
{
    int rc = vial_session_init(app);
    if (!rc)
        rc = vial_config_define(app, "dashboard_templates", "apps/dashboard/templates",
                                "directory of the dashboard's pages (searched after templates_dir)");
    if (!rc)
        rc = vial_on_start(app, dashboard_start);
    if (rc)
        return rc;
    vial_bp *bp = vial_bp_new("dashboard");
    if (!bp)
        return VIAL_ENOMEM;
    static const vial_route_def routes[] = {
        VIAL_ROUTE(VIAL_GET, "/", home, "home", &home_doc),
        VIAL_ROUTE(VIAL_GET, "/login", login_page, "login_page", &login_page_doc),
        VIAL_ROUTE(VIAL_POST, "/login", login_post, "login_post", &login_post_doc),
        VIAL_ROUTE(VIAL_GET, "/register", register_page, "register_page", &register_page_doc),
        VIAL_ROUTE(VIAL_POST, "/register", register_post, "register_post", &register_post_doc),
        VIAL_ROUTE(VIAL_POST, "/logout", logout, "logout", &logout_doc),
        VIAL_ROUTE(VIAL_GET, "/me", me, "me", &me_doc),
        VIAL_ROUTE(VIAL_GET, "/explorer", explorer, "explorer", &explorer_doc),
        VIAL_ROUTE(VIAL_GET, "/explorer/stats", stats, "stats", &stats_doc),
        VIAL_ROUTE(VIAL_GET, "/explorer/live", live, "live", &live_doc),
        VIAL_ROUTE(VIAL_GET, "/music", music, "music", &music_doc),
        VIAL_ROUTE(VIAL_GET, "/chat", chat_page, "chat_page", &chat_doc),
        VIAL_ROUTE_END,
    };
    rc |= vial_route_table(bp, routes);
    rc |= vial_bp_describe(bp, "The browser pages: sign-in, registration, the account, the logs "
                               "explorer, the music catalogue and the chat (HTML, a session cookie, CSRF-protected forms).");
    rc |= vial_before_request(bp, load_user);
    rc |= vial_csrf_protect(bp);
    dashboard_bp = bp; /* the app owns it once registered */
    rc |= vial_register(app, bp, "");
    return rc ? VIAL_EINVAL : 0;
}
