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


def test_search_is_ranked(env):
    """Default order with q: rank — the name weighs most (bm25 on SQLite,
    ts_rank on PostgreSQL: not the same numbers, the same preference): the
    first results have the word in their name, and songs that have it only
    in an artist or album name come later on average."""
    for q in ("love", "night", "summer", "gold"):
        got = env.ok("/api/songs", {"q": q, "limit": 1000})
        assert got, q
        in_name = [any(t.startswith(q) for t in fold(s["name"])) for s in got]
        assert any(in_name) and not all(in_name), q
        assert all(in_name[:3]), (q, in_name[:10])
        pos = lambda want: sum(i for i, x in enumerate(in_name) if x == want) / in_name.count(want)  # noqa: E731
        assert pos(True) < pos(False), (q, in_name)
        # the same songs sorted by name on request
        by_name = env.ok("/api/songs", {"q": q, "limit": 1000, "sort": "name"})
        assert sorted(ids(by_name)) == sorted(ids(got))
        assert [s["name"].encode() for s in by_name] == sorted(s["name"].encode() for s in by_name)


def test_search_pages_by_rank(env):
    params = {"q": "love"}
    got = env.all_pages(params, limit=7)
    assert set(ids(got)) == env.model.select(params)
    assert ids(got) == ids(env.ok("/api/songs", {"q": "love", "limit": 1000}))


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
