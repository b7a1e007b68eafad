/* @NAME@: the application factory, shared by main.c and the tests. */
#ifndef APP_H
#define APP_H

#include <vial.h>

/* A new app with every route of @NAME@ registered (NULL when out of
 * memory); the caller runs it (vial_run) or tests it (vial_test), and frees
 * it with vial_app_free(). */
vial_app *app_create(void);

#endif
