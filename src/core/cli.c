/*
 * cli.c — the command line of every vial program: `run` (the default),
 * `routes`, `help`, and the commands apps add; flags set configuration
 * keys.  The only file of core that starts the server (serve.c).
 *
 * Also what an app's own commands need from a terminal: a password read
 * without echo.  A command that creates an account or rotates a key must
 * not take the secret from argv, where the shell history and /proc would
 * show it to everyone; it is prompted for, or read from stdin when that is
 * not a terminal (scripts, `echo pw | prog createuser`).
 */
#include "core.h"

#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

int vial_command(vial_app *app, const char *name, vial_command_fn fn, const char *help)
{
    if (!app || !name || !fn)
        return VIAL_EINVAL;
    for (size_t i = 0; i < app->ncmds; i++)
        if (!strcmp(app->cmds[i].name, name))
            return VIAL_EEXIST;
    vial__cmd *c = realloc(app->cmds, (app->ncmds + 1) * sizeof *c);
    if (!c)
        return VIAL_ENOMEM;
    app->cmds = c;
    c[app->ncmds++] = (vial__cmd){ name, help ? help : "", fn };
    return 0;
}

static int cmp_route(const void *a, const void *b)
{
    const vial__route *x = *(vial__route *const *)a, *y = *(vial__route *const *)b;
    int c = strcmp(x->pattern, y->pattern);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

static void print_routes(vial_app *app, FILE *out)
{
    size_t n = app->nall_routes;
    vial__route **rs = malloc((n ? n : 1) * sizeof *rs);
    if (!rs)
        return;
    if (n) /* an app without routes has no table: memcpy from NULL is undefined */
        memcpy(rs, app->all_routes, n * sizeof *rs);
    qsort(rs, n, sizeof *rs, cmp_route);
    size_t we = strlen("Endpoint"), wm = strlen("Methods");
    char meth[64];
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(rs[i]->endpoint);
        if (l > we)
            we = l;
        size_t k = 0;
        for (unsigned b = 1; b <= VIAL_OPTIONS; b <<= 1)
            if (rs[i]->methods & b)
                k += strlen(vial__method_name(b)) + (k ? 2 : 0);
        if (k > wm)
            wm = k;
    }
    fprintf(out, "%-*s  %-*s  %s\n", (int)we, "Endpoint", (int)wm, "Methods", "Rule");
    for (size_t i = 0; i < we; i++)
        fputc('-', out);
    fputs("  ", out);
    for (size_t i = 0; i < wm; i++)
        fputc('-', out);
    fputs("  ----------------------------\n", out);
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        meth[0] = '\0';
        for (unsigned b = 1; b <= VIAL_OPTIONS; b <<= 1)
            if (rs[i]->methods & b)
                k += (size_t)snprintf(meth + k, sizeof meth - k, "%s%s", k ? ", " : "",
                                      vial__method_name(b));
        fprintf(out, "%-*s  %-*s  %s\n", (int)we, rs[i]->endpoint, (int)wm, meth, rs[i]->pattern);
    }
    free(rs);
}

static void usage(vial_app *app, const char *prog, FILE *out)
{
    fprintf(out, "usage: %s [command] [--option value]...\n\ncommands:\n", prog);
    fprintf(out, "  %-12s %s\n", "run", "serve HTTP (the default)");
    fprintf(out, "  %-12s %s\n", "routes", "print the route table");
    fprintf(out, "  %-12s %s\n", "help", "this text");
    for (size_t i = 0; i < app->ncmds; i++)
        fprintf(out, "  %-12s %s\n", app->cmds[i].name, app->cmds[i].help);
    fputc('\n', out);
    vial__config_help(app->cfg, out);
}

/*
 * `run`: serve, or (processes >= 1) supervise processes that serve.  A
 * reload and a supervisor start the binary again with the same arguments:
 * the path of the binary as it was at start (/proc/self/exe), so a new
 * binary installed over it is what a reload runs.
 */
static int run(vial_app *app, int argc, char **argv)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char **args = calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof *args);
    if (!args)
        return 1;
    for (int i = 0; i < argc; i++)
        args[i] = argv[i];
    vial__loop_cfg *lc = &app->lim.loop;
    if (n > 0 && argc > 0) {
        exe[n] = '\0';
        lc->exe = exe;
        lc->argv = args;
    }
    int64_t nproc = vial_config_int(app, "processes", -1);
    int status;
    if (nproc < 0 || nproc > 256) {
        vial_log(VIAL_LOG_ERROR, "config processes: '%s' is not 0..256", vial_config(app, "processes"));
        status = 1;
    } else if (nproc > 0 && !vial__supervised_env()) {
        /* The modules' shared state (rate limits, pub/sub) is per process
         * without Redis: more than one process would quietly split it. */
        const char *redis = vial_config(app, "redis_url");
        if (nproc > 1 && redis && !*redis) {
            vial_log(VIAL_LOG_ERROR, "processes = %" PRId64 " needs redis_url: rate limits and pub/sub "
                                     "would otherwise be per process", nproc);
            status = 1;
        } else {
            status = vial__supervise(lc, (int)nproc, (int)vial_config_int(app, "workers", 0));
        }
    } else {
        status = vial__run_start_hooks(app) ? 1 : vial__serve(app);
    }
    lc->exe = NULL;
    lc->argv = NULL;
    free(args);
    return status;
}

int vial_run(vial_app *app, int argc, char **argv)
{
    if (!app)
        return 1;
    const char *prog = argc > 0 && argv ? argv[0] : app->name;
    char **args = calloc((size_t)(argc > 0 ? argc : 0) + 1, sizeof *args);
    if (!args)
        return 1;
    int n = 0;
    for (int i = 1; i < argc; i++)
        args[n++] = argv[i];
    int rc = vial__config_load(app->cfg, &n, args);
    if (!rc)
        rc = vial__app_apply_config(app);
    if (rc) {
        free(args);
        return 2;
    }
    const char *cmd = n > 0 && args[0][0] != '-' ? args[0] : "run";
    int first = n > 0 && args[0][0] != '-' ? 1 : 0;
    app->command = cmd;
    int status;
    if (!strcmp(cmd, "help") || (n > 0 && (!strcmp(args[0], "--help") || !strcmp(args[0], "-h")))) {
        usage(app, prog, stdout);
        status = 0;
    } else if (!strcmp(cmd, "routes") || !strcmp(cmd, "run")) {
        if (n > first) {
            fprintf(stderr, "%s: unknown option or argument '%s' (see '%s help')\n", prog,
                    args[first], prog);
            status = 2;
        } else if (vial__app_compile(app)) {
            fprintf(stderr, "%s: cannot start: %s\n", prog, app->error ? app->error : "bad routes");
            status = 1;
        } else if (!strcmp(cmd, "routes")) {
            print_routes(app, stdout);
            status = 0;
        } else {
            status = run(app, argc, argv);
        }
    } else {
        const vial__cmd *c = NULL;
        for (size_t i = 0; i < app->ncmds; i++)
            if (!strcmp(app->cmds[i].name, cmd))
                c = &app->cmds[i];
        if (!c) {
            fprintf(stderr, "%s: unknown command '%s' (see '%s help')\n", prog, cmd, prog);
            status = 2;
        } else if (vial__app_compile(app)) {
            fprintf(stderr, "%s: cannot start: %s\n", prog, app->error ? app->error : "bad routes");
            status = 1;
        } else {
            status = vial__run_start_hooks(app) ? 1 : c->fn(app, n - 1, args + 1);
        }
    }
    free(args);
    app->command = NULL;
    return status;
}

int vial_main(vial_app *app, int argc, char **argv)
{
    if (!app) {
        fprintf(stderr, "%s: out of memory\n", argc > 0 && argv ? argv[0] : "vial");
        return 1;
    }
    int status = vial_run(app, argc, argv);
    vial_app_free(app);
    return status;
}

/* ------------------------------------------------------------------ prompts */

int vial_prompt_password(const char *prompt, char *buf, size_t cap)
{
    if (!buf || cap < 2 || cap > INT32_MAX)
        return VIAL_EINVAL;
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    bool restore = false;
    if (tty) {
        fputs(prompt ? prompt : "Password: ", stderr);
        fflush(stderr);
        if (tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    bool got = fgets(buf, (int)cap, stdin) != NULL;
    size_t n = got ? strcspn(buf, "\n") : 0;
    bool whole = got && (buf[n] == '\n' || feof(stdin));
    if (got && !whole) {
        /* Drop the rest of the line, so the next prompt starts afresh. */
        int c;
        while ((c = getchar()) != EOF && c != '\n')
            ;
    }
    if (restore)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    if (tty)
        fputc('\n', stderr);
    if (!got || !whole) {
        memset(buf, 0, cap);
        return got ? VIAL_ETOOBIG : VIAL_EIO;
    }
    if (n && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return 0;
}
