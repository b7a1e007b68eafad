/*
 * hello.c — the smallest vial app (the hello world of DESIGN.md).
 *
 *   make && ./build/examples/hello          # then: curl localhost:5000/site/21
 */
#include <vial.h>

static int index_page(vial_req *req)
{
    return vial_text(req, 200, "This is the index of your app");
}

static int site(vial_req *req)
{
    int64_t age = vial_param_int(req, "Age"); /* <int:> already rejected non-integers (404) */
    if (age < 18)
        return vial_abort(req, 403, "You are not allowed to enter");
    return vial_textf(req, 200, "Welcome, you are %" PRId64, age);
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("hello");
    vial_get(app, "/", index_page);
    vial_get(app, "/site/<int:Age>", site);
    return vial_main(app, argc, argv); /* runs (--host --port --workers --debug), frees */
}
