-- Search by tiers (apps/music/search.c): the app's FTS5 queries now name
-- columns and exclude earlier tiers, '{name artists}: ("love" "nig"*) NOT
-- ({name}: ("love" "nig"*))', and order by the document's rowid (the song's
-- id under the word count of its name) instead of a rank.  Documents
-- indexed before keep rowid = song id, which the app reads the same way.

-- The queries the app writes for FTS5 (apps/music/search.c), as tsqueries:
-- a group '{name artists}: ("love" "nig"*)' is 'love':AB & 'nig':*AB (the
-- columns are the weights), and 'G NOT (H OR K)' is G & !(H | K).
CREATE FUNCTION music_group_tsquery(g TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $$
    SELECT '(' || coalesce(string_agg(quote_literal(m[1]) || ':' || m[2] || w.weights, ' & '), '') || ')'
    FROM (SELECT coalesce(replace(replace(replace(replace(substring(g FROM '^\{([a-z ]+)\}'), 'name', 'A'),
                                                  'artists', 'B'), 'album', 'C'), ' ', ''), '') AS weights) w,
         regexp_matches(g, '"([^"]+)"(\*?)', 'g') AS m
$$;

CREATE OR REPLACE FUNCTION music_tsquery(q TEXT) RETURNS tsquery LANGUAGE sql IMMUTABLE AS $$
    SELECT (music_group_tsquery(split_part(q, ' NOT (', 1)) ||
            coalesce(' & !(' || (SELECT string_agg(music_group_tsquery(g[1]), ' | ')
                                 FROM regexp_matches(substring(q FROM ' NOT \((.*)\)$'),
                                                     '(\{[a-z ]+\}: \([^)]*\))', 'g') AS g) || ')', ''))::tsquery
$$;

-- SELECT rowid FROM music_fts($1): the documents that match, as FTS5's
-- table-valued function gives them (it has a rank too, bm25, which the app
-- does not order by: see apps/music/search.c).
DROP FUNCTION music_fts(TEXT);
CREATE FUNCTION music_fts(q TEXT) RETURNS TABLE (rowid BIGINT)
LANGUAGE sql STABLE AS $$
    SELECT f.rowid FROM music_fts f WHERE f.vec @@ music_tsquery(q)
$$;

