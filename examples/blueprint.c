/*
 * blueprint.c — an app in blueprints: pages at /, a JSON API at /api with its own hooks and
 * error pages, and an admin part nested in it, guarded by a before-hook.
 *
 *   ./build/examples/blueprint                      # --admin-token to change the token
 *   ./build/examples/blueprint routes               # endpoints are "api.get_item", ...
 *   curl localhost:5000/api/items/2
 *   curl localhost:5000/api/items/9                 # 404 in the API's own error shape
 *   curl -X DELETE localhost:5000/api/admin/items/1 -H 'X-Admin-Token: let-me-in'
 */
#include <stdatomic.h>
#include <string.h>
#include <vial.h>

static const char *items[] = { "apple", "pear", "plum" };
static atomic_int gone[3]; /* deleted by the admin; workers are threads (todo.c has a database) */
#define NITEMS (int64_t)(sizeof items / sizeof *items)

/* ---- pages: the root blueprint */
static int home(vial_req *req)
{
    return vial_html(req, 200, vial_sprintf(req, "<a href=\"%s\">the items, as JSON</a>",
                                            vial_url_for(req, "api.list_items", NULL)));
}

/* ---- api: /api */
static int list_items(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_array(w);
    for (int64_t i = 0; i < NITEMS; i++)
        if (!gone[i])
            vial_jw_str(w, vial_url_for(req, "api.get_item", "id", vial_sprintf(req, "%d", (int)i + 1), NULL));
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int get_item(vial_req *req)
{
    int64_t id = vial_param_int(req, "id");
    if (id < 1 || id > NITEMS || gone[id - 1])
        return vial_abort(req, 404, "no such item");
    return vial_json_take(req, 200, json_pack("{s:I, s:s}", "id", (json_int_t)id, "name", items[id - 1]));
}

static int api_version(vial_req *req) /* after-hook: on every /api response */
{
    return vial_set_header(req, "X-API-Version", "1");
}

/* The API's errors, its own way (the root's stay the built-in JSON or HTML pages). */
static int api_error(vial_req *req, int status, const char *message)
{
    return vial_json_take(req, status, json_pack("{s:i, s:s, s:s}", "status", status, "detail",
                                                 message, "see", vial_url_for(req, "home", NULL)));
}

/* ---- admin: /api/admin, nested in api */
static int check_token(vial_req *req) /* before-hook: answering here skips the view */
{
    const char *sent = vial_header(req, "X-Admin-Token");
    const char *token = vial_config(vial_app_of(req), "admin_token");
    if (!sent || strlen(sent) != strlen(token) || !vial_equal_ct(sent, token, strlen(token)))
        return vial_abort(req, 403, "admins only");
    return 0;
}

static int delete_item(vial_req *req)
{
    int64_t id = vial_param_int(req, "id");
    if (id < 1 || id > NITEMS)
        return vial_abort(req, 404, "no such item");
    gone[id - 1] = 1;
    return vial_no_content(req);
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("blueprint");
    vial_config_define(app, "admin_token", "let-me-in", "the X-Admin-Token of /api/admin");
    vial_get(app, "/", home);

    vial_bp *api = vial_bp_new("api");
    vial_get(api, "/items", list_items);
    vial_get(api, "/items/<int:id>", get_item);
    vial_after_request(api, api_version);
    vial_errorhandler(api, 0, api_error); /* every status raised in /api routes */

    vial_bp *admin = vial_bp_new("admin");
    vial_before_request(admin, check_token);
    vial_delete(admin, "/items/<int:id>", delete_item);
    vial_register(api, admin, "/admin");  /* endpoint "api.admin.delete_item" */
    vial_register(app, api, "/api");      /* the app owns both now */
    return vial_main(app, argc, argv);
}
