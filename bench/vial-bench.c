/*
 * vial-bench.c — the TechEmpower-style endpoints used by bench/ to compare
 * vial with its peers.  Rules followed (see ../shared/BENCHMARKS.md):
 * /plaintext composes the whole response per request (the body is a static
 * buffer, which the rules allow); /json builds and serializes a fresh
 * object per request with the JSON writer.  Access logging is off, as the
 * rules require.
 *
 *   vial-bench --port 8090 --workers 1
 */
#include <vial.h>

static const char hello[] = "Hello, World!";

static int plaintext(vial_req *req)
{
    return vial_send_static(req, 200, "text/plain", hello, sizeof hello - 1);
}

static int json(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "message");
    vial_jw_str(w, hello);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("vial-bench");
    if (!app)
        return 1;
    vial_config_set(app, "access_log", "off");
    /* No vial_config_set(app, "port", ...): a value set in code outranks
     * flags and environment, and the harness needs --port to work. */
    vial_get(app, "/plaintext", plaintext);
    vial_get(app, "/json", json);
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}
