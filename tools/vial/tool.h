/*
 * tool.h — what the files of the `vial` command share.
 *
 * The command is plain C and POSIX (no libvial): it scaffolds projects,
 * runs compilers and CMake, and runs the app, holding its listening socket
 * across restarts in --debug mode.
 */
#ifndef VIAL_TOOL_H
#define VIAL_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Where the installed vial is, found from /proc/self/exe. */
typedef struct {
    char prefix[4096];    /* the installation prefix (bin/..) */
    char datadir[8192];   /* share/vial: the skeleton of `vial new` */
    char pkgconfig[8192]; /* lib/pkgconfig, for PKG_CONFIG_PATH */
} tool_paths;
extern tool_paths tool;

/* The project the command works on. */
typedef struct {
    const char *source;  /* a single .c file (`vial run app.c`), or NULL: a CMake project */
    char name[256];      /* the CMake project() name: the executable build/<name> */
    char exe[4096];      /* the program to run */
    const char *build_dir;
    bool quiet;          /* build output only when it fails */
    bool app_only;       /* build the app's target only (not the tests) */
} project;

/* util.c */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs argv, waits; returns its exit status (128+signal, or -1 if it could
 * not run).  With `out`, stdout and stderr are collected into *out
 * (malloc'd, NUL-terminated, the last `cap` bytes) and, unless quiet, also
 * echoed to stderr as they come. */
int run_cmd(char *const argv[], char **out, size_t cap, bool quiet);
char *read_file(const char *path, size_t *len);
int write_file(const char *path, const char *data, size_t len, int mode);
int mkdirs(const char *path, int mode);
bool is_dir(const char *path);
bool is_file(const char *path);
/* Sets up the environment children need to find this installation of vial
 * (PKG_CONFIG_PATH, CMAKE_PREFIX_PATH). */
void tool_env(void);

/* new.c */
int cmd_new(int argc, char **argv);

/* run.c */
int project_open(project *p, const char *source);
int project_build(project *p, char **out);
int cmd_run(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_test(int argc, char **argv);
int cmd_app(const char *command, int argc, char **argv);
int cmd_dbshell(int argc, char **argv);

#endif
