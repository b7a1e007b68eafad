/*
 * json_api.c — a JSON API with validation: a reading list kept in memory.
 *
 *   ./build/examples/json_api
 *   curl -i -X POST localhost:5000/books -H 'Content-Type: application/json' \
 *        -d '{"title": "Dune", "author": "Frank Herbert", "year": 1965}'   # 201 + Location
 *   curl localhost:5000/books/1
 *   curl -X POST localhost:5000/books -d '{"title": "", "year": "soon"}'    # 400, every bad field named
 */
#include <pthread.h>
#include <string.h>
#include <vial.h>

typedef struct book {
    int64_t id, year; /* year 0: not given */
    char title[801], author[801]; /* 200 characters of UTF-8, at most 4 bytes each */
} book;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* views run on several workers */
static book books[1000];
static size_t nbooks;
static int64_t next_id = 1;

/* The body's rules, declared once: vial_body_json_valid() answers 400 naming every bad field. */
static const vial_field book_f[] = {
    VIAL_FIELD("title", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .max = 200),
    VIAL_FIELD("author", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .max = 200),
    VIAL_FIELD("year", VIAL_F_INT, 0, .min = 1, .max = 2100),
    VIAL_FIELD_END };
static const vial_schema book_schema = { book_f, VIAL_SCHEMA_STRICT }; /* unknown fields: 400 */

static void write_book(vial_jw *w, const book *b)
{
    vial_jw_object(w);
    vial_jw_key(w, "id"); vial_jw_int(w, b->id);
    vial_jw_key(w, "title"); vial_jw_str(w, b->title);
    vial_jw_key(w, "author"); vial_jw_str(w, b->author);
    vial_jw_key(w, "year");
    if (b->year)
        vial_jw_int(w, b->year);
    else
        vial_jw_null(w);
    vial_jw_end(w);
}

static int list_books(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    pthread_mutex_lock(&lock);
    vial_jw_array(w);
    for (size_t i = 0; i < nbooks; i++)
        write_book(w, &books[i]);
    vial_jw_end(w);
    pthread_mutex_unlock(&lock);
    return vial_jw_finish(w);
}

static int add_book(vial_req *req)
{
    json_t *body = vial_body_json_valid(req, &book_schema);
    if (!body)
        return 0; /* 400 answered */
    book b = { .year = json_integer_value(json_object_get(body, "year")) };
    strcpy(b.title, json_string_value(json_object_get(body, "title"))); /* lengths checked above */
    strcpy(b.author, json_string_value(json_object_get(body, "author")));
    pthread_mutex_lock(&lock);
    int full = nbooks == sizeof books / sizeof books[0];
    if (!full) {
        b.id = next_id++;
        books[nbooks++] = b;
    }
    pthread_mutex_unlock(&lock);
    if (full)
        return vial_abort(req, 507, "the shelf is full");
    vial_set_header(req, "Location",
                    vial_url_for(req, "get_book", "id", vial_sprintf(req, "%" PRId64, b.id), NULL));
    vial_jw *w = vial_jw_begin(req, 201);
    write_book(w, &b);
    return vial_jw_finish(w);
}

static int get_book(vial_req *req)
{
    int64_t id = vial_param_int(req, "id");
    book b = { .id = 0 };
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nbooks; i++)
        if (books[i].id == id)
            b = books[i];
    pthread_mutex_unlock(&lock);
    if (!b.id)
        return vial_abortf(req, 404, "no book with id %" PRId64, id);
    vial_jw *w = vial_jw_begin(req, 200);
    write_book(w, &b);
    return vial_jw_finish(w);
}

static int delete_book(vial_req *req)
{
    int64_t id = vial_param_int(req, "id");
    int found = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nbooks && !found; i++)
        if ((found = books[i].id == id))
            memmove(&books[i], &books[i + 1], (--nbooks - i) * sizeof *books);
    pthread_mutex_unlock(&lock);
    return found ? vial_no_content(req) : vial_abortf(req, 404, "no book with id %" PRId64, id);
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("json_api");
    vial_get(app, "/books", list_books);
    vial_post(app, "/books", add_book);
    vial_get(app, "/books/<int:id>", get_book);
    vial_delete(app, "/books/<int:id>", delete_book);
    return vial_main(app, argc, argv);
}
