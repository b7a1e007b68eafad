/*
 * Unit tests for src/core/cli.c: vial_run()'s commands — help (and
 * --help, -h), routes (its table: columns, order, methods), the commands
 * apps add with vial_command() (arguments, flags, start hooks, their
 * status), and the exit statuses: 0 done, 1 cannot start, 2 usage.
 * `run` itself serves until a signal (tests/unit/core/serve.c and the API
 * tests cover serving); here only the ways it stops before listening.
 * Output is captured at the file descriptors, as a terminal would see it.
 * And vial_prompt_password(): from stdin when it is not a terminal, and
 * from a terminal (a pty), where it prompts on stderr and does not echo.
 */
#include "unit.h"

#include <fcntl.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

typedef struct ran {
    int status;
    char out[16384], err[4096];
} ran;

static void slurp(FILE *f, char *buf, size_t cap)
{
    rewind(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* vial_run(app, argc, argv) — or vial_main(), which also frees the app —
 * with stdout and stderr captured. */
static void run_cli_as(int use_main, vial_app *app, ran *r, int argc, char **argv)
{
    fflush(stdout);
    fflush(stderr);
    FILE *o = tmpfile(), *e = tmpfile();
    assert_non_null(o);
    assert_non_null(e);
    int so = dup(1), se = dup(2);
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    r->status = use_main ? vial_main(app, argc, argv) : vial_run(app, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    slurp(o, r->out, sizeof r->out);
    slurp(e, r->err, sizeof r->err);
}

static void run_cli(vial_app *app, ran *r, int argc, char **argv)
{
    run_cli_as(0, app, r, argc, argv);
}

#define RUN(app, r, ...)                                                       \
    do {                                                                       \
        char *argv_[] = { __VA_ARGS__, NULL };                                 \
        run_cli((app), (r), (int)VIAL__ARRAY_LEN(argv_) - 1, argv_);          \
    } while (0)

static int view(vial_req *req)
{
    return vial_text(req, 200, "v");
}

static int h_bad_pattern(vial_req *req)
{
    return vial_text(req, 200, "never");
}

/* A registration error, which vial_run() must then refuse to start with
 * (logged when made: kept off the test's output). */
static void add_bad_route(vial_app *app)
{
    fflush(stderr);
    int se = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    int rc = vial_get(app, "/a/<int:x", h_bad_pattern);
    dup2(se, 2);
    close(se);
    close(null);
    assert_int_equal(rc, VIAL_EPATTERN);
}

static int starts, start_result;
static int on_start(vial_app *app)
{
    (void)app;
    starts++;
    return start_result;
}

/* What the last custom command saw. */
static int greet_argc;
static char greet_args[256];
static char greet_command[32];
static int greet_starts;

static int greet(vial_app *app, int argc, char **argv)
{
    greet_argc = argc;
    greet_args[0] = '\0';
    for (int i = 0; i < argc; i++) {
        strcat(greet_args, argv[i]);
        strcat(greet_args, "|");
    }
    snprintf(greet_command, sizeof greet_command, "%s", vial_app_command(app));
    greet_starts = starts;
    printf("hello from greet, port %s\n", vial_config(app, "port"));
    return argc > 0 && !strcmp(argv[0], "fail") ? 7 : 0;
}

static vial_app *new_app(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    starts = start_result = 0;
    greet_argc = -1;
    greet_args[0] = greet_command[0] = '\0';
    assert_int_equal(vial_on_start(app, on_start), 0);
    return app;
}

/* ------------------------------------------------------------------ help */

static void test_help(void **state)
{
    (void)state;
    vial_app *app = new_app();
    assert_int_equal(vial_command(app, "greet", greet, "say hello"), 0);
    static const char head[] = "usage: prog [command] [--option value]...\n\n"
                               "commands:\n"
                               "  run          serve HTTP (the default)\n"
                               "  routes       print the route table\n"
                               "  help         this text\n"
                               "  greet        say hello\n\n"
                               "configuration (flag --key, env VIAL_KEY or KEY, file vial.ini):\n";
    ran r;
    static const char *const forms[] = { "help", "--help", "-h" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(forms); i++) {
        RUN(app, &r, "prog", (char *)forms[i]);
        assert_int_equal(r.status, 0);
        assert_string_equal(r.err, "");
        if (strncmp(r.out, head, strlen(head)))
            print_error("%s\n", r.out);
        assert_true(!strncmp(r.out, head, strlen(head)));
        /* every key, spelled as a flag, with where its value came from */
        assert_non_null(strstr(r.out, "\n  --port                 TCP port to listen on [default: 5000]\n"));
        assert_non_null(strstr(r.out, "\n  --log-level "));
        assert_non_null(strstr(r.out, "[set: error]\n"));
    }
    assert_int_equal(starts, 0); /* help starts nothing */
    assert_int_equal(greet_argc, -1);
    vial_app_free(app);
}

static void test_help_uses_the_program_name(void **state)
{
    (void)state;
    vial_app *app = new_app();
    ran r;
    RUN(app, &r, "/usr/bin/vial-server", "help");
    assert_int_equal(r.status, 0);
    assert_true(!strncmp(r.out, "usage: /usr/bin/vial-server [command]", 37));
    RUN(app, &r, "/usr/bin/vial-server", "nope");
    assert_string_equal(r.err, "/usr/bin/vial-server: unknown command 'nope' (see '/usr/bin/vial-server help')\n");
    /* without argv, the app's name (argc 0: argv is not read) */
    add_bad_route(app);
    run_cli(app, &r, 0, NULL);
    assert_int_equal(r.status, 1);
    assert_true(!strncmp(r.err, "t: cannot start: ", 17));
    char *argv[] = { "help", NULL };
    run_cli(app, &r, 0, argv);
    assert_int_equal(r.status, 1);
    assert_true(!strncmp(r.err, "t: cannot start: ", 17));
    vial_app_free(app);
}

/* ------------------------------------------------------------------ routes */

static void test_routes_table(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/", view);
    vial_route(vial_app_bp(app), VIAL_POST | VIAL_PUT | VIAL_DELETE, "/items/<int:id>", view, "item_write");
    vial_get(app, "/items/<int:id>", view);
    vial_bp *api = vial_bp_new("api");
    vial_route(api, VIAL_PATCH, "/longer/<name>", view, "patch_a_rather_long_endpoint");
    vial_register(app, api, "/api");
    ran r;
    RUN(app, &r, "t", "routes");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    /* sorted by rule, then by registration; the methods as declared (not the
     * HEAD and OPTIONS that come with them); columns as wide as their widest cell */
    assert_string_equal(r.out,
                        "Endpoint                          Methods            Rule\n"
                        "--------------------------------  -----------------  ----------------------------\n"
                        "view                              GET                /\n"
                        "api.patch_a_rather_long_endpoint  PATCH              /api/longer/<name>\n"
                        "healthz                           GET                /healthz\n"
                        "item_write                        POST, PUT, DELETE  /items/<int:id>\n"
                        "view                              GET                /items/<int:id>\n"
                        "metrics                           GET                /metrics\n"
                        "readyz                            GET                /readyz\n");
    assert_int_equal(starts, 0); /* listing routes opens nothing */
    vial_app_free(app);
}

static void test_routes_of_an_empty_app(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_config_set(app, "metrics", "off"); /* else its routes are /metrics, */
    vial_config_set(app, "health_checks", "off"); /* /healthz and /readyz */
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    ran r;
    RUN(app, &r, "t", "routes");
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "Endpoint  Methods  Rule\n"
                               "--------  -------  ----------------------------\n");
    vial_app_free(app);
}

/* the old app.c case: a blueprint tree's endpoints and rules */
static void test_routes_listing(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/fails", view);
    vial_bp *api = vial_bp_new("api");
    vial_bp *v1 = vial_bp_new("v1");
    vial_get(v1, "/deep", view);
    assert_int_equal(vial_register(api, v1, "/v1"), 0);
    assert_int_equal(vial_register(app, api, "/api"), 0);
    ran r;
    RUN(app, &r, "t", "routes");
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "Endpoint"));
    assert_non_null(strstr(r.out, "api.v1.view"));
    assert_non_null(strstr(r.out, "/api/v1/deep"));
    assert_non_null(strstr(r.out, "/fails"));
    vial_app_free(app);
}

/* ------------------------------------------------------------------ statuses */

static void test_usage_errors_are_2(void **state)
{
    (void)state;
    vial_app *app = new_app();
    ran r;
    RUN(app, &r, "t", "nope");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err, "t: unknown command 'nope' (see 't help')\n");
    assert_string_equal(r.out, "");
    /* routes and run take no arguments; a flag that is no key is one */
    RUN(app, &r, "t", "routes", "extra");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err, "t: unknown option or argument 'extra' (see 't help')\n");
    RUN(app, &r, "t", "run", "--nope");
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err, "t: unknown option or argument '--nope' (see 't help')\n");
    RUN(app, &r, "t", "--nope");
    assert_int_equal(r.status, 2); /* "run" is the default */
    assert_string_equal(r.err, "t: unknown option or argument '--nope' (see 't help')\n");
    /* help is a command or the first argument, not an option of another command */
    RUN(app, &r, "t", "routes", "--help");
    assert_int_equal(r.status, 2);
    /* a bad configuration value, and a key flag without its value */
    RUN(app, &r, "t", "--max-body", "lots", "routes");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "config max_body: bad value 'lots'"));
    RUN(app, &r, "t", "routes", "--port");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "option --port needs a value"));
    assert_int_equal(starts, 0); /* nothing started for any of them */
    assert_null(vial_app_command(app));
    vial_app_free(app);
    assert_int_equal(vial_run(NULL, 0, NULL), 1);
}

/* vial_main() is vial_run() followed by vial_app_free(): the exit status
 * comes through, and the app is freed whatever it is (the ASan build's leak
 * check sees it); a NULL app — vial_app_new() out of memory — is a 1 with
 * a message, not a crash. */
static void test_main_runs_then_frees(void **state)
{
    (void)state;
    ran r;
    vial_app *app = new_app();
    vial_get(app, "/", view);
    assert_int_equal(vial_command(app, "greet", greet, "say hello"), 0);
    char *argv1[] = { "t", "greet", "fail", NULL };
    run_cli_as(1, app, &r, 3, argv1);
    assert_int_equal(r.status, 7);
    assert_string_equal(greet_args, "fail|");

    app = new_app();
    vial_get(app, "/", view);
    char *argv2[] = { "t", "routes", NULL };
    run_cli_as(1, app, &r, 2, argv2);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\nview "));

    app = new_app();
    add_bad_route(app);
    run_cli_as(1, app, &r, 2, argv2);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot start"));

    /* What the 10-line hello does when vial_app_new() fails: every call
     * takes the NULL and vial_main() reports it. */
    app = NULL;
    assert_int_equal(vial_get(app, "/", view), VIAL_EINVAL);
    run_cli_as(1, app, &r, 2, argv2);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "t: out of memory\n");
}

static void test_bad_routes_cannot_start(void **state)
{
    (void)state;
    vial_app *app = new_app();
    assert_int_equal(vial_command(app, "greet", greet, NULL), 0);
    add_bad_route(app);
    ran r;
    static const char *const cmds[] = { "routes", "run", "greet" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(cmds); i++) {
        RUN(app, &r, "t", (char *)cmds[i]);
        assert_int_equal(r.status, 1);
        assert_true(!strncmp(r.err, "t: cannot start: ", 17));
        assert_non_null(strstr(r.err, "/a/<int:x"));
        assert_string_equal(r.out, "");
    }
    assert_int_equal(starts, 0);
    assert_int_equal(greet_argc, -1);
    vial_app_free(app);
}

static void test_run_stops_when_a_start_hook_fails(void **state)
{
    (void)state;
    vial_app *app = new_app();
    start_result = VIAL_EIO;
    ran r;
    RUN(app, &r, "t", "run");
    assert_int_equal(r.status, 1);
    assert_int_equal(starts, 1);
    RUN(app, &r, "t");
    assert_int_equal(r.status, 1); /* no command: run */
    assert_int_equal(starts, 2);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ custom commands */

static void test_custom_commands(void **state)
{
    (void)state;
    vial_app *app = new_app();
    assert_int_equal(vial_command(app, "greet", greet, "say hello"), 0);
    ran r;
    /* the arguments after its name, with configuration flags taken out wherever they stand */
    RUN(app, &r, "t", "--port", "9000", "greet", "a", "--port=9001", "b", "--unknown", "c");
    assert_int_equal(r.status, 0);
    assert_int_equal(greet_argc, 4);
    assert_string_equal(greet_args, "a|b|--unknown|c|");
    assert_string_equal(r.out, "hello from greet, port 9001\n"); /* the later flag wins */
    assert_string_equal(greet_command, "greet"); /* vial_app_command while it runs */
    assert_null(vial_app_command(app));          /* and not after */
    assert_int_equal(greet_starts, 1);           /* start hooks ran first */
    /* its result is the exit status */
    RUN(app, &r, "t", "greet", "fail");
    assert_int_equal(r.status, 7);
    RUN(app, &r, "t", "greet");
    assert_int_equal(r.status, 0);
    assert_int_equal(greet_argc, 0);
    /* a start hook that fails keeps the command from running */
    start_result = VIAL_EIO;
    greet_argc = -1;
    RUN(app, &r, "t", "greet", "x");
    assert_int_equal(r.status, 1);
    assert_int_equal(greet_argc, -1);
    vial_app_free(app);
}

static void test_command_registration(void **state)
{
    (void)state;
    vial_app *app = new_app();
    assert_int_equal(vial_command(NULL, "x", greet, NULL), VIAL_EINVAL);
    assert_int_equal(vial_command(app, NULL, greet, NULL), VIAL_EINVAL);
    assert_int_equal(vial_command(app, "routes2", NULL, NULL), VIAL_EINVAL);
    assert_int_equal(vial_command(app, "greet", greet, NULL), 0);
    assert_int_equal(vial_command(app, "greet", greet, "again"), VIAL_EEXIST);
    assert_int_equal(vial_command(app, "other", greet, NULL), 0);
    ran r;
    RUN(app, &r, "t", "help");
    /* no help text: listed all the same */
    assert_non_null(strstr(r.out, "\n  greet        \n  other        \n\n"));
    /* the built-in commands come first: a custom "routes" is never run */
    assert_int_equal(vial_command(app, "routes", greet, "shadowed"), 0);
    RUN(app, &r, "t", "routes");
    assert_int_equal(r.status, 0);
    assert_int_equal(greet_argc, -1);
    assert_true(!strncmp(r.out, "Endpoint", 8));
    vial_app_free(app);
}

/* ------------------------------------------------------------------ prompts */

static void test_prompt_from_a_pipe(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    static const char in[] = "pw one\r\n"
                             "\n"
                             "this line is longer than the buffer it is read into\n"
                             "fits\n"
                             "last, without a newline";
    assert_int_equal(write(fds[1], in, sizeof in - 1), (ssize_t)(sizeof in - 1));
    close(fds[1]);
    assert_int_equal(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
    close(fds[0]);
    clearerr(stdin);

    char buf[32];
    assert_int_equal(vial_prompt_password("Password: ", buf, sizeof buf), 0);
    assert_string_equal(buf, "pw one"); /* CRLF stripped */
    assert_int_equal(vial_prompt_password(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, ""); /* an empty line is a line */
    memset(buf, 'z', sizeof buf);
    assert_int_equal(vial_prompt_password(NULL, buf, sizeof buf), VIAL_ETOOBIG);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0); /* no part of a secret left behind */
    assert_int_equal(vial_prompt_password(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "fits"); /* the long line was consumed whole */
    assert_int_equal(vial_prompt_password(NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "last, without a newline");
    assert_int_equal(vial_prompt_password(NULL, buf, sizeof buf), VIAL_EIO);
    assert_int_equal(vial_prompt_password(NULL, buf, 1), VIAL_EINVAL);
    assert_int_equal(vial_prompt_password(NULL, NULL, 8), VIAL_EINVAL);
}

/* The person at the terminal: types once the terminal stops echoing (the
 * prompt flushes what was typed before, as a password prompt should). */
typedef struct typist {
    int master, slave;
    const char *line;
    bool saw_quiet;
} typist;

static void *type_when_quiet(void *p)
{
    typist *t = p;
    for (int i = 0; i < 5000; i++) {
        struct termios tio;
        if (tcgetattr(t->slave, &tio) == 0 && !(tio.c_lflag & ECHO)) {
            t->saw_quiet = true;
            break;
        }
        usleep(1000);
    }
    if (write(t->master, t->line, strlen(t->line)) < 0)
        t->saw_quiet = false;
    return NULL;
}

static void test_prompt_on_a_terminal(void **state)
{
    (void)state;
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0) {
        skip(); /* no pseudo-terminals here */
        return;
    }
    int saved_in = dup(STDIN_FILENO);
    dup2(slave, STDIN_FILENO);
    clearerr(stdin);
    fflush(stderr);
    FILE *e = tmpfile();
    int se = dup(2);
    dup2(fileno(e), 2);

    typist t = { master, slave, "s3cret words\n", false };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, type_when_quiet, &t), 0);
    char buf[64];
    int rc = vial_prompt_password("Secret: ", buf, sizeof buf);
    pthread_join(th, NULL);

    fflush(stderr);
    dup2(se, 2);
    close(se);
    char err[256];
    slurp(e, err, sizeof err);
    struct termios after;
    assert_int_equal(tcgetattr(slave, &after), 0);
    /* what the terminal showed: nothing of what was typed */
    char shown[256];
    fcntl(master, F_SETFL, O_NONBLOCK);
    ssize_t n = read(master, shown, sizeof shown - 1);
    shown[n > 0 ? n : 0] = '\0';
    dup2(saved_in, STDIN_FILENO);
    close(saved_in);
    clearerr(stdin);
    close(slave);
    close(master);

    assert_true(t.saw_quiet); /* echo was off while it read */
    assert_int_equal(rc, 0);
    assert_string_equal(buf, "s3cret words");
    assert_string_equal(err, "Secret: \n"); /* the prompt, and the newline the typist's Enter did not echo */
    assert_null(strstr(shown, "s3cret"));
    assert_true(after.c_lflag & ECHO); /* and echo is back */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_help_uses_the_program_name),
        cmocka_unit_test(test_routes_table),
        cmocka_unit_test(test_routes_of_an_empty_app),
        cmocka_unit_test(test_routes_listing),
        cmocka_unit_test(test_usage_errors_are_2),
        cmocka_unit_test(test_main_runs_then_frees),
        cmocka_unit_test(test_bad_routes_cannot_start),
        cmocka_unit_test(test_run_stops_when_a_start_hook_fails),
        cmocka_unit_test(test_custom_commands),
        cmocka_unit_test(test_command_registration),
        cmocka_unit_test(test_prompt_on_a_terminal),
        cmocka_unit_test(test_prompt_from_a_pipe),
    };
    return RUN_GROUP(tests);
}
