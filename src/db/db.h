/*
 * db.h — what the database module offers the others.  Its API is public
 * (vial_db_*, vial_rows_*, vial_batch_* in vial.h); modules that keep data
 * in the app's database (web's server-side sessions) include this header
 * to say so, and ship the tables they need as a built-in migration set.
 * Everything about backends is private to src/db (db_impl.h).
 */
#ifndef VIAL_DB_H
#define VIAL_DB_H

#include "../core/core.h"

/* One embedded migration: `version` is what schema_migrations records (it
 * must not collide with any other set's: "0001_vial_sessions"), `sql` a
 * script that runs unchanged on every backend.  Lists end with { NULL }. */
typedef struct vial__migration {
    const char *version;
    const char *sql;
} vial__migration;

/*
 * Registers a module's own migrations, applied in registration order among
 * the app's sets (after the db module's own, before migrations_dir), and
 * only when `when(app)` says the module will use them (NULL: always); it is
 * asked at migration time, with the configuration loaded.  `name` and
 * `list` are static.  May be called before vial_db_init().
 */
int vial__db_builtin_migrations(vial_app *app, const char *name, const vial__migration *list,
                                bool (*when)(vial_app *app));

#endif /* VIAL_DB_H */
