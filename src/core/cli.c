/*
 * cli.c — conveniences for an app's own commands (vial_command): reading a
 * password from the terminal without echoing it.
 *
 * A command that creates an account or rotates a key needs a secret from
 * the operator; taking it from argv would leave it in the shell history and
 * in /proc for every user to read, so it is prompted for, or read from
 * stdin when that is not a terminal (scripts, `echo pw | prog createuser`).
 */
#include "core.h"

#include <stdio.h>
#include <termios.h>
#include <unistd.h>

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
