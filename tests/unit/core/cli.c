/* Unit tests for src/core/cli.c: vial_prompt_password() reading from stdin
 * when it is not a terminal (the terminal path needs a pty). */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prompt_from_a_pipe),
    };
    return RUN_GROUP(tests);
}
