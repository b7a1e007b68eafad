/* @NAME@'s main: `@NAME@ [run|routes|migrate|help] [--option value]...` */
#include "app.h"

int main(int argc, char **argv)
{
    vial_app *app = app_create();
    if (!app)
        return 1;
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}
