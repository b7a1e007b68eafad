/*
 * new.c — `vial new NAME [DIR]`: copies the skeleton (share/vial/skeleton)
 * into DIR, replacing @NAME@ in every file (and naming "gitignore"
 * .gitignore).  The result builds against the
 * installed vial with CMake (find_package(vial)) or pkg-config, and its
 * tests pass as it is.
 */
#include "tool.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A name that is a CMake project and target name, a file name and (with
 * '-' as '_') close to a C identifier: [a-z][a-z0-9_-]*, short. */
static bool good_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

static char *substitute(const char *src, size_t len, const char *name, size_t *outlen)
{
    static const char key[] = "@NAME@";
    size_t kl = sizeof key - 1, nl = strlen(name), count = 0;
    for (const char *p = src; (p = memmem(p, len - (size_t)(p - src), key, kl)); p += kl)
        count++;
    size_t n = len + count * nl; /* nl >= 1 and each key is replaced: an upper bound */
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    const char *p = src, *end = src + len, *k;
    while ((k = memmem(p, (size_t)(end - p), key, kl))) {
        memcpy(o, p, (size_t)(k - p));
        o += k - p;
        memcpy(o, name, nl);
        o += nl;
        p = k + kl;
    }
    memcpy(o, p, (size_t)(end - p));
    o += end - p;
    *o = '\0';
    *outlen = (size_t)(o - out);
    return out;
}

static int copy_tree(const char *from, const char *to, const char *name)
{
    DIR *d = opendir(from);
    if (!d) {
        fprintf(stderr, "vial: %s: %s\n", from, strerror(errno));
        return -1;
    }
    if (mkdirs(to, 0755) < 0) {
        fprintf(stderr, "vial: cannot create %s: %s\n", to, strerror(errno));
        closedir(d);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char s[4096], t[4096];
        snprintf(s, sizeof s, "%s/%s", from, e->d_name);
        /* Shipped as "gitignore": a packaged .gitignore is a VCS file to
         * Debian (lintian), and would apply to the skeleton in vial's own
         * tree. */
        snprintf(t, sizeof t, "%s/%s", to, strcmp(e->d_name, "gitignore") ? e->d_name : ".gitignore");
        if (is_dir(s)) {
            rc = copy_tree(s, t, name);
            continue;
        }
        size_t len, outlen;
        char *src = read_file(s, &len);
        char *out = src ? substitute(src, len, name, &outlen) : NULL;
        if (!out || write_file(t, out, outlen, 0644) < 0) {
            fprintf(stderr, "vial: cannot write %s: %s\n", t, strerror(errno));
            rc = -1;
        }
        free(src);
        free(out);
    }
    closedir(d);
    return rc;
}

int cmd_new(int argc, char **argv)
{
    if (argc < 1 || argc > 2) {
        fputs("usage: vial new NAME [DIR]\n", stderr);
        return 2;
    }
    const char *name = argv[0], *dir = argc > 1 ? argv[1] : argv[0];
    if (!good_name(name))
        die("'%s' is not a project name: a lower-case letter, then letters, digits, _ or -", name);
    char skel[8192 + 16];
    snprintf(skel, sizeof skel, "%s/skeleton", tool.datadir);
    if (!is_dir(skel))
        die("the project skeleton is missing (%s): is vial installed?", skel);
    struct stat st;
    if (stat(dir, &st) == 0) {
        /* An empty folder is fine (made by hand, or a fresh git clone). */
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;
        while (d && (e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, ".git"))
                n++;
        if (d)
            closedir(d);
        if (!d || n)
            die("%s exists and is not empty", dir);
    }
    if (copy_tree(skel, dir, name))
        return 1;
    printf("Created %s/ (project %s). Next:\n\n"
           "  cd %s\n"
           "  make run     # http://127.0.0.1:5000, rebuilt and restarted when you save\n"
           "  make test    # its tests\n",
           dir, name, dir);
    return 0;
}
