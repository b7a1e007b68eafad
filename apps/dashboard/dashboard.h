/*
 * dashboard.h — the browser face of vial-server (apps/dashboard/dashboard.c).
 */
#ifndef VIAL_APPS_DASHBOARD_H
#define VIAL_APPS_DASHBOARD_H

#include <vial.h>

/* Registers the pages (/, /login, /register, /logout, /me, /explorer) and
 * sessions.  Needs the logs and users blueprints registered first. */
int dashboard_register(vial_app *app);

#endif
