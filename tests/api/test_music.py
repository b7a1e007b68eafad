"""The music catalogue of vial-server (issue 12), on SQLite and PostgreSQL.

Each backend gets a server on a catalogue imported from a generated file
(scripts/gen-songs.py: 3,000 songs with every quirk of the real file), and
every answer is compared with an independent model of the file
(music_support.Model: Python's csv and ast.literal_eval): songs, albums,
artists, every filter and sort, paging that visits each match once, search,
random samples (uniform by a chi-square test, within the filters, fewer
when fewer match), the per-year means and histograms (equal to counts and
means computed here), before and after imports that change the catalogue.
The importer's own cases — each quirk of the file, rejected rows with their
line and column, --strict, idempotence, standard input, repeated ids,
renames, progress output, an interrupted import — and the playlists (auth,
visibility, ordering, CSRF for the browser session) follow.
"""
from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time
import urllib.parse

import pytest

from conftest import binary, clean_env
from music_support import (FEATURES, HEADER, Model, close_enough, csv_text, fold, gen, import_songs, row,
                           write)
from users_support import (CHEAP_ARGON2, MIGRATIONS_ROOT, TRUST_LOOPBACK, Client, Database, PgCluster, error,
                           new_secret, pg_admin_url, start_server, uname, unauthorized)

BACKENDS = ("sqlite", "postgresql")
ROWS = 3000
LINK_RE = re.compile(r'^<([^>]*)>; rel="next"$')


# ---------------------------------------------------------------------------- environments


class Env:
    """vial-server on a fresh database holding a generated catalogue."""

    def __init__(self, backend, tmpdir, cluster, rows=ROWS, seed=7):
        self.backend = backend
        self.tmpdir = tmpdir
        self.db = Database(backend, tmpdir, cluster)
        self.secret = new_secret()
        self.srv = None
        self.clients = []
        self.text = gen.text(rows, seed)
        self.path = write(tmpdir / "songs.csv", self.text)
        self.model = Model().add_csv(self.text)
        self.first_import = import_songs(self.db, tmpdir, self.path, secret=self.secret)
        self.srv = start_server(self.db, tmpdir, *TRUST_LOOPBACK, *CHEAP_ARGON2, secret=self.secret)
        self.c = self.client()

    def client(self) -> Client:
        c = Client(self.srv)
        self.clients.append(c)
        return c

    def imp(self, *args, **kw):
        return import_songs(self.db, self.tmpdir, *args, secret=self.secret, **kw)

    def get(self, path, params=None, **kw):
        if params:
            path += "?" + urllib.parse.urlencode(params)
        return self.c.get(path, **kw)

    def ok(self, path, params=None):
        r = self.get(path, params)
        assert r.status_code == 200, (path, params, r.status_code, r.text[:500])
        assert r.headers["Content-Type"] == "application/json"
        return r.json()

    def all_pages(self, params, limit=None) -> list[dict]:
        """Every song of /api/songs for `params`, following the Links."""
        p = dict(params)
        if limit:
            p["limit"] = limit
        target = "/api/songs?" + urllib.parse.urlencode(p)
        out, seen_targets = [], set()
        while target:
            assert target not in seen_targets, "a Link points back"
            seen_targets.add(target)
            r = self.c.get(target)
            assert r.status_code == 200, (target, r.status_code, r.text[:300])
            page = r.json()
            assert len(page) <= (limit or 50)
            out += page
            links = [v for k, v in r.raw.headers.items() if k.lower() == "link"]
            target = None
            if links:
                m = LINK_RE.match(links[0])
                assert m, links
                target = m.group(1)
                assert target.startswith("/api/songs?"), target
                assert len(page) == (limit or 50), "a page with a successor is full"
        return out

    def close(self):
        for c in self.clients:
            c.close()
        problems = self.srv.problems(0) if self.srv else []
        self.db.close()
        return problems


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    made, cluster = {}, []

    def get(kind):
        if kind not in made:
            backend, _, size = kind.partition("-")
            c = None
            if backend == "postgresql":
                if not cluster:
                    cluster.append(PgCluster(pg_admin_url()))
                c = cluster[0]
            rows = 40 if size == "small" else ROWS
            made[kind] = Env(backend, tmp_path_factory.mktemp(kind), c, rows=rows, seed=11 if size else 7)
        return made[kind]

    yield get
    problems = []
    for e in made.values():
        problems += e.close()
    for c in cluster:
        c.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, envs) -> Env:
    return envs(request.param)


@pytest.fixture(scope="module", params=BACKENDS)
def small(request, envs) -> Env:
    return envs(request.param + "-small")


@pytest.fixture
def fresh(tmp_path, request):
    """A server of its own on an empty database (backend from the test's
    parameter, default SQLite): for tests that change the catalogue."""
    made = []

    def start(backend="sqlite"):
        cluster = PgCluster(pg_admin_url()) if backend == "postgresql" else None
        d = tmp_path / f"fresh{len(made)}"
        d.mkdir()
        e = Env.__new__(Env)
        e.backend, e.tmpdir, e.clients = backend, d, []
        e.db = Database(backend, d, cluster)
        e.secret = new_secret()
        e.srv = start_server(e.db, d, *TRUST_LOOPBACK, *CHEAP_ARGON2, secret=e.secret)
        e.c = e.client()
        e.model = Model()
        e._cluster = cluster
        made.append(e)
        return e

    yield start
    problems = []
    for e in made:
        problems += e.close()
        if e._cluster:
            e._cluster.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def counts(stdout: str) -> dict:
    """The closing summary's numbers."""
    m = re.search(r"import-songs: ([\d,]+) rows in [\d.]+ s: songs ([\d,]+) new, ([\d,]+) updated, ([\d,]+) "
                  r"unchanged, ([\d,]+) replaced by a later row; artists ([\d,]+) new, (\d+) renamed; albums "
                  r"([\d,]+) new, (\d+) renamed; ([\d,]+) rejected", stdout)
    assert m, stdout
    n = [int(x.replace(",", "")) for x in m.groups()]
    return dict(zip(("rows", "new", "updated", "unchanged", "replaced", "artists", "artists_renamed", "albums",
                     "albums_renamed", "rejected"), n))


# ---------------------------------------------------------------------------- the catalogue as imported


def test_first_import_summary(env):
    c = counts(env.first_import.stdout)
    assert c["rows"] == ROWS
    assert c["new"] == len(env.model.songs) == ROWS
    assert c["artists"] == len(env.model.artist_names)
    assert c["albums"] == len(env.model.album_names)
    assert c["rejected"] == c["updated"] == c["unchanged"] == c["replaced"] == 0


def test_the_import_counter_is_declared(env):
    # vial_songs_imported_total is added by the importing process (its own
    # metrics); the server declares it, so a scrape knows its type and help
    r = env.get("/metrics")
    assert r.status_code == 200, r.text[:300]
    assert "# TYPE vial_songs_imported_total counter" in r.text
    assert re.search(r"^vial_songs_imported_total 0$", r.text, re.M), r.text[:2000]


def test_every_song_as_the_file_says(env):
    for s in list(env.model.songs.values())[::7]:
        got = env.ok(f"/api/songs/{s.id}")
        assert got == env.model.song_json(s), s.id
        assert list(got) == ["id", "name", "album", "artists", "track_number", "disc_number", "explicit",
                             "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
                             "instrumentalness", "liveness", "valence", "tempo", "duration_ms", "time_signature",
                             "year", "release_date"]
        assert type(got["time_signature"]) is int and type(got["duration_ms"]) is int
        assert type(got["explicit"]) is bool
    error(env.get("/api/songs/NoSuchSong0000000000000"), 404)


def test_albums_and_artists(env):
    m = env.model
    for album_id in list(m.album_names)[::37]:
        got = env.ok(f"/api/albums/{album_id}")
        tracks = sorted((s for s in m.songs.values() if s.album_id == album_id),
                        key=lambda s: (s.disc_number, s.track_number))
        assert got["id"] == album_id and got["name"] == m.album_names[album_id]
        assert [(t["disc_number"], t["track_number"]) for t in got["tracks"]] == \
            [(t.disc_number, t.track_number) for t in tracks]
        assert {t["id"] for t in got["tracks"]} == {t.id for t in tracks}
        want_artists = []
        for t in got["tracks"]:
            for a in t["artists"]:
                if a not in want_artists:
                    want_artists.append(a)
        assert got["artists"] == want_artists
    for artist_id in list(m.artist_names)[::23]:
        got = env.ok(f"/api/artists/{artist_id}")
        mine = [s for s in m.songs.values() if artist_id in s.artist_ids]
        assert got["name"] == m.artist_names[artist_id]
        assert got["song_count"] == len(mine)
        assert {a["id"]: a["song_count"] for a in got["albums"]} == \
            {a: sum(1 for s in mine if s.album_id == a) for a in {s.album_id for s in mine}}
    error(env.get("/api/albums/Nope"), 404)
    error(env.get("/api/artists/Nope"), 404)


def test_quirky_names_round_trip(env):
    """The generator's trouble-makers: apostrophes, quotes, backslashes,
    commas, a tab, non-Latin scripts, emoji — as the file spells them."""
    want = {n for n in gen.SPECIAL_ARTISTS if n in env.model.artist_names.values()}
    assert len(want) >= 10
    for artist_id, name in env.model.artist_names.items():
        if name in want:
            assert env.ok(f"/api/artists/{artist_id}")["name"] == name


# ---------------------------------------------------------------------------- lists, filters, sorts, paging


def ids(songs):
    return [s["id"] for s in songs]


def test_default_list_pages_every_song_once_by_name(env):
    got = env.all_pages({}, limit=997)
    assert len(got) == len(set(ids(got))) == ROWS
    assert set(ids(got)) == set(env.model.songs)
    names = [s["name"].encode() for s in got]
    assert names == sorted(names), "sorted by name, bytewise"


FILTERS = [
    {"year_min": "1990", "year_max": "1999"},
    {"year_max": "1960"},
    {"explicit": "true"},
    {"explicit": "false", "danceability_min": "0.7"},
    {"tempo_min": "100", "tempo_max": "120.5", "energy_max": "0.5"},
    {"loudness_min": "-5"},
    {"duration_ms_min": "300000", "duration_ms_max": "400000.5"},
    {"instrumentalness_min": "0.5", "year_min": "2000"},
    {"acousticness_max": "0.01", "speechiness_min": "0.1", "liveness_max": "0.3", "valence_min": "0.2"},
    {"q": "love"},
    {"q": "night lov"},
    {"q": "LOVE, Night!"},
    {"q": "beyonce"},
    {"q": "motley crue"},
    {"q": "zzzzzz"},
    {"q": "..."},
]


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: urllib.parse.urlencode(p))
def test_filters_match_the_model(env, params):
    want = env.model.select(params)
    got = env.all_pages(params, limit=500)
    assert len(ids(got)) == len(set(ids(got)))
    assert set(ids(got)) == want
    if params in ({"q": "love"}, {"q": "beyonce"}, {"year_min": "1990", "year_max": "1999"}):
        assert want, "the case should match something"


def test_artist_and_album_filters(env):
    m = env.model
    for artist_id in list(m.artist_names)[:40:3]:
        p = {"artist_id": artist_id}
        assert set(ids(env.all_pages(p, limit=1000))) == m.select(p)
    for album_id in list(m.album_names)[:60:7]:
        p = {"album_id": album_id, "year_min": "1900"}
        assert set(ids(env.all_pages(p, limit=1000))) == m.select(p)


SORTS = ["name", "-name", "year", "-year", "tempo", "-tempo", "duration_ms", "-duration_ms", "loudness",
         "-danceability"]


@pytest.mark.parametrize("sort", SORTS)
def test_sorts_page_in_order(env, sort):
    params = {"sort": sort, "year_min": "1980"}
    got = env.all_pages(params, limit=211)
    assert set(ids(got)) == env.model.select(params)
    assert len(got) == len(set(ids(got)))
    key = sort.lstrip("-")
    vals = [s[key].encode() if key == "name" else s[key] for s in got]
    assert vals == sorted(vals, reverse=sort.startswith("-"))


def search_tier(m, sid: str, words: list[str]) -> int:
    """The tier of a ranked search a song is in (apps/music/search.c): the
    words in its name, then in its name and artists' names, then anywhere;
    at each, the last word whole before the last word as a prefix."""
    s = m.songs[sid]
    name = set(fold(s.name))
    na = name | set(fold(" ".join(m.artist_names[i] for i in s.artist_ids)))
    every = na | set(fold(m.album_names[s.album_id]))
    for t, (tokens, whole) in enumerate([(name, True), (name, False), (na, True), (na, False),
                                         (every, True), (every, False)]):
        last = words[-1] in tokens if whole else any(x.startswith(words[-1]) for x in tokens)
        if last and all(w in tokens for w in words[:-1]):
            return t
    raise AssertionError(f"{sid} does not match {words}")


@pytest.mark.parametrize("q", ["love", "night", "summer", "gold", "love night", "the b"])
def test_search_is_ranked(env, q):
    """Default order with q: rank — tier by tier (the words in the song's
    name, the last one whole, then as a prefix; then in the name and the
    artists' names; then anywhere), and within a tier fewer words in the
    song's name first.  The same on both backends."""
    m = env.model
    words = fold(q)
    got = env.ok("/api/songs", {"q": q, "limit": 1000})
    assert got, q
    assert set(ids(got)) == m.select({"q": q})
    keys = [(search_tier(m, s["id"], words), min(len(fold(s["name"])), 255)) for s in got]
    assert keys == sorted(keys), (q, keys[:40])
    if len(q.split()) == 1:
        assert len({k[0] for k in keys}) > 1, (q, "the case should have songs in more than one tier")
        assert keys[0][0] == 0, "the word itself in a song's name comes first"
    # the same songs sorted by name on request
    by_name = env.ok("/api/songs", {"q": q, "limit": 1000, "sort": "name"})
    assert sorted(ids(by_name)) == sorted(ids(got))
    assert [s["name"].encode() for s in by_name] == sorted(s["name"].encode() for s in by_name)


@pytest.mark.parametrize("q", ["love", "night b"])
def test_search_pages_by_rank(env, q):
    """Pages of a ranked search cross the tiers: every match once, in the
    order of one big page; a cursor from elsewhere is a 400."""
    params = {"q": q}
    got = env.all_pages(params, limit=7)
    assert set(ids(got)) == env.model.select(params)
    assert ids(got) == ids(env.ok("/api/songs", {"q": q, "limit": 1000}))

    def after(r):
        link = [v for k, v in r.raw.headers.items() if k.lower() == "link"][0]
        return urllib.parse.parse_qs(urllib.parse.urlparse(LINK_RE.match(link).group(1)).query)["after"][0]

    cursor = after(env.get("/api/songs", {"q": q, "limit": 3}))
    assert env.ok("/api/songs", {"q": q, "limit": 3, "after": cursor}) == got[3:6]
    other = after(env.get("/api/songs", {"limit": 3}))  # a cursor of the list by name
    assert "after" in error(env.get("/api/songs", {"q": q, "after": other}), 400)["message"]


BAD = [
    ("/api/songs", {"foo": "1"}, "foo"),
    ("/api/songs", {"danceability_min": "x"}, "danceability_min"),
    ("/api/songs", {"tempo_max": "nan"}, "tempo_max"),
    ("/api/songs", {"tempo_max": "0x10"}, "tempo_max"),
    ("/api/songs", {"energy_min": "0.9", "energy_max": "0.1"}, "energy_min"),
    ("/api/songs", {"year_min": "2000", "year_max": "1990"}, "year_min"),
    ("/api/songs", {"year_min": "19x"}, "year_min"),
    ("/api/songs", {"explicit": "yes"}, "explicit"),
    ("/api/songs", {"artist_id": "a b"}, "artist_id"),
    ("/api/songs", {"bogus_min": "1"}, "bogus_min"),
    ("/api/songs", {"sort": "popularity"}, "sort"),
    ("/api/songs", {"sort": "rank"}, "sort"),
    ("/api/songs", {"sort": "-rank", "q": "x"}, "sort"),
    ("/api/songs", {"limit": "0"}, "limit"),
    ("/api/songs", {"limit": "1001"}, "limit"),
    ("/api/songs", {"limit": "ten"}, "limit"),
    ("/api/songs", {"after": "garbage!"}, "after"),
    ("/api/songs/random", {"n": "0"}, "n"),
    ("/api/songs/random", {"n": "1001"}, "n"),
    ("/api/songs/random", {"sort": "name"}, "sort"),
    ("/api/stats/histogram", {}, "feature"),
    ("/api/stats/histogram", {"feature": "key"}, "feature"),
    ("/api/stats/histogram", {"feature": "tempo", "bins": "0"}, "bins"),
    ("/api/stats/histogram", {"feature": "tempo", "bins": "101"}, "bins"),
    ("/api/stats/histogram", {"feature": "tempo", "valence_min": "1", "valence_max": "0"}, "valence_min"),
    ("/api/stats/years", {"year_min": "1990"}, "year_min"),
]


@pytest.mark.parametrize("path,params,name", BAD, ids=lambda x: x if isinstance(x, str) else None)
def test_bad_parameters_are_400_naming_them(env, path, params, name):
    body = error(env.get(path, params), 400)
    assert body["error"] == "bad_request_400"
    assert name in body["message"], body


# ---------------------------------------------------------------------------- random samples


def chi_square(counts: dict, total: int, k: int) -> float:
    e = total / k
    return sum((counts.get(i, 0) - e) ** 2 / e for i in range(k))


# The 99.9th percentile of chi-square for the degrees of freedom the tests
# meet (k - 1), from the Wilson-Hilferty approximation.
def chi2_crit(dof: int, z=3.0902) -> float:
    return dof * (1 - 2 / (9 * dof) + z * (2 / (9 * dof)) ** 0.5) ** 3


def draw(env, params, n, times) -> list[list[str]]:
    out = []
    for _ in range(times):
        got = env.ok("/api/songs/random", dict(params, n=n))
        assert len(got) == len(set(ids(got))), "distinct songs in one sample"
        out.append(ids(got))
    return out


@pytest.mark.parametrize("params", [{}, {"year_min": "1900", "year_max": "2005"}, {"explicit": "false"},
                                    {"q": None}], ids=lambda p: urllib.parse.urlencode(p) or "all")
def test_random_samples_are_uniform(small, params):
    if "q" in params:  # the one-letter prefix the most songs have (a search: the listed path)
        params = max(({"q": c} for c in "abcdefghilmnoprstw"), key=lambda p: len(small.model.select(p)))
    pool = sorted(small.model.select(params))
    assert len(pool) >= 8, pool
    n = 4
    draws = draw(small, params, n, 1500 // n * 2)
    picks = [i for d in draws for i in d]
    assert set(picks) <= set(pool), "only matching songs"
    index = {sid: k for k, sid in enumerate(pool)}
    counts_ = {}
    for p in picks:
        counts_[index[p]] = counts_.get(index[p], 0) + 1
    stat = chi_square(counts_, len(picks), len(pool))
    assert stat < chi2_crit(len(pool) - 1), (stat, len(pool), counts_)


def test_random_respects_filters_and_returns_fewer(env):
    m = env.model
    for params in ({"year_min": "1995", "year_max": "1996"}, {"tempo_min": "150", "explicit": "true"},
                   {"q": "love night"}, {"artist_id": next(iter(m.artist_names))}):
        pool = m.select(params)
        got = env.ok("/api/songs/random", dict(params, n=1000))
        assert set(ids(got)) <= pool
        if len(pool) <= 1000:
            assert set(ids(got)) == pool, "fewer when fewer match: all of them"
    # a filter that matches very few songs (the probing gives way to a list)
    rare = sorted(m.songs.values(), key=lambda s: s.f["tempo"])[-3]
    params = {"tempo_min": repr(rare.f["tempo"])}
    pool = m.select(params)
    assert len(pool) == 3
    assert set(ids(env.ok("/api/songs/random", dict(params, n=10)))) == pool
    assert env.ok("/api/songs/random", {"q": "zzzzzz"}) == []
    got = env.ok("/api/songs/random")
    assert len(got) == 10 and got[0] == env.model.song_json(env.model.songs[got[0]["id"]])


# ---------------------------------------------------------------------------- statistics


def check_years(env):
    got = env.ok("/api/stats/years")
    want = env.model.year_stats()
    assert [g["year"] for g in got] == [w["year"] for w in want]
    for g, w in zip(got, want):
        assert g["songs"] == w["songs"]
        for f in FEATURES:
            assert close_enough(g[f], w[f]), (g["year"], f, g[f], w[f])


def test_year_statistics(env):
    check_years(env)


def check_histogram(env, params, feature, bins):
    got = env.ok("/api/stats/histogram", dict(params, feature=feature, bins=bins))
    assert got["feature"] == feature
    pool = [env.model.songs[i] for i in env.model.select(params)]
    values = [s.f[feature] for s in pool]
    assert got["songs"] == len(values)
    b = got["bins"]
    if not values:
        assert b == []
        return got
    assert 1 <= len(b) <= bins
    assert b[0]["lo"] <= min(values) and max(values) < b[-1]["hi"]
    for x, y in zip(b, b[1:]):
        assert x["hi"] == y["lo"], "contiguous"
    for x in b:
        assert x["count"] == sum(1 for v in values if x["lo"] <= v < x["hi"]), (x, feature, params)
    assert b[0]["count"] > 0 and b[-1]["count"] > 0
    return got


@pytest.mark.parametrize("feature", FEATURES)
def test_histograms(env, feature):
    for params in ({}, {"year_min": "1990", "year_max": "2010"}, {"explicit": "false", "year_min": "1970"},
                   {"q": "love"}):
        for bins in (1, 7, 20, 100):
            check_histogram(env, params, feature, bins)


def test_histogram_paths_agree(env):
    """The aggregates (years only) and the scan (any other filter) give the
    same bins for the same songs."""
    for feature in ("danceability", "tempo", "loudness", "duration_ms"):
        a = env.ok("/api/stats/histogram", {"feature": feature, "year_min": "1985", "bins": 33})
        b = env.ok("/api/stats/histogram", {"feature": feature, "year_min": "1985", "bins": 33,
                                             "energy_min": "0"})
        assert a == b
    empty = env.ok("/api/stats/histogram", {"feature": "tempo", "year_min": "3000"})
    assert empty == {"feature": "tempo", "songs": 0, "bins": []}


# ---------------------------------------------------------------------------- the importer: each quirk


QUIRKS = {
    "apostrophe in a double-quoted name": dict(artists=("Screamin' Jay Hawkins",)),
    "both quotes, backslash-escaped": dict(artists=('Rock \'n\' Roll "Legends"',)),
    "a backslash": dict(artists=("AC\\DC Tribute",)),
    "commas inside names, two artists": dict(artists=("Crosby, Stills, Nash & Young", "Earth, Wind & Fire"),
                                             artist_ids=("C" * 22, "E" * 22)),
    "a tab, escaped as \\t": dict(artists=("Tab\tSeparated",)),
    "\\x and \\u escapes": dict(raw_artists="['\\xc9t\\u00e9 \\U0001F3B8']", artists=("Été 🎸",)),
    "UTF-8 as it is": dict(name="東京の夜", album="Привет", artists=("Beyoncé",)),
    "explicit True": dict(explicit="True"),
    "explicit False": dict(explicit="False"),
    "time_signature written as a float": dict(time_signature="3.0"),
    "time_signature 0 and tempo 0": dict(time_signature="0.0", tempo="0.0"),
    "positive loudness": dict(loudness="4.567"),
    "instrumentalness as 1.24e-05": dict(instrumentalness="1.24e-05"),
    "release_date YYYY-MM-DD": dict(year="1999", release_date="1999-07-14"),
    "release_date YYYY-MM": dict(year="1999", release_date="1999-07"),
    "release_date YYYY": dict(year="1999", release_date="1999"),
    "release_date 0000 with year 0": dict(year="0", release_date="0000"),
    "29 February of a leap year": dict(year="2000", release_date="2000-02-29"),
    "a line break inside a quoted name": dict(name="Two\nLines"),
    "quotes in a name, doubled by CSV": dict(name='The "Quoted" Song', album='"Album", Vol. 2'),
}


def quirk_rows():
    out = []
    for k, (what, kw) in enumerate(QUIRKS.items()):
        kw = dict(kw)
        kw.setdefault("artist_ids", tuple(f"Q{k:02d}{j}" + "x" * 17 for j in range(len(kw.get("artists", "a")))))
        out.append((what, row(sid=f"Quirk{k:02d}" + "q" * 15, album_id=f"Alb{k:02d}" + "a" * 17, **kw)))
    return out


@pytest.fixture(scope="module", params=BACKENDS)
def quirks(request, tmp_path_factory):
    """Each quirk imported by a file of its own, into one catalogue."""
    backend = request.param
    cluster = PgCluster(pg_admin_url()) if backend == "postgresql" else None
    d = tmp_path_factory.mktemp("quirks-" + backend)
    e = Env.__new__(Env)
    e.backend, e.tmpdir, e.clients = backend, d, []
    e.db = Database(backend, d, cluster)
    e.secret = new_secret()
    e.srv = None
    e.model = Model()
    e.runs = {}
    for what, r in quirk_rows():
        text = csv_text([r])
        if what == "release_date YYYY":  # with Windows line ends and a byte order mark too
            text = "\ufeff" + text.replace("\n", "\r\n")
        p = write(d / "quirk.csv", text)
        e.runs[what] = import_songs(e.db, d, p, secret=e.secret)
        e.model.add_csv(text.lstrip("\ufeff"))
    e.srv = start_server(e.db, d, *TRUST_LOOPBACK, *CHEAP_ARGON2, secret=e.secret)
    e.c = e.client()
    yield e
    problems = e.close()
    if cluster:
        cluster.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.mark.parametrize("what", list(QUIRKS))
def test_import_quirk(quirks, what):
    k = list(QUIRKS).index(what)
    sid = f"Quirk{k:02d}" + "q" * 15
    c = counts(quirks.runs[what].stdout)
    assert c["new"] == 1 and c["rejected"] == 0, quirks.runs[what].stderr
    got = quirks.ok(f"/api/songs/{sid}")
    assert got == quirks.model.song_json(quirks.model.songs[sid])
    kw = QUIRKS[what]
    if "artists" in kw:
        assert [a["name"] for a in got["artists"]] == list(kw["artists"])
    if what == "release_date 0000 with year 0":
        assert got["year"] is None and got["release_date"] is None
    if what.startswith("release_date YYYY"):
        assert got["release_date"] == kw["release_date"]
    if what == "time_signature 0 and tempo 0":
        assert got["time_signature"] == 0 and got["tempo"] == 0.0


def test_quirky_names_are_searchable(quirks):
    for q, sid in (("beyonce", 6), ("screamin jay", 0), ("ac dc", 2), ("ete", 5), ("東京の夜", 6), ("привет", 6)):
        got = ids(quirks.ok("/api/songs", {"q": q}))
        assert f"Quirk{sid:02d}" + "q" * 15 in got, (q, got)


# ---------------------------------------------------------------------------- the importer: rejected rows

GOOD = row()
BAD_ROWS = [
    # (what, the row, column, a piece of the reason)
    ("too few columns", GOOD[:23], 24, "23 columns, expected 24"),
    ("too many columns", GOOD + ["x"], 25, "25 columns, expected 24"),
    ("a number that is not", row(danceability="high"), 10, "'high' is not a number"),
    ("nan", row(tempo="nan"), 20, "'nan' is not a number"),
    ("out of range", row(energy="1.5"), 11, "outside 0..1"),
    ("a broken list literal", row(raw_artists="['Unclosed"), 5, "not a Python list of strings"),
    ("a list of numbers", row(raw_ids="[1, 2]"), 6, "not a Python list of strings"),
    ("lists of different lengths", row(artists=("A", "B")), 6, "1 artist ids for 2 artists"),
    ("no artist", row(artists=(), artist_ids=()), 5, "no artist"),
    ("an impossible date", row(year="2019", release_date="2019-02-30"), 24, "no such day"),
    ("no such month", row(year="2019", release_date="2019-13"), 24, "no such month"),
    ("a date that is not one", row(year="2019", release_date="19/07/2019"), 24, "not YYYY"),
    ("year and date disagree", row(year="1998", release_date="1999-07-14"), 23, "does not match"),
    ("an unknown date with a year", row(year="1999", release_date="0000"), 23, "does not match"),
    ("explicit maybe", row(explicit="Maybe"), 9, "not True or False"),
    ("a track id that is not one", row(sid="not an id"), 1, "not a Spotify id"),
    ("a fractional duration", row(duration_ms="1.5"), 21, "not a whole number"),
    ("a key out of range", row(key="12"), 12, "not a key"),
]


def bad_file():
    """Good rows, and each bad row after one; returns (text, {what: line})."""
    lines, where, text_rows = [], {}, []
    n = 1  # the header
    for k, (what, r, col, why) in enumerate(BAD_ROWS):
        good = row(sid=f"Good{k:02d}" + "g" * 16)
        text_rows.append(good)
        n += 1
        text_rows.append([f"Bad{k:02d}" + "b" * 17, *r[1:]] if len(r) > 1 and what != "a track id that is not one" else r)
        n += 1
        where[what] = n
    text = csv_text(text_rows)
    # a CSV error too: a quote inside an unquoted field, on the last line
    text += 'Broken' + 'x' * 16 + ',Na"me,' + ",".join(GOOD[2:]) + "\n"
    where["a quote inside an unquoted field"] = n + 1
    return text, where


@pytest.fixture(scope="module")
def rejects(tmp_path_factory):
    d = tmp_path_factory.mktemp("rejects")
    db = Database("sqlite", d)
    text, where = bad_file()
    p = import_songs(db, d, write(d / "bad.csv", text), secret=new_secret())
    yield p, where, db, d
    db.close()


@pytest.mark.parametrize("what,r,col,why", BAD_ROWS + [("a quote inside an unquoted field", None, 2,
                                                          "quote inside an unquoted field")],
                         ids=[b[0] for b in BAD_ROWS] + ["a quote inside an unquoted field"])
def test_rejected_row(rejects, what, r, col, why):
    p, where, db, d = rejects
    pat = re.compile(rf"^(?:.*/)?bad\.csv: line {where[what]}, column {col} \(([a-z_]+|extra)\): (.*)$", re.M)
    m = pat.search(p.stderr)
    assert m, (what, where[what], p.stderr)
    assert why in m.group(2), m.group(0)


def test_rejected_rows_are_skipped_and_counted(rejects):
    p, where, db, d = rejects
    c = counts(p.stdout)
    assert c["rejected"] == len(BAD_ROWS) + 1
    assert c["new"] == len(BAD_ROWS)
    assert db.one("SELECT count(*) FROM songs")[0] == len(BAD_ROWS)
    assert db.one("SELECT count(*) FROM songs WHERE spotify_id LIKE 'Bad%'")[0] == 0


def test_strict_stops_and_stores_nothing(env, tmp_path):
    before = env.ok("/api/stats/years")
    text = csv_text([row(sid="StrictGood" + "s" * 12), row(sid="StrictBad" + "s" * 13, year="1999",
                                                          release_date="1999-02-29")])
    p = env.imp("--strict", write(tmp_path / "strict.csv", text), expect_rc=1)
    assert re.search(r"strict\.csv: line 3, column 24 \(release_date\): '1999-02-29' is no such day", p.stderr)
    assert "nothing was stored" in p.stderr
    error(env.get("/api/songs/StrictGood" + "s" * 12), 404)
    assert env.ok("/api/stats/years") == before
    # without --strict the good row goes in
    p = env.imp(write(tmp_path / "strict.csv", text))
    assert counts(p.stdout)["new"] == 1 and counts(p.stdout)["rejected"] == 1
    env.model.add_csv(csv_text([row(sid="StrictGood" + "s" * 12)]))
    check_years(env)


def test_not_a_tracks_file(fresh, tmp_path):
    e = fresh()
    p = e.imp(write(tmp_path / "x.csv", "id,name,other\n1,2,3\n"), expect_rc=1)
    assert "not a tracks_features.csv: the header has 3 columns, expected 24" in p.stderr
    hdr = HEADER.replace("artist_ids", "artist_id")
    p = e.imp(write(tmp_path / "y.csv", hdr + "\n"), expect_rc=1)
    assert "column 6 of the header is 'artist_id', expected 'artist_ids'" in p.stderr
    p = e.imp(write(tmp_path / "z.csv", ""), expect_rc=1)
    assert "empty" in p.stderr
    p = e.imp(tmp_path / "missing.csv", expect_rc=1)
    assert "No such file" in p.stderr
    p = e.imp("--bogus", "x", expect_rc=2)
    assert "usage: import-songs" in p.stderr


# ---------------------------------------------------------------------------- the importer: again, changed


def dump(db) -> dict:
    """Every table an import writes, as rows."""
    out = {}
    for t, order in (("songs", "id"), ("artists", "id"), ("albums", "id"), ("song_artists", "song_id, position"),
                     ("music_years", "year"), ("music_cells", "feature, year, cell")):
        out[t] = db.all(f"SELECT * FROM {t} ORDER BY {order}")
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_second_import_changes_nothing(fresh, tmp_path, backend):
    e = fresh(backend)
    text = gen.text(700, 3)
    path = write(tmp_path / "a.csv", text)
    c1 = counts(e.imp(path).stdout)
    assert c1["new"] == 700
    before = dump(e.db)
    docs_before = e.ok("/api/songs", {"q": "love", "limit": 1000})
    c2 = counts(e.imp(path).stdout)
    assert (c2["new"], c2["updated"], c2["unchanged"], c2["artists"], c2["albums"]) == (0, 0, 700, 0, 0)
    assert dump(e.db) == before
    assert e.ok("/api/songs", {"q": "love", "limit": 1000}) == docs_before
    # from standard input: the same again
    c3 = counts(e.imp("-", stdin=text).stdout)
    assert c3["unchanged"] == 700
    assert dump(e.db) == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_updated_row_updates(fresh, tmp_path, backend):
    e = fresh(backend)
    rows = list(gen.rows(600, 5))
    text = csv_text(rows)
    e.imp(write(tmp_path / "a.csv", text))
    e.model.add_csv(text)
    # change a name, a year (and its date), the credits, the album, features
    a, b, c, d = rows[10][:], rows[200][:], rows[300][:], rows[400][:]
    old_name_word = fold(a[1])[0]
    a[1] = "Zebra Xylophone Quintessence"
    b[22], b[23] = "1951", "1951-03-04"
    c[4], c[5] = str(["New Guest", "Another"]), str(["NG" + "n" * 20, "AN" + "a" * 20])
    d[2], d[3] = "Brand New Album", "BNA" + "b" * 19
    d[9], d[19], d[20] = "0.999", "240.5", "599000"
    changed = [a, b, c, d]
    text2 = csv_text(changed)
    got = counts(e.imp(write(tmp_path / "b.csv", text2)).stdout)
    assert got["updated"] == 4 and got["new"] == 0
    e.model.add_csv(text2)
    for r in changed:
        assert e.ok(f"/api/songs/{r[0]}") == e.model.song_json(e.model.songs[r[0]])
    check_years(e)
    for f in ("danceability", "tempo", "duration_ms"):
        check_histogram(e, {}, f, 50)
        check_histogram(e, {"year_min": "1950", "year_max": "1960"}, f, 10)
    assert a[0] in ids(e.ok("/api/songs", {"q": "zebra xylophone"}))
    assert a[0] not in ids(e.ok("/api/songs", {"q": old_name_word, "limit": 1000})) or \
        old_name_word in fold(" ".join([a[2]] + list(e.model.song_json(e.model.songs[a[0]])["artists"][0].values())))
    assert c[0] in ids(e.ok("/api/songs", {"q": "new guest"}))
    assert d[0] in ids(e.ok("/api/songs", {"album_id": "BNA" + "b" * 19}))
    # the song that changed year is drawn in its new year, never its old one
    draws = draw(e, {"year_min": "1951", "year_max": "1951"}, 100, 3)
    assert b[0] in draws[0]
    for params in ({}, {"year_min": "1951"}, {"q": "zebra"}):
        assert set(ids(e.all_pages(params, limit=100))) == e.model.select(params)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_renamed_artist(fresh, tmp_path, backend):
    e = fresh(backend)
    rows = [row(sid=f"Ren{k:03d}" + "r" * 16, name=f"Track {k}", artists=("Old Name",), artist_ids=("ART" + "x" * 19,),
                album_id=f"ALB{k % 3}" + "y" * 18, album="Some Album") for k in range(30)]
    e.imp(write(tmp_path / "a.csv", csv_text(rows)))
    assert len(e.ok("/api/songs", {"q": "old name"})) == 30
    renamed = rows[7][:]
    renamed[4] = str(["Brand New Name"])
    p = e.imp(write(tmp_path / "b.csv", csv_text([renamed])))
    c = counts(p.stdout)
    assert c["artists_renamed"] == 1 and c["unchanged"] == 1
    assert e.ok(f"/api/artists/{'ART' + 'x' * 19}")["name"] == "Brand New Name"
    assert len(e.ok("/api/songs", {"q": "brand new name"})) == 30
    assert e.ok("/api/songs", {"q": "old name"}) == []
    # an album renamed in the same file as a song changing
    r2 = rows[1][:]
    r2[2], r2[9] = "Renamed Album", "0.123"
    c = counts(e.imp(write(tmp_path / "c.csv", csv_text([r2]))).stdout)
    assert c["albums_renamed"] == 1 and c["updated"] == 1
    assert len(e.ok("/api/songs", {"q": "renamed album"})) == 10
    assert e.ok("/api/songs", {"q": "some album", "limit": 1000}) and \
        all(s["album"]["name"] == "Some Album" for s in e.ok("/api/songs", {"q": "some album", "limit": 1000}))


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeated_track_ids_later_row_wins(fresh, tmp_path, backend):
    e = fresh(backend)
    rows = list(gen.rows(9000, 8))
    rows[8500] = rows[100][:]            # a repeat in another chunk (the first import)
    rows[8500][1] = "Later Version"
    rows[8501] = rows[8499][:]           # a repeat in the same chunk
    rows[8501][9] = "0.111"
    text = csv_text(rows)
    c = counts(e.imp(write(tmp_path / "a.csv", text)).stdout)
    assert c["replaced"] == 2 and c["new"] == 8998
    e.model.add_csv(text)
    assert e.ok(f"/api/songs/{rows[100][0]}")["name"] == "Later Version"
    assert e.ok(f"/api/songs/{rows[8499][0]}")["danceability"] == 0.111
    check_years(e)
    check_histogram(e, {}, "danceability", 100)
    assert "later" in fold(e.ok("/api/songs", {"q": "later version"})[0]["name"])
    # and in a catalogue that is not empty: the repeat updates
    again = [rows[5][:], rows[5][:]]
    again[1][1] = "Second Take"
    c = counts(e.imp(write(tmp_path / "b.csv", csv_text(again))).stdout)
    assert c["replaced"] == 1 and c["updated"] == 1
    assert e.ok(f"/api/songs/{rows[5][0]}")["name"] == "Second Take"


def consistent(db):
    """What the aggregates and the index say agrees with the songs."""
    songs = db.one("SELECT count(*) FROM songs")[0]
    assert (db.one("SELECT coalesce(sum(songs), 0) FROM music_years")[0] or 0) == songs
    for f in range(10):
        assert (db.one("SELECT coalesce(sum(songs), 0) FROM music_cells WHERE feature = ?", f)[0] or 0) == songs
    assert db.one("SELECT count(*) FROM music_fts")[0] == songs
    assert db.one("SELECT count(*) FROM songs s WHERE year_pos > (SELECT slots FROM music_years y "
                  "WHERE y.year = s.year)")[0] == 0
    assert db.one("SELECT count(*) FROM songs s WHERE NOT EXISTS (SELECT 1 FROM song_artists a "
                  "WHERE a.song_id = s.id)")[0] == 0
    return songs


def start_import(e, *args):
    argv = [str(binary("vial-server")), "import-songs", *map(str, args), "--database-url", e.db.url,
            "--migrations-root", str(MIGRATIONS_ROOT), "--log-level", "warn"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env({"SECRET_KEY": e.secret}), cwd=str(e.tmpdir))


def kill_after_progress(p, lines=1):
    """SIGKILL the import once it printed `lines` progress lines."""
    seen = 0
    deadline = time.monotonic() + 60
    while seen < lines and time.monotonic() < deadline:
        line = p.stderr.readline()
        if not line:
            break
        seen += "rows/s" in line
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    p.stderr.close()
    assert seen == lines, "the import ended before it could be interrupted"


@pytest.mark.parametrize("backend", BACKENDS)
def test_interrupted_imports_leave_a_consistent_catalogue(fresh, tmp_path, backend):
    e = fresh(backend)
    text = gen.text(30000, 9)
    path = write(tmp_path / "big.csv", text)
    # the first import is one transaction: killed, it leaves nothing
    kill_after_progress(start_import(e, path, "--progress", "0"))
    assert consistent(e.db) == 0
    # later imports commit as they go: killed, what was committed is whole
    small_text = gen.text(50, 99)
    e.imp(write(tmp_path / "small.csv", small_text))
    kill_after_progress(start_import(e, path, "--progress", "0", "--commit-rows", "4000"), lines=4)
    n = consistent(e.db)
    assert 50 < n < 30050, n
    # and running it again finishes it
    c = counts(e.imp(path).stdout)
    assert c["new"] + c["unchanged"] == 30000
    e.model.add_csv(small_text).add_csv(text)
    assert consistent(e.db) == len(e.model.songs)
    check_years(e)
    check_histogram(e, {"year_min": "1990"}, "valence", 37)


def test_progress_lines_when_not_a_terminal(fresh, tmp_path):
    e = fresh()
    p = e.imp("--progress", "0", write(tmp_path / "p.csv", gen.text(9000, 4)))
    lines = [ln for ln in p.stderr.splitlines() if "rows/s" in ln]
    assert len(lines) >= 2, p.stderr
    assert all(re.match(r"^import-songs: [\d,]+ rows, [\d,]+ rows/s, \d+%, ETA \d+ s$", ln) for ln in lines), lines
    assert "\r" not in p.stderr
    # from a pipe: no percent, no ETA (the size is not known)
    p = e.imp("--progress", "0", "-", stdin=gen.text(5000, 4))
    lines = [ln for ln in p.stderr.splitlines() if "rows/s" in ln]
    assert lines and all(re.match(r"^import-songs: [\d,]+ rows, [\d,]+ rows/s, \d+ s$", ln) for ln in lines), lines


def test_progress_bar_on_a_terminal(fresh, tmp_path):
    e = fresh()
    path = write(tmp_path / "p.csv", gen.text(20000, 4))
    argv = [str(binary("vial-server")), "import-songs", "--progress", "0", str(path), "--database-url", e.db.url,
            "--migrations-root", str(MIGRATIONS_ROOT), "--log-level", "warn"]
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout and stderr are the terminal
        os.chdir(str(e.tmpdir))
        os.execve(argv[0], argv, clean_env({"SECRET_KEY": e.secret}))
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, out[-500:]
    text = out.decode(errors="replace")
    bars = re.findall(r"\r\x1b\[K\[([#>.]{30})\] +(\d+)%  [\d,]+ rows  [\d,]+ rows/s  ETA \d+ s", text)
    assert len(bars) >= 2, text[:600]
    assert bars[-1] == ("#" * 30, "100"), bars[-1]
    assert re.search(r"import-songs: 20,000 rows in [\d.]+ s: songs 20,000 new", text), text[-600:]


# ---------------------------------------------------------------------------- playlists


def songs_of(pl):
    return [s["id"] for s in pl["songs"]]


def test_playlists_need_credentials(env):
    c = env.client()
    unauthorized(c.post("/api/playlists", json={"name": "x"}))
    unauthorized(c.req("PATCH", "/api/playlists/1", json={"name": "x"}))
    unauthorized(c.delete("/api/playlists/1"))
    unauthorized(c.post("/api/playlists/1/songs", json={"song_id": "x"}))
    unauthorized(c.delete("/api/playlists/1/songs/1"))
    unauthorized(c.post("/api/playlists", json={"name": "x"}, token="not.a.token"))
    unauthorized(c.get("/api/playlists/1", token="not.a.token"))


def test_playlist_life(env):
    c = env.client()
    alice, bob = c.user(prefix="alice"), c.user(prefix="bob")
    s = list(env.model.songs)
    r = c.post("/api/playlists", json={"name": "Road trip", "public": False}, token=alice.token)
    assert r.status_code == 201, r.text
    pl = r.json()
    assert r.headers["Location"] == f"/api/playlists/{pl['id']}"
    assert pl["name"] == "Road trip" and pl["public"] is False and pl["songs"] == [] and pl["song_count"] == 0
    assert pl["owner"] == {"id": alice.id, "username": alice.name}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", pl["created_at"])
    pid = pl["id"]
    # songs: appended, inserted, the same twice
    for sid in (s[0], s[1], s[2]):
        assert c.post(f"/api/playlists/{pid}/songs", json={"song_id": sid}, token=alice.token).status_code == 201
    r = c.post(f"/api/playlists/{pid}/songs", json={"song_id": s[3], "position": 2}, token=alice.token)
    assert r.status_code == 201 and songs_of(r.json()) == [s[0], s[3], s[1], s[2]]
    r = c.post(f"/api/playlists/{pid}/songs", json={"song_id": s[0], "position": 1}, token=alice.token)
    assert songs_of(r.json()) == [s[0], s[0], s[3], s[1], s[2]]
    got = r.json()["songs"]
    assert [x["position"] for x in got] == [1, 2, 3, 4, 5]
    assert {k: v for k, v in got[2].items() if k != "position"} == env.model.song_json(env.model.songs[s[3]])
    error(c.post(f"/api/playlists/{pid}/songs", json={"song_id": s[4], "position": 7}, token=alice.token), 400,
          re.compile("position: 7 is past the end"))
    error(c.post(f"/api/playlists/{pid}/songs", json={"song_id": "NoSuchSong"}, token=alice.token), 400,
          re.compile("song_id: no song"))
    error(c.post(f"/api/playlists/{pid}/songs", json={"song_id": s[4], "position": 0}, token=alice.token), 400)
    error(c.post(f"/api/playlists/{pid}/songs", json={"song": s[4]}, token=alice.token), 400)
    # move and remove, positions stay 1..n
    r = c.req("PATCH", f"/api/playlists/{pid}/songs/5", json={"position": 1}, token=alice.token)
    assert r.status_code == 200 and songs_of(r.json()) == [s[2], s[0], s[0], s[3], s[1]]
    r = c.req("PATCH", f"/api/playlists/{pid}/songs/1", json={"position": 5}, token=alice.token)
    assert songs_of(r.json()) == [s[0], s[0], s[3], s[1], s[2]]
    error(c.req("PATCH", f"/api/playlists/{pid}/songs/1", json={"position": 6}, token=alice.token), 400)
    assert c.delete(f"/api/playlists/{pid}/songs/2", token=alice.token).status_code == 204
    pl = c.get(f"/api/playlists/{pid}", token=alice.token).json()
    assert songs_of(pl) == [s[0], s[3], s[1], s[2]] and pl["song_count"] == 4
    error(c.delete(f"/api/playlists/{pid}/songs/9", token=alice.token), 404)
    # private: nobody else sees it, or writes to it
    error(c.get(f"/api/playlists/{pid}", token=bob.token), 404)
    error(c.get(f"/api/playlists/{pid}"), 404)
    error(c.req("PATCH", f"/api/playlists/{pid}", json={"name": "mine"}, token=bob.token), 404)
    error(c.delete(f"/api/playlists/{pid}", token=bob.token), 404)
    # public: everyone sees it, only its owner writes
    r = c.req("PATCH", f"/api/playlists/{pid}", json={"public": True, "name": "Road trip 2"}, token=alice.token)
    assert r.status_code == 200 and r.json()["public"] is True and r.json()["name"] == "Road trip 2"
    assert songs_of(c.get(f"/api/playlists/{pid}").json()) == [s[0], s[3], s[1], s[2]]
    assert c.get(f"/api/playlists/{pid}", token=bob.token).status_code == 200
    error(c.req("PATCH", f"/api/playlists/{pid}", json={"name": "mine"}, token=bob.token), 403)
    error(c.post(f"/api/playlists/{pid}/songs", json={"song_id": s[5]}, token=bob.token), 403)
    error(c.delete(f"/api/playlists/{pid}/songs/1", token=bob.token), 403)
    error(c.req("PATCH", f"/api/playlists/{pid}/songs/1", json={"position": 2}, token=bob.token), 403)
    error(c.delete(f"/api/playlists/{pid}", token=bob.token), 403)
    error(c.req("PATCH", f"/api/playlists/{pid}", json={}, token=alice.token), 400)
    error(c.req("PATCH", f"/api/playlists/{pid}", json={"name": "  "}, token=alice.token), 400)
    error(c.req("PATCH", f"/api/playlists/{pid}", json={"public": "yes"}, token=alice.token), 400)
    # the owner's list holds every one; anyone else's the public ones
    other = c.post("/api/playlists", json={"name": "Secret"}, token=alice.token).json()
    assert other["public"] is False
    mine = c.get(f"/api/users/{alice.id}/playlists", token=alice.token).json()
    assert [p["id"] for p in mine] == [pid, other["id"]]
    assert "songs" not in mine[0] and mine[0]["song_count"] == 4
    assert [p["id"] for p in c.get(f"/api/users/{alice.id}/playlists", token=bob.token).json()] == [pid]
    assert [p["id"] for p in c.get(f"/api/users/{alice.id}/playlists").json()] == [pid]
    assert c.get(f"/api/users/{bob.id}/playlists").json() == []
    error(c.get("/api/users/987654321/playlists"), 404)
    page = c.get(f"/api/users/{alice.id}/playlists?limit=1", token=alice.token)
    assert [p["id"] for p in page.json()] == [pid] and 'rel="next"' in page.headers["Link"]
    # deleting the playlist, then the account
    assert c.delete(f"/api/playlists/{other['id']}", token=alice.token).status_code == 204
    error(c.get(f"/api/playlists/{other['id']}", token=alice.token), 404)
    assert c.delete(f"/api/users/{alice.id}", token=alice.token).status_code == 204
    error(c.get(f"/api/playlists/{pid}"), 404)


def test_playlist_validation(env):
    c = env.client()
    u = c.user()
    for body in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 201}, {"name": "x", "public": 1},
                 {"name": "x", "extra": True}, [1]):
        error(c.post("/api/playlists", json=body, token=u.token), 400)
    error(c.post("/api/playlists", data="{not json", headers={"Content-Type": "application/json"},
                 token=u.token), 400)
    error(c.get("/api/playlists/987654321", token=u.token), 404)


def dashboard_login(c: Client, name: str, password: str) -> str:
    """Logs a browser session in through the dashboard's form; returns the
    session's CSRF token (from a page's hidden field)."""
    page = c.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = c.post("/login", data={"username": name, "password": password, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    page = c.get("/me").text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_playlists_from_a_browser_session(env):
    c = env.client()
    u = c.user(prefix="browser")
    csrf = dashboard_login(c, u.name, u.password)
    s = next(iter(env.model.songs))
    # the session is credentials, but a write without the CSRF token is refused
    error(c.post("/api/playlists", json={"name": "From the page"}), 403, re.compile("CSRF"))
    r = c.post("/api/playlists", json={"name": "From the page"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    assert r.json()["owner"]["id"] == u.id
    r = c.post(f"/api/playlists/{pid}/songs", json={"song_id": s}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and songs_of(r.json()) == [s]
    assert c.get(f"/api/playlists/{pid}").status_code == 200  # the session's own private playlist
    error(c.delete(f"/api/playlists/{pid}", headers={"X-CSRF-Token": "wrong"}), 403)
    assert c.delete(f"/api/playlists/{pid}", headers={"X-CSRF-Token": csrf}).status_code == 204
    # after logging out the session is nobody
    c.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    unauthorized(c.post("/api/playlists", json={"name": "x"}, headers={"X-CSRF-Token": csrf}))
