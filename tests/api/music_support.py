"""
Helpers for the music catalogue tests (test_music.py): generated files,
an independent model of what an import should leave behind, and
vial-server with `import-songs` on either backend.

The model reads the CSV with Python's csv module and the list columns with
ast.literal_eval — not with anything of vial's — and computes the final
catalogue (a later row with the same track id wins; an artist's or an
album's last name wins), the per-year means, search matches and
histogram counts, so the tests compare the server with a second,
independent implementation.
"""
from __future__ import annotations

import ast
import csv
import importlib.util
import io
import math
import pathlib
import statistics
import subprocess
import unicodedata

import pytest

from conftest import REPO, binary, clean_env, sanitizer_report
from users_support import MIGRATIONS_ROOT

FEATURES = ("danceability", "energy", "speechiness", "acousticness", "instrumentalness", "liveness", "valence",
            "tempo", "loudness", "duration_ms")
HEADER = ("id,name,album,album_id,artists,artist_ids,track_number,disc_number,explicit,danceability,energy,key,"
          "loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,duration_ms,"
          "time_signature,year,release_date")


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_songs", REPO / "scripts" / "gen-songs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen = _load_generator()


def csv_text(rows) -> str:
    """A file of `rows` (lists of 24 strings) with the header."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER.split(","))
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def row(sid="T" * 22, name="Song", album="Album", album_id="A" * 22, artists=("Artist",), artist_ids=("R" * 22,),
        track="1", disc="1", explicit="False", danceability="0.5", energy="0.5", key="5", loudness="-7.5",
        mode="1", speechiness="0.05", acousticness="0.1", instrumentalness="0.0", liveness="0.1", valence="0.5",
        tempo="120.0", duration_ms="200000", time_signature="4.0", year="1999", release_date="1999-07-14",
        raw_artists=None, raw_ids=None) -> list[str]:
    """One row as the file writes it (lists as str(list), unless given raw)."""
    return [sid, name, album, album_id, raw_artists if raw_artists is not None else str(list(artists)),
            raw_ids if raw_ids is not None else str(list(artist_ids)), track, disc, explicit, danceability, energy,
            key, loudness, mode, speechiness, acousticness, instrumentalness, liveness, valence, tempo, duration_ms,
            time_signature, year, release_date]


# ---------------------------------------------------------------------------- the model


def fold(text: str) -> list[str]:
    """Search words, independently: NFKD without marks, lower case, split on
    whatever is not a letter or digit (agrees with vial_fold_words for the
    generated names and ASCII queries)."""
    special = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "þ": "th", "ð": "d", "ı": "i"}
    out, word = [], []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch):
            continue
        low = ch.lower()
        low = special.get(low, low)
        if all(c.isalnum() for c in low):
            word.append(low)
        else:
            if word:
                out.append("".join(word))
            word = []
    if word:
        out.append("".join(word))
    return out


class Song:
    def __init__(self, r: list[str]):
        self.id, self.name, self.album, self.album_id = r[0], r[1], r[2], r[3]
        self.artists = ast.literal_eval(r[4])
        self.artist_ids = ast.literal_eval(r[5])
        self.track_number = int(float(r[6]))
        self.disc_number = int(float(r[7]))
        self.explicit = r[8] in ("True", "true")
        self.f = {"danceability": float(r[9]), "energy": float(r[10]), "loudness": float(r[12]),
                  "speechiness": float(r[14]), "acousticness": float(r[15]), "instrumentalness": float(r[16]),
                  "liveness": float(r[17]), "valence": float(r[18]), "tempo": float(r[19]),
                  "duration_ms": int(float(r[20]))}
        self.key = int(float(r[11]))
        self.mode = int(float(r[13]))
        self.time_signature = int(float(r[21]))
        self.year = int(r[22])
        self.release_date = None if r[23] == "0000" else r[23]


class Model:
    """The catalogue a sequence of imports should leave."""

    def __init__(self):
        self.songs: dict[str, Song] = {}
        self.artist_names: dict[str, str] = {}
        self.album_names: dict[str, str] = {}

    def add_csv(self, text: str):
        rd = csv.reader(io.StringIO(text, newline=""))
        next(rd)
        for r in rd:
            s = Song(r)
            self.songs[s.id] = s
            self.album_names[s.album_id] = s.album
            for a, i in zip(s.artists, s.artist_ids):
                self.artist_names[i] = a
        return self

    def song_json(self, s: Song) -> dict:
        d = {"id": s.id, "name": s.name, "album": {"id": s.album_id, "name": self.album_names[s.album_id]},
             "artists": [{"id": i, "name": self.artist_names[i]} for i in s.artist_ids],
             "track_number": s.track_number, "disc_number": s.disc_number, "explicit": s.explicit,
             "key": s.key, "mode": s.mode, "time_signature": s.time_signature,
             "year": s.year or None, "release_date": s.release_date}
        d.update(s.f)
        return d

    def matches(self, s: Song, p: dict) -> bool:
        """Whether `s` passes the filters of query parameters `p`."""
        if "artist_id" in p and p["artist_id"] not in s.artist_ids:
            return False
        if "album_id" in p and p["album_id"] != s.album_id:
            return False
        if ("year_min" in p or "year_max" in p) and s.year == 0:
            return False
        if "year_min" in p and s.year < int(p["year_min"]):
            return False
        if "year_max" in p and s.year > int(p["year_max"]):
            return False
        if "explicit" in p and s.explicit != (p["explicit"] == "true"):
            return False
        for f in FEATURES:
            if f + "_min" in p and s.f[f] < float(p[f + "_min"]):
                return False
            if f + "_max" in p and s.f[f] > float(p[f + "_max"]):
                return False
        if "q" in p:
            words = fold(p["q"])[:16]
            if not words:
                return False
            tokens = set(fold(s.name)) | set(fold(" ".join(self.artist_names[i] for i in s.artist_ids))) | \
                set(fold(self.album_names[s.album_id]))
            if any(w not in tokens for w in words[:-1]):
                return False
            if not any(t.startswith(words[-1]) for t in tokens):
                return False
        return True

    def select(self, p: dict) -> set[str]:
        return {sid for sid, s in self.songs.items() if self.matches(s, p)}

    def year_stats(self) -> list[dict]:
        by = {}
        for s in self.songs.values():
            if s.year > 0:
                by.setdefault(s.year, []).append(s)
        out = []
        for y in sorted(by):
            d = {"year": y, "songs": len(by[y])}
            for f in FEATURES:
                d[f] = statistics.fmean(x.f[f] for x in by[y])
            out.append(d)
        return out


# ---------------------------------------------------------------------------- vial-server import-songs


def import_songs(db, cwd, *args, stdin: str | bytes | None = None, secret: str, timeout=120,
                 expect_rc: int | None = 0) -> subprocess.CompletedProcess:
    """`vial-server import-songs ARGS` on `db` (a users_support.Database)."""
    argv = [str(binary("vial-server")), "import-songs", *map(str, args), "--database-url", db.url,
            "--migrations-root", str(MIGRATIONS_ROOT), "--log-level", "warn"]
    data = stdin.encode() if isinstance(stdin, str) else stdin
    p = subprocess.run(argv, input=data, capture_output=True, env=clean_env({"SECRET_KEY": secret}),
                       cwd=str(cwd), timeout=timeout)
    p.stdout, p.stderr = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    rep = sanitizer_report(p.stdout + p.stderr)
    if rep:
        pytest.fail(f"sanitizer report from import-songs:\n{rep}", pytrace=False)
    if expect_rc is not None:
        assert p.returncode == expect_rc, (p.returncode, p.stdout, p.stderr[-3000:])
    return p


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


def close_enough(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
