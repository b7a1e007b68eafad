/*
 * users.h — the users blueprint of vial-server (apps/users/users.c).
 */
#ifndef VIAL_APPS_USERS_H
#define VIAL_APPS_USERS_H

#include <vial.h>

/* Sets up the auth module with vial-server's accounts and registers the
 * /api blueprint and the createuser command.  Needs vial_db_init(app). */
int users_register(vial_app *app);
/* Failed logins since start (for metrics). */
long long users_login_failures(void);

#endif
