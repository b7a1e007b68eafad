/* Unit tests for src/core/config.c: precedence (flag > env > file >
 * default), switches, value parsing, help. */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

static char ini_path[64];

static void write_ini(const char *text)
{
    strcpy(ini_path, "/tmp/vial-config-test-XXXXXX");
    int fd = mkstemp(ini_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int noop_cmd(vial_app *app, int argc, char **argv)
{
    (void)app;
    (void)argc;
    (void)argv;
    return 7;
}

static void test_precedence(void **state)
{
    (void)state;
    write_ini("port = 6001\nhost = 10.0.0.1\nworkers = 3\n[logs]\nprotect = on\n[vial]\nmax_body = 1M\n");
    setenv("VIAL_WORKERS", "5", 1);
    setenv("HOST", "192.0.2.1", 1);
    setenv("VIAL_HOST", "192.0.2.2", 1); /* the prefixed name wins */
    setenv("DEBUG", "on", 1);            /* not a bare-env key: ignored */
    vial_app *app = vial_app_new("t");
    vial_command(app, "noop", noop_cmd, "does nothing");
    char *argv[] = { "t", "noop", "--config", ini_path, "--workers=9", NULL };
    assert_int_equal(vial_run(app, 5, argv), 7);
    assert_string_equal(vial_config(app, "port"), "6001");       /* file */
    assert_string_equal(vial_config(app, "host"), "192.0.2.2");  /* env beats file */
    assert_string_equal(vial_config(app, "workers"), "9");       /* flag beats env */
    assert_string_equal(vial_config(app, "debug"), "off");       /* default */
    assert_string_equal(vial_config(app, "logs.protect"), "on"); /* app section */
    assert_int_equal(vial_config_int(app, "max_body", 0), 0);    /* "1M" is not an int... */
    assert_int_equal(app->lim.h1.max_body, 1 << 20);                /* ...but a size */
    /* vial_config_set is above everything */
    vial_config_set(app, "workers", "1");
    assert_int_equal(vial_config_int(app, "workers", 0), 1);
    vial_app_free(app);
    unsetenv("VIAL_WORKERS");
    unsetenv("HOST");
    unsetenv("VIAL_HOST");
    unsetenv("DEBUG");
    unlink(ini_path);
}

static void test_switches_and_bad_values(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_command(app, "noop", noop_cmd, NULL);
    char *a1[] = { "t", "noop", "--debug", "--no-access-log", NULL };
    assert_int_equal(vial_run(app, 4, a1), 7);
    assert_true(vial_config_bool(app, "debug", 0));
    assert_false(vial_config_bool(app, "access_log", 1));
    char *a2[] = { "t", "noop", "--max-body", "ten", NULL };
    assert_int_equal(vial_run(app, 4, a2), 2); /* usage error, not a crash */
    char *a3[] = { "t", "noop", "--port", NULL };
    vial_config_set(app, "max_body", "10M");
    assert_int_equal(vial_run(app, 3, a3), 2); /* missing value */
    char *a4[] = { "t", "run", "--bogus", "1", NULL };
    assert_int_equal(vial_run(app, 4, a4), 2); /* unknown option for run */
    char *a5[] = { "t", "frobnicate", NULL };
    assert_int_equal(vial_run(app, 2, a5), 2); /* unknown command */
    vial_app_free(app);
}

static void test_define_and_help(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    /* A module's key that deployment tooling sets bare (DATABASE_URL) is
     * declared so by the module; an app's own keys need the VIAL_ prefix. */
    assert_int_equal(vial__config_define_env(app, "database_url", "sqlite:///data/vial.db", "where data lives"), 0);
    assert_int_equal(vial_config_define(app, "database_url", "x", NULL), VIAL_EEXIST);
    assert_int_equal(vial_config_define(app, "Bad-Key", "x", NULL), VIAL_EINVAL);
    assert_int_equal(vial_config_define(app, "api_token", "none", NULL), 0);
    setenv("DATABASE_URL", "sqlite://:memory:", 1);
    setenv("API_TOKEN", "bare", 1);
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_string_equal(vial_config(app, "database_url"), "sqlite://:memory:");
    assert_string_equal(vial_config(app, "api_token"), "none");
    setenv("VIAL_API_TOKEN", "prefixed", 1);
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_string_equal(vial_config(app, "api_token"), "prefixed");
    unsetenv("DATABASE_URL");
    unsetenv("API_TOKEN");
    unsetenv("VIAL_API_TOKEN");
    assert_null(vial_config(app, "no_such_key"));
    char *argv[] = { "t", "help", NULL };
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    assert_int_equal(vial_run(app, 2, argv), 0);
    fclose(stdout);
    stdout = saved;
    vial_app_free(app);
}

static void test_value_parsers(void **state)
{
    (void)state;
    assert_int_equal(vial__parse_size("0"), 0);
    assert_int_equal(vial__parse_size("512"), 512);
    assert_int_equal(vial__parse_size("16K"), 16384);
    assert_int_equal(vial__parse_size("10M"), 10 << 20);
    assert_int_equal(vial__parse_size("10MB"), 10 << 20);
    assert_int_equal(vial__parse_size("1GiB"), 1 << 30);
    assert_int_equal(vial__parse_size("1.5K"), -1);
    assert_int_equal(vial__parse_size("-1"), -1);
    assert_int_equal(vial__parse_size(""), -1);
    assert_int_equal(vial__parse_size("99999999999999999999G"), -1);
    assert_int_equal(vial__parse_size("8E"), -1);
    assert_int_equal(vial__parse_duration_ms("10s"), 10000);
    assert_int_equal(vial__parse_duration_ms("250ms"), 250);
    assert_int_equal(vial__parse_duration_ms("2m"), 120000);
    assert_int_equal(vial__parse_duration_ms("1h"), 3600000);
    assert_int_equal(vial__parse_duration_ms("7"), 7000);
    assert_int_equal(vial__parse_duration_ms("7x"), -1);
    assert_int_equal(vial__parse_duration_ms("s"), -1);
}

int main(void)
{
    vial__log_level = VIAL_LOG_ERROR + 1; /* the bad-value cases log on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_switches_and_bad_values),
        cmocka_unit_test(test_define_and_help),
        cmocka_unit_test(test_value_parsers),
    };
    return RUN_GROUP(tests);
}
