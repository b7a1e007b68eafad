/*
 * logs.h — the Log REST API blueprint of vial-server (apps/logs/logs.c).
 */
#ifndef VIAL_APPS_LOGS_H
#define VIAL_APPS_LOGS_H

#include <vial.h>

/* Declares the logs_* settings and registers the blueprint at the root.
 * Needs vial_db_init(app) first and the migrations in migrations/. */
int logs_register(vial_app *app);

#endif
