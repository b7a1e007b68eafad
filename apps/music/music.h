/*
 * music.h — the music catalogue blueprint of vial-server (apps/music/).
 */
#ifndef VIAL_APPS_MUSIC_H
#define VIAL_APPS_MUSIC_H

#include <vial.h>

/* Registers the /api blueprint (songs, albums, artists, statistics,
 * playlists), the import-songs command and the migration set "music"
 * (apps/music/migrations, under migrations_root: after the users set, whose
 * table playlists belong to).  Needs vial_db_init(app) and users_register(). */
int music_register(vial_app *app);

/* The audio features filters, sorts, statistics and histograms take, in
 * the API's order: NULL-terminated, static. */
const char *const *music_feature_names(void);

#endif
