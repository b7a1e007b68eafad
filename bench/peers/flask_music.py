"""The music catalogue's reads as the original design would serve them: Flask + SQLAlchemy
over the same SQLite database vial-server imported (bench/music.sh; gunicorn -k sync -w 1,
/usr/bin/python3, Debian python3-flask and python3-sqlalchemy).

The same paths and JSON shapes as vial-server's music blueprint, written the obvious way:
- GET /api/songs/<id>: the song, its album and its artists in order (three SELECTs);
- GET /api/songs?q=WORDS&limit=N: the same FTS5 table, ranked by its bm25 (ORDER BY rank, the
  obvious way; vial-server ranks by tiers it reads in index order, apps/music/search.c) (a fair
  search: the words are what vial_fold_words gives for plain ASCII, lower-case);
- GET /api/songs/random?n=N[&year_min=&year_max=]: ORDER BY random() LIMIT N;
- GET /api/stats/years: GROUP BY year with AVG() of each feature;
- GET /api/stats/histogram?feature=F&bins=B[&year_min=&year_max=]: MIN/MAX, then GROUP BY bin.
One connection per worker process (SQLAlchemy's pool), no caching of results.
"""
import os

from flask import Flask, abort, jsonify, request
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["DATABASE_URL"])
app = Flask(__name__)

FEATURES = ["danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness", "valence",
            "tempo", "loudness", "duration_ms"]
SONG_COLS = ("s.id, s.spotify_id, s.name, al.spotify_id AS album_id, al.name AS album_name, s.track_number, "
             "s.disc_number, s.explicit, s.danceability, s.energy, s.key, s.loudness, s.mode, s.speechiness, "
             "s.acousticness, s.instrumentalness, s.liveness, s.valence, s.tempo, s.duration_ms, "
             "s.time_signature, s.year, s.release_date")


def song_json(conn, r):
    artists = conn.execute(text("SELECT a.spotify_id, a.name FROM song_artists sa JOIN artists a ON a.id = sa.artist_id "
                                "WHERE sa.song_id = :s ORDER BY sa.position"), {"s": r.id}).all()
    return {"id": r.spotify_id, "name": r.name, "album": {"id": r.album_id, "name": r.album_name},
            "artists": [{"id": a.spotify_id, "name": a.name} for a in artists],
            "track_number": r.track_number, "disc_number": r.disc_number, "explicit": bool(r.explicit),
            "danceability": r.danceability, "energy": r.energy, "key": r.key, "loudness": r.loudness,
            "mode": r.mode, "speechiness": r.speechiness, "acousticness": r.acousticness,
            "instrumentalness": r.instrumentalness, "liveness": r.liveness, "valence": r.valence,
            "tempo": r.tempo, "duration_ms": r.duration_ms, "time_signature": r.time_signature,
            "year": r.year or None, "release_date": r.release_date}


def years():
    where, args = [], {}
    for k, op in (("year_min", ">="), ("year_max", "<=")):
        if request.args.get(k):
            where.append(f"s.year {op} :{k}")
            args[k] = int(request.args[k])
    return where, args


@app.get("/api/songs/<sid>")
def get_song(sid):
    with engine.connect() as conn:
        r = conn.execute(text(f"SELECT {SONG_COLS} FROM songs s JOIN albums al ON al.id = s.album_id "
                              "WHERE s.spotify_id = :id"), {"id": sid}).first()
        if r is None:
            abort(404)
        return jsonify(song_json(conn, r))


@app.get("/api/songs")
def list_songs():
    q = request.args.get("q", "")
    limit = int(request.args.get("limit", 50))
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {SONG_COLS} FROM music_fts f JOIN songs s ON s.id = (f.rowid & 4294967295) "
                                 "JOIN albums al ON al.id = s.album_id WHERE music_fts MATCH :q "
                                 "ORDER BY f.rank, s.id LIMIT :n"), {"q": q, "n": limit}).all()
        return jsonify([song_json(conn, r) for r in rows])


@app.get("/api/songs/random")
def random_songs():
    n = int(request.args.get("n", 10))
    where, args = years()
    args["n"] = n
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {SONG_COLS} FROM songs s JOIN albums al ON al.id = s.album_id "
                                 + ("WHERE " + " AND ".join(where) if where else "")
                                 + " ORDER BY random() LIMIT :n"), args).all()
        return jsonify([song_json(conn, r) for r in rows])


@app.get("/api/stats/years")
def year_stats():
    avgs = ", ".join(f"avg({f}) AS {f}" for f in FEATURES)
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT year, count(*) AS songs, {avgs} FROM songs WHERE year > 0 "
                                 "GROUP BY year ORDER BY year")).all()
        return jsonify([dict(r._mapping) for r in rows])


@app.get("/api/stats/histogram")
def histogram():
    f = request.args.get("feature")
    if f not in FEATURES:
        abort(400)
    bins = int(request.args.get("bins", 20))
    where, args = years()
    cond = ("WHERE " + " AND ".join(where)) if where else ""
    with engine.connect() as conn:
        lo, hi, n = conn.execute(text(f"SELECT min({f}), max({f}), count(*) FROM songs s {cond}"), args).one()
        if not n:
            return jsonify({"feature": f, "songs": 0, "bins": []})
        w = (hi - lo) / bins or 1
        args.update(lo=lo, w=w, last=bins - 1)
        rows = conn.execute(text(f"SELECT min(CAST(({f} - :lo) / :w AS INTEGER), :last) AS b, count(*) AS c "
                                 f"FROM songs s {cond} GROUP BY b ORDER BY b"), args).all()
        counts = {r.b: r.c for r in rows}
        return jsonify({"feature": f, "songs": n,
                        "bins": [{"lo": lo + i * w, "hi": lo + (i + 1) * w, "count": counts.get(i, 0)}
                                 for i in range(bins)]})
