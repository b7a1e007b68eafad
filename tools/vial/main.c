/*
 * main.c — `vial`, the command line of a vial project (flask's `flask`):
 *
 *   vial new NAME [DIR]          a new project: CMake, an app, templates, a
 *                                migration, cmocka tests, a Makefile
 *   vial run [--debug] [FILE.c] [--host H] [--port P] [-- APP ARGS]
 *                                build and serve; --debug rebuilds and restarts
 *                                on change, on the same listening socket
 *   vial build | test            build (CMake, in build/) | build and run ctest
 *   vial routes | migrate | settings | COMMAND   build, then run that
 *                                command of the app (`settings`: its `help`)
 *   vial dbshell                 sqlite3 or psql on the app's database
 *   vial version | help
 *
 * It works from wherever it is installed: the prefix is found from the
 * binary's own path, and the builds it starts are pointed at it
 * (PKG_CONFIG_PATH, CMAKE_PREFIX_PATH), so a vial unpacked in /opt/vial or
 * a temporary prefix needs no environment of its own.
 */
#include "tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VIAL_VERSION
#define VIAL_VERSION "0"
#endif

static void usage(FILE *out)
{
    fputs("usage: vial COMMAND [ARGS]\n"
          "\n"
          "  new NAME [DIR]       start a project in DIR (default: ./NAME)\n"
          "  run [--debug] [FILE.c] [--host H] [--port P] [-- APP-ARGS]\n"
          "                       build and serve the project (or one .c file); --debug\n"
          "                       rebuilds and restarts it when a source changes, keeping\n"
          "                       the listening socket, and shows build errors on the page\n"
          "  build                build the project (CMake, in build/)\n"
          "  test                 build, then run its tests (ctest)\n"
          "  routes               the app's route table\n"
          "  migrate              apply the app's pending database migrations\n"
          "  settings             the app's settings, their values and where they come from\n"
          "  dbshell [ARGS]       sqlite3 or psql on the app's database (database_url)\n"
          "  COMMAND [ARGS]       any other command the app defines (vial_command)\n"
          "  version              vial's version and where it is installed\n"
          "\n"
          "Run inside the project's folder.  man vial (1) has the details.\n",
          out);
}

static void find_paths(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        die("cannot find my own path (/proc/self/exe)");
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    *slash = '\0'; /* bin */
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", exe, VIAL_BIN_TO_PREFIX);
    if (!realpath(p, tool.prefix))
        snprintf(tool.prefix, sizeof tool.prefix, "%s", exe);
    snprintf(tool.pkgconfig, sizeof tool.pkgconfig, "%s/%s/pkgconfig", tool.prefix, VIAL_LIBDIR);
    snprintf(p, sizeof p, "%s/%s", exe, VIAL_BIN_TO_DATA);
    if (!realpath(p, tool.datadir) || !is_dir(tool.datadir))
        /* Not installed: a build tree.  The skeleton is in the sources. */
        snprintf(tool.datadir, sizeof tool.datadir, "%s/tools/vial", VIAL_SOURCE_DIR);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    find_paths();
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("vial %s\nprefix %s\ndata %s\n", VIAL_VERSION, tool.prefix, tool.datadir);
        return 0;
    }
    tool_env();
    if (!strcmp(cmd, "new"))
        return cmd_new(argc - 2, argv + 2);
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 2, argv + 2);
    if (!strcmp(cmd, "build"))
        return cmd_build(argc - 2, argv + 2);
    if (!strcmp(cmd, "test"))
        return cmd_test(argc - 2, argv + 2);
    if (!strcmp(cmd, "dbshell"))
        return cmd_dbshell(argc - 2, argv + 2);
    if (cmd[0] == '-') {
        fprintf(stderr, "vial: unknown option '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    /* routes, migrate, settings and the app's own commands */
    return cmd_app(!strcmp(cmd, "settings") ? "help" : cmd, argc - 2, argv + 2);
}
