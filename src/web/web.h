/*
 * web.h — what the web module offers the others: nothing beyond its
 * public API (static files, forms and uploads, sessions and CSRF in
 * vial.h).  It is the header the module's own files start from: web sits
 * on core and uses auth (keys and MACs), kv and db (server-side sessions).
 */
#ifndef VIAL_WEB_H
#define VIAL_WEB_H

#include "../auth/auth.h"
#include "../core/core.h"
#include "../db/db.h"
#include "../kv/kv.h"

#endif /* VIAL_WEB_H */
