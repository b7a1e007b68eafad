/*
 * run.c — building a project and running its app: `vial build`, `test`,
 * `run`, and the app's own commands.
 *
 * `vial run --debug` is a reloader that keeps the listening socket.  The
 * watcher binds the address itself and hands the socket to each generation
 * of the app as descriptor 3 (VIAL_LISTEN_FDS=1: the hand-over vial-server
 * already uses for reloads and socket activation, src/loop/proc.c).  When a
 * source changes, the running app is stopped at once — so no request after
 * the save reaches the old code — while connections wait in the kernel's
 * queue of the socket, which the watcher never closes; the project is
 * rebuilt and the new app accepts them.  When the build fails (or the app
 * exits on its own), the watcher answers every request itself with the
 * compiler's (or the app's last) output as an HTML page, until the next
 * change builds.  Nothing is refused at any point: a browser's next
 * request just works, or shows why it cannot.
 */
#include "tool.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#define BUILD_DIR "build"
#define OUT_CAP (256u << 10)  /* build output kept for the error page */
#define LOG_CAP (32u << 10)   /* the app's last output kept for the page */

/* ------------------------------------------------------------------ the project */

/* The name in CMakeLists.txt's project(NAME ...): the executable's name. */
static int cmake_project_name(char *out, size_t cap)
{
    char *s = read_file("CMakeLists.txt", NULL);
    if (!s)
        return -1;
    int rc = -1;
    for (char *p = s; (p = strstr(p, "project")); p += 7) {
        if (p > s && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue; /* cmake_minimum_required ... project_x */
        char *q = p + 7;
        while (*q == ' ' || *q == '\t')
            q++;
        if (*q != '(')
            continue;
        q++;
        while (isspace((unsigned char)*q))
            q++;
        size_t n = strcspn(q, " \t\r\n)");
        if (n && n < cap && *q != '$') {
            memcpy(out, q, n);
            out[n] = '\0';
            rc = 0;
        }
        break;
    }
    free(s);
    return rc;
}

int project_open(project *p, const char *source)
{
    memset(p, 0, sizeof *p);
    if (source) {
        if (!is_file(source))
            die("%s: no such file", source);
        p->source = source;
        const char *base = strrchr(source, '/');
        base = base ? base + 1 : source;
        size_t n = strlen(base);
        if (n > 2 && !strcmp(base + n - 2, ".c"))
            n -= 2;
        if (n >= sizeof p->name)
            die("%s: name too long", source);
        memcpy(p->name, base, n);
        p->name[n] = '\0';
        p->build_dir = ".vial";
        snprintf(p->exe, sizeof p->exe, ".vial/%s", p->name);
        return 0;
    }
    if (!is_file("CMakeLists.txt"))
        die("no CMakeLists.txt here: run inside a project (vial new NAME makes one), "
            "or name a single file: vial run app.c");
    if (cmake_project_name(p->name, sizeof p->name))
        die("CMakeLists.txt: cannot find project(NAME)");
    p->build_dir = BUILD_DIR;
    snprintf(p->exe, sizeof p->exe, "%s/%s", BUILD_DIR, p->name);
    return 0;
}

/* Appends b to *a (both malloc'd or NULL). */
static void join(char **a, char *b)
{
    if (!b)
        return;
    if (!*a) {
        *a = b;
        return;
    }
    size_t la = strlen(*a), lb = strlen(b);
    char *c = realloc(*a, la + lb + 1);
    if (c) {
        memcpy(c + la, b, lb + 1);
        *a = c;
    }
    free(b);
}

int project_build(project *p, char **out)
{
    char *log = NULL, *part = NULL;
    int rc;
    bool collect = out || p->quiet;
    if (p->source) {
        mkdirs(".vial", 0755);
        /* One file, pkg-config's flags, and an rpath to this vial's lib
         * (a prefix outside the loader's path needs it to start). */
        char rpath[4200];
        snprintf(rpath, sizeof rpath, "-Wl,-rpath,%s/%s", tool.prefix, VIAL_LIBDIR);
        char *argv[] = { "sh", "-c",
                         "flags=$(pkg-config --cflags --libs vial) || exit 1; "
                         "exec ${CC:-cc} -g -O1 -Wall -Wextra -o \"$1\" \"$2\" $flags \"$3\"",
                         "sh", p->exe, (char *)p->source, rpath, NULL };
        rc = run_cmd(argv, collect ? &log : NULL, OUT_CAP, p->quiet);
    } else {
        rc = 0;
        char cache[4200];
        snprintf(cache, sizeof cache, "%s/CMakeCache.txt", p->build_dir);
        if (!is_file(cache)) {
            char *argv[] = { "cmake", "-S", ".", "-B", (char *)p->build_dir,
                             "-DCMAKE_BUILD_TYPE=Debug", NULL };
            rc = run_cmd(argv, collect ? &log : NULL, OUT_CAP, p->quiet);
        }
        if (rc == 0) {
            char jobs[32];
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            snprintf(jobs, sizeof jobs, "-j%ld", n > 0 ? n : 2);
            char *argv[] = { "cmake", "--build", (char *)p->build_dir, jobs,
                             p->app_only ? "--target" : NULL, p->name, NULL };
            rc = run_cmd(argv, collect ? &part : NULL, OUT_CAP, p->quiet);
            join(&log, part);
        }
    }
    if (rc == 0 && !is_file(p->exe)) {
        char msg[4400];
        snprintf(msg, sizeof msg, "\nvial: the build made no %s (is the executable named after "
                                  "the project?)\n", p->exe);
        join(&log, strdup(msg));
        if (!collect || p->quiet)
            fputs(msg, stderr);
        rc = 1;
    }
    if (rc != 0 && p->quiet && log)
        fputs(log, stderr); /* quiet until it fails */
    if (out)
        *out = log;
    else
        free(log);
    return rc;
}

/* ------------------------------------------------------------------ settings */

/* A development SECRET_KEY, kept in .vial/secret_key (0600): sessions, CSRF
 * tokens and JWTs survive the restarts of a reloader, which a random key
 * per process (the framework's --debug default) would not.  Only when the
 * key is set nowhere else: the environment, or vial.ini (which the
 * environment would override). */
static void dev_secret(void)
{
    if (getenv("SECRET_KEY") || getenv("VIAL_SECRET_KEY"))
        return;
    char *ini = read_file("vial.ini", NULL);
    bool in_ini = ini && strstr(ini, "secret_key");
    free(ini);
    if (in_ini)
        return;
    char *key = read_file(".vial/secret_key", NULL);
    if (!key || strlen(key) < 32) {
        free(key);
        unsigned char raw[32];
        if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
            return;
        key = malloc(2 * sizeof raw + 1);
        if (!key)
            return;
        for (size_t i = 0; i < sizeof raw; i++)
            snprintf(key + 2 * i, 3, "%02x", raw[i]);
        mkdirs(".vial", 0755);
        unlink(".vial/secret_key");
        if (write_file(".vial/secret_key", key, strlen(key), 0600) == 0)
            note("a development SECRET_KEY is kept in .vial/secret_key");
    }
    key[strcspn(key, "\r\n")] = '\0';
    setenv("SECRET_KEY", key, 1);
    free(key);
}

/* `key = value` of vial.ini's top level (sections ignored), in buf. */
static const char *ini_get(const char *key, char *buf, size_t cap)
{
    char *s = read_file("vial.ini", NULL);
    const char *found = NULL;
    for (char *line = s ? strtok(s, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        while (isspace((unsigned char)*line))
            line++;
        if (*line == ';' || *line == '#' || *line == '[')
            continue;
        size_t kl = strlen(key);
        if (strncmp(line, key, kl))
            continue;
        char *v = line + kl;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strcspn(v, ";#\r");
        while (n && isspace((unsigned char)v[n - 1]))
            n--;
        if (n < cap) {
            memcpy(buf, v, n);
            buf[n] = '\0';
            found = buf;
        }
    }
    free(s);
    return found;
}

/* A setting as the app would see it, flag aside: VIAL_KEY, KEY, vial.ini, default. */
static const char *setting(const char *key, const char *env, const char *def, char *buf, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "VIAL_%s", env);
    const char *v = getenv(name);
    if (!v || !*v)
        v = getenv(env);
    if (v && *v)
        return v;
    v = ini_get(key, buf, cap);
    return v && *v ? v : def;
}

/* ------------------------------------------------------------------ build, test, app commands */

int cmd_build(int argc, char **argv)
{
    project p;
    project_open(&p, argc > 0 && strstr(argv[0], ".c") ? argv[0] : NULL);
    return project_build(&p, NULL) ? 1 : 0;
}

int cmd_test(int argc, char **argv)
{
    project p;
    project_open(&p, NULL);
    if (project_build(&p, NULL))
        return 1;
    char **args = calloc((size_t)argc + 6, sizeof *args);
    if (!args)
        return 1;
    int n = 0;
    args[n++] = "ctest";
    args[n++] = "--test-dir";
    args[n++] = (char *)p.build_dir;
    args[n++] = "--output-on-failure";
    for (int i = 0; i < argc; i++)
        args[n++] = argv[i];
    int rc = run_cmd(args, NULL, 0, false);
    free(args);
    return rc ? 1 : 0;
}

int cmd_app(const char *command, int argc, char **argv)
{
    project p;
    const char *src = argc > 0 && strlen(argv[0]) > 2 && !strcmp(argv[0] + strlen(argv[0]) - 2, ".c")
                          ? argv[0] : NULL;
    project_open(&p, src);
    if (src) {
        argc--;
        argv++;
    }
    p.quiet = true;
    p.app_only = true;
    if (project_build(&p, NULL))
        return 1;
    dev_secret();
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args)
        return 1;
    args[0] = p.exe;
    args[1] = (char *)command;
    for (int i = 0; i < argc; i++)
        args[i + 2] = argv[i];
    fflush(NULL);
    execv(p.exe, args);
    die("cannot run %s: %s", p.exe, strerror(errno));
}

/*
 * `vial dbshell`: the database's own shell (Django's dbshell; C has no
 * REPL to offer, the data is what one pokes at): sqlite3 on the file of a
 * sqlite:// URL, psql on a postgresql:// one.  The URL is found as the app
 * finds it, flags aside (VIAL_DATABASE_URL, DATABASE_URL, vial.ini, the
 * framework's default).
 */
int cmd_dbshell(int argc, char **argv)
{
    char buf[4096];
    const char *url = setting("database_url", "DATABASE_URL", "sqlite:///data/vial.db", buf, sizeof buf);
    char **args = calloc((size_t)argc + 3, sizeof *args);
    if (!args)
        return 1;
    if (!strncmp(url, "sqlite://", 9)) {
        const char *path = url + 9;
        if (!strcmp(path, ":memory:"))
            die("database_url is sqlite://:memory:: nothing outlives the app to look at");
        if (*path == '/')
            path++; /* sqlite:///rel/path, sqlite:////abs/path */
        if (!is_file(path))
            die("%s does not exist yet: start the app or run `vial migrate` first", path);
        args[0] = "sqlite3";
        args[1] = (char *)path;
    } else if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11)) {
        args[0] = "psql";
        args[1] = (char *)url;
    } else {
        die("database_url '%s': neither sqlite:// nor postgresql://", url);
    }
    for (int i = 0; i < argc; i++)
        args[i + 2] = argv[i];
    fflush(NULL);
    execvp(args[0], args);
    die("cannot run %s: %s (Debian: apt-get install %s)", args[0], strerror(errno),
        args[0][0] == 's' ? "sqlite3" : "postgresql-client");
}

/* ------------------------------------------------------------------ the reloader */

typedef struct {
    project *p;
    char **app_args;    /* argv of the app: exe, "run", "--debug", extra..., NULL */
    int lfd;            /* the listening socket, held for the whole run */
    int ino;            /* inotify */
    int sig;            /* signalfd: SIGCHLD, SIGINT, SIGTERM, SIGHUP */
    pid_t child;        /* the app, 0: none */
    int child_out;      /* its stdout+stderr, read into `log` */
    char log[LOG_CAP];  /* the app's last output (a ring, as text) */
    size_t loglen;
    char *page;         /* the page served while there is no app (malloc'd) */
    char where[300];
    char root[PATH_MAX]; /* the folder watched */
} reloader;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int listen_on(const char *host, const char *port, char *where, size_t cap)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res, *a;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc)
        die("%s:%s: %s", host, port, gai_strerror(rc));
    int fd = -1;
    for (a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        close(fd);
        fd = -1;
    }
    int err = errno;
    freeaddrinfo(res);
    if (fd < 0)
        die("cannot listen on %s:%s: %s", host, port, strerror(err));
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char h[NI_MAXHOST] = "?", s[NI_MAXSERV] = "?";
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        getnameinfo((struct sockaddr *)&ss, len, h, sizeof h, s, sizeof s,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(where, cap, strchr(h, ':') ? "http://[%s]:%s" : "http://%s:%s", h, s);
    return fd;
}

/* Folders not to watch: builds, data, VCS and dependency trees. */
static bool skip_dir(const reloader *r, const char *name)
{
    return name[0] == '.' || !strcmp(name, r->p->build_dir) || !strcmp(name, BUILD_DIR) ||
           !strcmp(name, "data") || !strcmp(name, "node_modules");
}

static void watch_tree(reloader *r, const char *dir)
{
    uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE |
                    IN_ONLYDIR;
    if (inotify_add_watch(r->ino, dir, mask) < 0) {
        note("cannot watch %s: %s", dir, strerror(errno));
        return;
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (skip_dir(r, e->d_name))
            continue;
        char sub[PATH_MAX];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (is_dir(sub))
            watch_tree(r, sub);
    }
    if (d)
        closedir(d);
}

/* Whether a changed file needs a rebuild and restart.  Templates and
 * static files do not: the app re-reads templates in debug mode. */
static bool relevant(const char *name)
{
    static const char *const ext[] = { ".c", ".h", ".cmake", ".sql", ".ini" };
    size_t n = strlen(name);
    if (!strcmp(name, "CMakeLists.txt"))
        return true;
    if (name[0] == '.' || name[0] == '#' || (n && name[n - 1] == '~'))
        return false; /* editors' backup, lock and swap files */
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        size_t l = strlen(ext[i]);
        if (n > l && !strcmp(name + n - l, ext[i]))
            return true;
    }
    return false;
}

/* Reads what inotify has (waiting up to `ms`); true if a relevant file
 * changed.  New folders are watched as they appear. */
static bool changes(reloader *r, int ms)
{
    bool any = false;
    struct pollfd pfd = { r->ino, POLLIN, 0 };
    while (poll(&pfd, 1, ms) > 0) {
        char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(r->ino, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            p += sizeof *e + e->len;
            if (!e->len)
                continue;
            if (e->mask & IN_ISDIR) {
                if ((e->mask & (IN_CREATE | IN_MOVED_TO)) && !skip_dir(r, e->name))
                    any = true; /* a new folder may hold sources: watch it on the next start */
                continue;
            }
            if (relevant(e->name))
                any = true;
        }
        ms = 0;
    }
    return any;
}

static void log_append(reloader *r, const char *s, size_t n)
{
    if (n >= LOG_CAP) {
        s += n - LOG_CAP / 2;
        n = LOG_CAP / 2;
    }
    if (r->loglen + n > LOG_CAP) {
        size_t drop = r->loglen + n - LOG_CAP;
        memmove(r->log, r->log + drop, r->loglen - drop);
        r->loglen -= drop;
    }
    memcpy(r->log + r->loglen, s, n);
    r->loglen += n;
}

static void read_child_out(reloader *r)
{
    char buf[8192];
    ssize_t n;
    while ((n = read(r->child_out, buf, sizeof buf)) > 0) {
        (void)!write(STDERR_FILENO, buf, (size_t)n);
        log_append(r, buf, (size_t)n);
    }
    if (n == 0) {
        close(r->child_out);
        r->child_out = -1;
    }
}

static void html_escape_into(char **out, size_t *len, size_t *cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\x1b') { /* colour escapes: ESC [ ... letter */
            while (i + 1 < n && !isalpha((unsigned char)s[i + 1]))
                i++;
            i++;
            continue;
        }
        const char *rep = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" :
                          c == '"' ? "&quot;" : c == '\'' ? "&#39;" : NULL;
        size_t rl = rep ? strlen(rep) : 1;
        if (*len + rl + 1 > *cap) {
            size_t nc = (*cap + rl + 1) * 2;
            char *b = realloc(*out, nc);
            if (!b)
                return;
            *out = b;
            *cap = nc;
        }
        if (rep)
            memcpy(*out + *len, rep, rl);
        else
            (*out)[*len] = c;
        *len += rl;
        (*out)[*len] = '\0';
    }
}

/* The page served while no app runs: a title, a sentence, the output. */
static void set_page(reloader *r, const char *title, const char *what, const char *text, size_t n)
{
    free(r->page);
    size_t len = 0, cap = n * 2 + 2048;
    char *page = malloc(cap);
    if (!page) {
        r->page = NULL;
        return;
    }
    len = (size_t)snprintf(page, cap,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>%s — %s</title><style>"
        "body{font:15px/1.5 system-ui,sans-serif;margin:2rem;color:#222}"
        "h1{color:#b00020;font-size:1.4rem}"
        "pre{background:#1e1e1e;color:#eee;padding:1rem;overflow:auto;white-space:pre-wrap;"
        "font:13px/1.4 ui-monospace,monospace}</style></head>\n<body>\n"
        "<h1>%s</h1>\n<p>%s</p>\n<pre>", title, r->p->name, title, what);
    html_escape_into(&page, &len, &cap, text ? text : "", text ? n : 0);
    const char *tail = "</pre>\n<p><small>vial run --debug</small></p>\n</body></html>\n";
    html_escape_into(&page, &len, &cap, "", 0);
    size_t tl = strlen(tail);
    if (len + tl + 1 > cap) {
        char *b = realloc(page, len + tl + 1);
        if (!b) {
            free(page);
            r->page = NULL;
            return;
        }
        page = b;
    }
    memcpy(page + len, tail, tl + 1);
    r->page = page;
}

/* Answers one connection with the page (500, Connection: close).  Bounded:
 * a client that does not send its request within 2 s is dropped. */
static void serve_page(reloader *r)
{
    int c = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return; /* EAGAIN: the app set the shared socket non-blocking; or gone */
    struct timeval tv = { 2, 0 };
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char req[65536];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t n = recv(c, req + got, sizeof req - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
            break;
    }
    if (got) {
        bool head = got >= 5 && !memcmp(req, "HEAD ", 5);
        const char *body = r->page ? r->page : "vial run --debug: no app\n";
        size_t bl = strlen(body);
        char hdr[512];
        int hl = snprintf(hdr, sizeof hdr,
                          "HTTP/1.1 500 Internal Server Error\r\n"
                          "Content-Type: text/html; charset=utf-8\r\n"
                          "Content-Length: %zu\r\n"
                          "Cache-Control: no-store\r\n"
                          "X-Content-Type-Options: nosniff\r\n"
                          "Connection: close\r\n\r\n", bl);
        (void)!send(c, hdr, (size_t)hl, MSG_NOSIGNAL);
        if (!head)
            (void)!send(c, body, bl, MSG_NOSIGNAL);
        /* Let the client read it all before the close: drain what it still
         * sends (a form body) briefly, so the close is not a reset. */
        shutdown(c, SHUT_WR);
        struct timeval shortv = { 0, 200000 };
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &shortv, sizeof shortv);
        for (int i = 0; i < 64 && recv(c, req, sizeof req, 0) > 0; i++)
            ;
    }
    close(c);
}

static void start_child(reloader *r)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));
    r->loglen = 0;
    fflush(NULL);
    pid_t me = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* the watcher gone: no orphan app */
        if (getppid() != me)
            _exit(1);
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        /* The listening socket as descriptor 3 (systemd's layout). */
        if (r->lfd != 3 && dup2(r->lfd, 3) < 0)
            _exit(127);
        fcntl(3, F_SETFD, 0);
        setenv("VIAL_LISTEN_FDS", "1", 1);
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        execv(r->p->exe, r->app_args);
        fprintf(stderr, "vial: cannot run %s: %s\n", r->p->exe, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    r->child_out = fds[0];
    r->child = pid;
}

static int reap(reloader *r, bool block)
{
    int st, status = -1;
    pid_t pid;
    while ((pid = waitpid(-1, &st, block ? 0 : WNOHANG)) > 0 || (pid < 0 && errno == EINTR)) {
        if (pid == r->child) {
            r->child = 0;
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
    }
    return status;
}

/* Stops the app: SIGTERM (it finishes in-flight requests), a second one
 * after 3 s (vial's "stop now"), SIGKILL after 5 s. */
static void stop_child(reloader *r)
{
    if (!r->child)
        return;
    kill(r->child, SIGTERM);
    long long t0 = now_ms();
    int sent = 1;
    while (r->child) {
        if (r->child_out >= 0)
            read_child_out(r);
        int st;
        pid_t pid = waitpid(r->child, &st, WNOHANG);
        if (pid == r->child) {
            r->child = 0;
            break;
        }
        long long t = now_ms() - t0;
        if (t > 3000 && sent == 1) {
            kill(r->child, SIGTERM);
            sent = 2;
        } else if (t > 5000 && sent == 2) {
            kill(r->child, SIGKILL);
            sent = 3;
        }
        usleep(10000);
    }
    if (r->child_out >= 0) {
        read_child_out(r);
        if (r->child_out >= 0)
            close(r->child_out);
        r->child_out = -1;
    }
}

/* Builds; on success starts the app, else sets the error page. */
static void rebuild(reloader *r)
{
    for (;;) {
        note("building %s", r->p->name);
        long long t0 = now_ms();
        char *out = NULL;
        int rc = project_build(r->p, &out);
        bool again = changes(r, 0); /* saved again while building */
        if (again) {
            free(out);
            note("changed during the build: again");
            continue;
        }
        if (rc == 0) {
            free(r->page);
            r->page = NULL;
            note("built in %lld ms; starting %s on %s", now_ms() - t0, r->p->exe, r->where);
            start_child(r);
        } else {
            note("build failed: the page at %s shows why until the next build succeeds", r->where);
            set_page(r, "Build failed",
                     "The project did not build. Fix the error and save: the next request is "
                     "served by the new build.", out, out ? strlen(out) : 0);
        }
        free(out);
        return;
    }
}

static int reloader_run(project *p, const char *host, const char *port, char **extra, int nextra)
{
    reloader r = { .p = p, .child_out = -1 };
    r.app_args = calloc((size_t)nextra + 4, sizeof *r.app_args);
    if (!r.app_args)
        return 1;
    r.app_args[0] = p->exe;
    r.app_args[1] = "run";
    r.app_args[2] = "--debug";
    for (int i = 0; i < nextra; i++)
        r.app_args[3 + i] = extra[i];

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    r.sig = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    r.ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (r.sig < 0 || r.ino < 0)
        die("signalfd/inotify: %s", strerror(errno));
    r.lfd = listen_on(host, port, r.where, sizeof r.where);
    note("serving %s on %s (debug; rebuilt and restarted when a source changes)", p->name, r.where);
    snprintf(r.root, sizeof r.root, "%s", p->source ? p->source : ".");
    char *slash = p->source ? strrchr(r.root, '/') : NULL;
    if (slash)
        *slash = '\0';
    else if (p->source)
        strcpy(r.root, ".");
    watch_tree(&r, r.root);
    rebuild(&r);

    int status = 0;
    for (;;) {
        struct pollfd pf[4] = { { r.sig, POLLIN, 0 }, { r.ino, POLLIN, 0 },
                                { r.child_out, POLLIN, 0 }, { r.child ? -1 : r.lfd, POLLIN, 0 } };
        if (poll(pf, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        if (pf[2].revents)
            read_child_out(&r);
        if (pf[0].revents) {
            struct signalfd_siginfo si;
            bool quit = false;
            while (read(r.sig, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGCHLD) {
                    if (r.child_out >= 0)
                        read_child_out(&r);
                    pid_t was = r.child;
                    int st = reap(&r, false);
                    if (was && !r.child) {
                        note("%s exited (status %d); waiting for a change", p->name, st);
                        char what[512];
                        snprintf(what, sizeof what, "%s exited with status %d. Its last output is "
                                 "below; save a change to build and start it again.", p->name, st);
                        if (r.child_out >= 0) {
                            close(r.child_out);
                            r.child_out = -1;
                        }
                        set_page(&r, "The app exited", what, r.log, r.loglen);
                    }
                } else {
                    quit = true;
                }
            }
            if (quit)
                break;
        }
        if (pf[1].revents && changes(&r, 0)) {
            /* Stop the old app at once, so no request after the save reaches
             * it; wait for the editor to finish writing, then build. */
            stop_child(&r);
            while (changes(&r, 150))
                ;
            watch_tree(&r, r.root); /* folders made meanwhile (re-adding is harmless) */
            rebuild(&r);
        }
        if (pf[3].revents)
            serve_page(&r);
    }
    note("stopping");
    stop_child(&r);
    free(r.page);
    free(r.app_args);
    close(r.lfd);
    return status;
}

int cmd_run(int argc, char **argv)
{
    bool debug = false;
    const char *source = NULL, *host = NULL, *port = NULL;
    char **extra = calloc((size_t)argc + 5, sizeof *extra);
    int nextra = 0;
    if (!extra)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            for (i++; i < argc; i++)
                extra[nextra++] = argv[i];
        } else if (!strcmp(a, "--debug")) {
            debug = true;
        } else if ((!strcmp(a, "--host") || !strcmp(a, "--port")) && i + 1 < argc) {
            *(a[2] == 'h' ? &host : &port) = argv[++i];
        } else if (!strncmp(a, "--host=", 7)) {
            host = a + 7;
        } else if (!strncmp(a, "--port=", 7)) {
            port = a + 7;
        } else if (a[0] != '-' && strlen(a) > 2 && !strcmp(a + strlen(a) - 2, ".c") && !source) {
            source = a;
        } else {
            extra[nextra++] = argv[i]; /* the app's own flags: --workers 2 */
        }
    }
    project p;
    project_open(&p, source);
    p.app_only = true;
    dev_secret();
    if (debug) {
        char hb[256], pb[32];
        host = host ? host : setting("host", "HOST", "127.0.0.1", hb, sizeof hb);
        port = port ? port : setting("port", "PORT", "5000", pb, sizeof pb);
        int rc = reloader_run(&p, host, port, extra, nextra);
        free(extra);
        return rc;
    }
    if (project_build(&p, NULL))
        return 1;
    char **args = calloc((size_t)nextra + 7, sizeof *args);
    if (!args)
        return 1;
    int n = 0;
    args[n++] = p.exe;
    args[n++] = "run";
    if (host) {
        args[n++] = "--host";
        args[n++] = (char *)host;
    }
    if (port) {
        args[n++] = "--port";
        args[n++] = (char *)port;
    }
    for (int i = 0; i < nextra; i++)
        args[n++] = extra[i];
    fflush(NULL);
    execv(p.exe, args);
    die("cannot run %s: %s", p.exe, strerror(errno));
}
