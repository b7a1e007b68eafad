/*
 * util.c — processes, files and paths for the `vial` command.
 */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

tool_paths tool;

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vial: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(" * ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int wait_status(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int run_cmd(char *const argv[], char **out, size_t cap, bool quiet)
{
    int fds[2] = { -1, -1 };
    if (out && pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        if (out) {
            close(fds[0]);
            close(fds[1]);
        }
        return -1;
    }
    if (pid == 0) {
        if (out) {
            dup2(fds[1], STDOUT_FILENO);
            dup2(fds[1], STDERR_FILENO);
        }
        /* The reloader blocks SIGCHLD and friends (it reads them from a
         * signalfd); make and the compilers need them delivered. */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGINT, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "vial: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (!out)
        return wait_status(pid);
    close(fds[1]);
    /* Keep the last `cap` bytes: the compiler's first error is usually what
     * matters, but a runaway build must not grow us without bound, and
     * make prints the summary last. */
    size_t len = 0, room = 65536;
    char *buf = malloc(room);
    char chunk[8192];
    ssize_t n;
    while ((n = read(fds[0], chunk, sizeof chunk)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (!quiet)
            (void)!write(STDERR_FILENO, chunk, (size_t)n);
        if (!buf)
            continue;
        if (len + (size_t)n + 1 > room && room < cap + 1) {
            size_t want = room * 2 > cap + 1 ? cap + 1 : room * 2;
            char *b = realloc(buf, want);
            if (b) {
                buf = b;
                room = want;
            }
        }
        if (len + (size_t)n + 1 > room) { /* full: drop the oldest bytes */
            size_t drop = len + (size_t)n + 1 - room;
            if (drop > len)
                drop = len;
            memmove(buf, buf + drop, len - drop);
            len -= drop;
        }
        size_t take = (size_t)n < room - len - 1 ? (size_t)n : room - len - 1;
        memcpy(buf + len, chunk + (size_t)n - take, take);
        len += take;
    }
    close(fds[0]);
    if (buf)
        buf[len] = '\0';
    *out = buf;
    return wait_status(pid);
}

char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (!buf)
        return NULL;
    buf[got] = '\0';
    if (len)
        *len = got;
    return buf;
}

int write_file(const char *path, const char *data, size_t len, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    return close(fd);
}

int mkdirs(const char *path, int mode)
{
    char p[4096];
    if (snprintf(p, sizeof p, "%s", path) >= (int)sizeof p)
        return errno = ENAMETOOLONG, -1;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, (mode_t)mode) < 0 && errno != EEXIST ? -1 : 0;
}

bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void prepend_env(const char *name, const char *dir)
{
    const char *old = getenv(name);
    if (!old || !*old) {
        setenv(name, dir, 1);
        return;
    }
    size_t n = strlen(dir) + strlen(old) + 2;
    char *v = malloc(n);
    if (!v)
        return;
    snprintf(v, n, "%s:%s", dir, old);
    setenv(name, v, 1);
    free(v);
}

void tool_env(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    if (is_dir(tool.pkgconfig))
        prepend_env("PKG_CONFIG_PATH", tool.pkgconfig);
    prepend_env("CMAKE_PREFIX_PATH", tool.prefix);
}
