/* @NAME@'s main: `@NAME@ [run|routes|migrate|help] [--option value]...` */
#include "app.h"

int main(int argc, char **argv)
{
    return vial_main(app_create(), argc, argv); /* runs, then frees the app (NULL: out of memory) */
}
