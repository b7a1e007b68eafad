/*
 * todo.c — a database and its migrations: a to-do list in SQLite (or PostgreSQL).
 *
 *   ./build/examples/todo                       # data/todo.db, migrations applied at start
 *   ./build/examples/todo migrate               # or apply them explicitly
 *   DATABASE_URL=postgresql://user:pass@localhost/todo ./build/examples/todo
 *   curl -X POST localhost:5000/todos -H 'Content-Type: application/json' -d '{"title": "milk"}'
 *   curl -X PATCH localhost:5000/todos/1 -H 'Content-Type: application/json' -d '{"done": true}'
 *   curl 'localhost:5000/todos?done=false'
 *
 * The schema is examples/migrations/todo/{sqlite,postgresql}/NNNN_name.sql.
 */
#include <string.h>
#include <vial.h>

static const vial_field new_f[] = {
    VIAL_FIELD("title", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .max = 200),
    VIAL_FIELD_END };
static const vial_schema new_todo = { new_f, VIAL_SCHEMA_STRICT };
static const vial_field patch_f[] = {
    VIAL_FIELD("title", VIAL_F_STRING, VIAL_NONEMPTY, .max = 200),
    VIAL_FIELD("done", VIAL_F_BOOL, 0),
    VIAL_FIELD_END };
static const vial_schema todo_patch = { patch_f, VIAL_SCHEMA_STRICT };

/* A row as JSON, `done` a boolean on both backends (SQLite stores it as 0 or 1). */
static void write_todo(vial_rows *r, vial_jw *w)
{
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_int(w, vial_rows_int(r, 0));
    vial_jw_key(w, "title");
    vial_jw_str(w, vial_rows_text(r, 1));
    vial_jw_key(w, "done");
    vial_jw_bool(w, vial_rows_bool(r, 2));
    vial_jw_key(w, "created_at");
    vial_jw_str(w, vial_rows_text(r, 3));
    vial_jw_end(w);
}

static int list_todos(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0; /* 503 answered */
    const char *done = vial_arg(req, "done"); /* ?done=true|false, or every todo */
    if (done && strcmp(done, "true") && strcmp(done, "false"))
        return vial_abort(req, 400, "done must be true or false");
    /* the CAST gives PostgreSQL the parameter's type; SQLite accepts it as well */
    vial_rows *r = vial_db_query(db, "SELECT id, title, done, created_at FROM todos "
                                     "WHERE CAST($1 AS BOOLEAN) IS NULL OR done = $1 ORDER BY id",
                                 VIAL_ARGS(done ? VIAL_BOOL(!strcmp(done, "true")) : VIAL_NULL));
    if (!r)
        return vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_array(w);
    int rc;
    while ((rc = vial_rows_next(r)) > 0)
        write_todo(r, w);
    vial_jw_end(w);
    return rc < 0 ? rc : vial_jw_finish(w); /* an error mid-way: 500 */
}

static int get_todo(vial_req *req)
{
    vial_rows *r = vial_db_one(req, vial_db_get(req),
                               "SELECT id, title, done, created_at FROM todos WHERE id = $1",
                               VIAL_ARGS(VIAL_INT(vial_param_int(req, "id"))), "no such todo");
    if (!r)
        return 0; /* 404, or the database's error, answered */
    vial_jw *w = vial_jw_begin(req, 200);
    write_todo(r, w);
    return vial_jw_finish(w);
}

static int add_todo(vial_req *req)
{
    json_t *body = vial_body_json_valid(req, &new_todo);
    if (!body)
        return 0;
    vial_rows *r = vial_db_one(req, vial_db_get(req),
                               "INSERT INTO todos (title) VALUES ($1) "
                               "RETURNING id, title, done, created_at",
                               VIAL_ARGS(VIAL_TEXT(json_string_value(json_object_get(body, "title")))),
                               NULL);
    if (!r)
        return 0;
    vial_jw *w = vial_jw_begin(req, 201);
    write_todo(r, w);
    return vial_jw_finish(w);
}

static int update_todo(vial_req *req)
{
    json_t *body = vial_body_json_valid(req, &todo_patch);
    if (!body)
        return 0;
    json_t *title = json_object_get(body, "title"), *done = json_object_get(body, "done");
    vial_rows *r = vial_db_one(req, vial_db_get(req),
                               "UPDATE todos SET title = COALESCE($2, title), done = COALESCE($3, done) "
                               "WHERE id = $1 RETURNING id, title, done, created_at",
                               VIAL_ARGS(VIAL_INT(vial_param_int(req, "id")),
                                         VIAL_TEXT(json_string_value(title)), /* NULL: unchanged */
                                         done ? VIAL_BOOL(json_is_true(done)) : VIAL_NULL),
                               "no such todo");
    if (!r)
        return 0;
    vial_jw *w = vial_jw_begin(req, 200);
    write_todo(r, w);
    return vial_jw_finish(w);
}

static int delete_todo(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    int n = vial_db_exec(db, "DELETE FROM todos WHERE id = $1",
                         VIAL_ARGS(VIAL_INT(vial_param_int(req, "id"))));
    if (n < 0)
        return vial_db_abort(req, db);
    return n ? vial_no_content(req) : vial_abort(req, 404, "no such todo");
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("todo");
    vial_db_init(app);                                   /* database_url, `migrate`, auto_migrate */
    vial_config_default(app, "database_url", "sqlite:///data/todo.db");
    vial_db_migrations(app, "todo", "examples/migrations/todo");
    vial_get(app, "/todos", list_todos);
    vial_post(app, "/todos", add_todo);
    vial_get(app, "/todos/<int:id>", get_todo);
    vial_patch(app, "/todos/<int:id>", update_todo);
    vial_delete(app, "/todos/<int:id>", delete_todo);
    return vial_main(app, argc, argv);
}
