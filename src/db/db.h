/*
 * db.h — what the database module offers the others.  Its API is public
 * (vial_db_*, vial_rows_*, vial_batch_* in vial.h); modules that keep data
 * in the app's database (web's server-side sessions) include this header
 * to say so.  Everything about backends is private to src/db (db_impl.h).
 */
#ifndef VIAL_DB_H
#define VIAL_DB_H

#include "../core/core.h"

#endif /* VIAL_DB_H */
