-- Search by tiers (apps/music/search.c): nothing to change in the schema.
-- The app's FTS5 queries name columns and exclude earlier tiers, and read a
-- tier in rowid order; the importer now gives a search document the rowid
-- music_doc_rowid() makes (the song's id under the word count of its name).
-- Documents indexed before keep rowid = song id, which the app reads the
-- same way (rowid & 0xffffffff): they sort first in their tier until the
-- next import rebuilds them.  The PostgreSQL migration of this version
-- replaces music_fts(), which parses those queries there.
SELECT 1;
