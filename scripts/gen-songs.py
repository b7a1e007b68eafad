#!/usr/bin/python3
"""Writes a deterministic stand-in for the Kaggle "Spotify 1.2M+ songs"
file (tracks_features.csv), of any size, for tests and benchmarks.

    scripts/gen-songs.py ROWS [--seed N] [-o FILE]     (default: stdout)

Same format as the real file: RFC 4180 CSV with a header, UTF-8, the 24
columns in the real order, written by Python's csv module (minimal quoting,
quotes doubled), and every quirk a real import meets:

  - artists and artist_ids are Python list literals, as the original
    pandas export wrote them (str(list)): ['A', 'B']; a name with an
    apostrophe is double-quoted ["Screamin' Jay Hawkins"]; one with both
    kinds of quote, a backslash or a control character gets backslash
    escapes; names hold commas, so the whole field is CSV-quoted;
  - explicit is True/False; time_signature is a float (4.0), sometimes 0.0;
  - release_date is YYYY-MM-DD, YYYY-MM or YYYY, and 0000 with year 0 for
    an unknown date;
  - tempo can be 0, loudness can be positive, instrumentalness and friends
    are written as Python writes small floats (1.24e-05).

Albums are written together, tracks in disc/track order (as the real file
is), by an album artist drawn from a Zipf-like popularity, with guest
artists on some tracks; artists and albums recur across the file, and an
artist's name is the same wherever it appears.  Value distributions follow
the real file's rough shapes (danceability around 0.5, acousticness and
instrumentalness bimodal, years mostly 1990-2020, ...).

Used as a module too (tests/api): rows(n, seed) yields the rows as lists of
strings, exactly as written.
"""
import argparse
import csv
import io
import math
import random
import sys

HEADER = ["id", "name", "album", "album_id", "artists", "artist_ids", "track_number", "disc_number",
          "explicit", "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
          "instrumentalness", "liveness", "valence", "tempo", "duration_ms", "time_signature", "year",
          "release_date"]

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

WORDS = ("love night dream heart fire blue rain summer city lights dance baby gold river home road "
         "star moon time world girl boy money wild free young forever yesterday tonight sun sky ocean "
         "ghost shadow angel devil paradise highway midnight morning echo silence thunder storm honey "
         "sugar whiskey diamond velvet neon electric crystal broken lonely sweet crazy little big golden "
         "silver black white red green hollow holy secret stranger lover fever memory heaven garden "
         "window mirror train station letter story song music radio party kiss smile tears rose "
         "wonder magic spirit soul blues jazz rock funk disco groove rhythm beat bass drum guitar piano "
         "symphony sonata prelude nocturne etude waltz concerto overture requiem suite variations").split()
# Words with letters outside ASCII, some with diacritics, some not Latin.
INTL = ["café", "corazón", "niño", "señorita", "über", "mädchen", "straße", "garçon", "fiancée", "déjà",
        "smörgåsbord", "façade", "jalapeño", "naïve", "crème", "brûlée", "amour", "liebe", "привет",
        "любовь", "東京", "夜", "사랑", "ελπίδα", "שלום", "Ærø", "Øresund", "İstanbul", "Łódź"]
FIRST = ("John Paul George Ringo Aretha Nina Miles Billie Ella Louis Frank Dean Etta Otis Marvin Stevie "
         "Whitney Mariah Prince Madonna David Elton Freddie Bruce Bob Joni Carole Dolly Johnny Willie "
         "Patsy Loretta Hank Buddy Chuck Little Fats Jerry Lee Ray Sam James Al Curtis Bill Gladys").split()
LAST = ("Smith Jones Brown Davis Miller Wilson Moore Taylor Anderson Thomas Jackson White Harris Martin "
        "Thompson Garcia Martinez Robinson Clark Rodriguez Lewis Walker Hall Allen Young King Wright "
        "Lopez Hill Scott Green Adams Baker Nelson Carter Mitchell Perez Roberts Turner Phillips").split()
BAND_B = ("Stones Underground Lights Riders Hearts Boys Girls Kings Queens Ghosts Angels Wolves Foxes "
          "Rebels Dreamers Strangers Lovers Machines Echoes Shadows").split()
# Names written the way the real file's trouble-makers are.
SPECIAL_ARTISTS = [
    "Screamin' Jay Hawkins",          # apostrophe: the literal is double-quoted
    "Guns N' Roses",
    "Crosby, Stills, Nash & Young",   # commas inside a name
    "Earth, Wind & Fire",
    'The "Fabulous" Thunderbirds',    # double quotes: single-quoted literal
    'Rock \'n\' Roll "Legends"',      # both quotes: backslash escapes
    "AC\\DC Tribute",                 # a backslash: \\ in the literal
    "Tab\tSeparated",                 # a control character: \t
    "Beyoncé",
    "Sigur Rós",
    "Mötley Crüe",
    "坂本龍一",
    "Стас Михайлов",
    "Rosalía",
    "[Bracket] Band",
    "Comma, Quote ' and \"Double\"",
    "Emoji 🎸 Band",
    "Back\\slash 'n' Quote",
]


def b62(rng, n=22):
    return "".join(rng.choice(B62) for _ in range(n))


def round_sig(x, sig):
    if x == 0:
        return 0.0
    return round(x, sig - 1 - int(math.floor(math.log10(abs(x)))))


def clamp(x, lo, hi):
    return lo if x < lo else hi if x > hi else x


def fmt(x):
    """A float as the real file writes it: Python's repr (1.24e-05, 0.47)."""
    return repr(float(x))


class Catalogue:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.artists = []  # (id, name)
        self.names = set()
        self.weights = []
        self.specials = list(SPECIAL_ARTISTS)

    def _add(self, name):
        rng = self.rng
        self.artists.append((b62(rng), name))
        self.names.add(name)
        # Zipf-like popularity: a few artists own many albums.
        self.weights.append(1.0 / (len(self.artists) ** 0.8))

    def new_artist(self):
        rng = self.rng
        # The trouble-makers come early (a small file has them all) but not
        # first, so they are not the most popular artists of a big one.
        if self.specials and len(self.artists) % 3 == 2:
            self._add(self.specials.pop(0))
            return len(self.artists) - 1
        for _ in range(20):
            r = rng.random()
            if r < 0.45:
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            elif r < 0.75:
                name = f"The {rng.choice(BAND_B)}" if rng.random() < 0.5 else f"{rng.choice(WORDS).title()} {rng.choice(BAND_B)}"
            elif r < 0.85:
                name = f"{rng.choice(INTL).title()} {rng.choice(LAST)}"
            elif r < 0.9:
                name = f"DJ {rng.choice(WORDS).title()}"
            else:
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)} & {rng.choice(FIRST)} {rng.choice(LAST)}"
            if name not in self.names:
                break
            name = f"{name} {rng.randint(2, 99)}"
            if name not in self.names:
                break
        self._add(name)
        return len(self.artists) - 1

    def pick_artist(self, fresh):
        """An existing artist by popularity, or a new one."""
        rng = self.rng
        if rng.random() < fresh or len(self.artists) < 50:
            return self.new_artist()
        # A cheap Zipf-like draw: an index from a power law, clipped.
        i = int(len(self.artists) * (rng.random() ** 2.2))
        return min(i, len(self.artists) - 1)


def title(rng, words=(1, 4)):
    k = rng.randint(*words)
    ws = []
    for _ in range(k):
        w = rng.choice(INTL) if rng.random() < 0.04 else rng.choice(WORDS)
        ws.append(w.title() if rng.random() < 0.8 else w)
    t = " ".join(ws)
    r = rng.random()
    if r < 0.03:
        t += " - Remastered " + str(rng.randint(1995, 2020))
    elif r < 0.05:
        t += f" (feat. {rng.choice(FIRST)} {rng.choice(LAST)})"
    elif r < 0.06:
        t = f'"{t}"'                  # a quoted title: CSV doubles the quotes
    elif r < 0.065:
        t += ", Pt. " + str(rng.randint(1, 3))
    elif r < 0.067:
        t = t + "\n" + rng.choice(WORDS)  # a line break inside a quoted field (RFC 4180)
    elif r < 0.07:
        t = "'" + t + "'"
    return t


def year_of(rng):
    r = rng.random()
    if r < 0.002:
        return 0
    if r < 0.05:
        return rng.randint(1920, 1959)
    if r < 0.15:
        return rng.randint(1960, 1979)
    if r < 0.35:
        return rng.randint(1980, 1999)
    return rng.randint(2000, 2020)


def date_of(rng, year):
    if year == 0:
        return "0000"
    r = rng.random()
    if r < 0.12:
        return f"{year:04d}"
    if r < 0.15:
        return f"{year:04d}-{rng.randint(1, 12):02d}"
    month = rng.randint(1, 12)
    days = [31, 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28, 31, 30, 31, 30,
            31, 31, 30, 31, 30, 31][month - 1]
    return f"{year:04d}-{month:02d}-{rng.randint(1, days):02d}"


def features(rng, classical):
    g = rng.gauss
    acoustic = clamp(rng.betavariate(0.6, 0.5) if not classical else rng.betavariate(5, 1), 0, 0.996)
    instr_hi = rng.random() < (0.7 if classical else 0.15)
    if instr_hi:
        instr = rng.betavariate(4, 1.2)
    else:
        instr = 0.0 if rng.random() < 0.4 else 10 ** rng.uniform(-6.5, -2)
    energy = clamp(rng.betavariate(2.2, 2.0) * (0.5 if classical else 1.0), 0, 1)
    loud = -5 - (1 - energy) * 20 + g(0, 3)
    if rng.random() < 0.002:
        loud = rng.uniform(0.1, 6.5)  # positive loudness happens
    loud = clamp(loud, -60, 7.234)
    tempo = clamp(g(118, 29), 30, 248.5)
    if rng.random() < 0.003:
        tempo = 0.0
    ts = rng.choices([4.0, 3.0, 5.0, 1.0, 0.0], [86, 9, 3, 1.5, 0.5])[0]
    if tempo == 0.0 and rng.random() < 0.5:
        ts = 0.0
    return {
        "danceability": round(clamp(rng.betavariate(5, 4.5) * (0.6 if classical else 1.0), 0, 0.985), 3),
        "energy": round_sig(max(energy, 2.03e-05), 3),
        "key": rng.randint(0, 11),
        "loudness": round(loud, 3),
        "mode": 1 if rng.random() < 0.68 else 0,
        "speechiness": round_sig(clamp(rng.expovariate(1 / 0.07) + 0.022, 0, 0.97), 3),
        "acousticness": round_sig(max(acoustic, 1.1e-06), 3),
        "instrumentalness": round_sig(instr, 3),
        "liveness": round_sig(clamp(rng.lognormvariate(-1.8, 0.6), 0.0119, 1.0), 3),
        "valence": round(clamp(rng.betavariate(2, 2.5), 0, 0.993), 3),
        "tempo": round(tempo, 3),
        "duration_ms": int(clamp(rng.lognormvariate(12.35, 0.45), 1000, 6_000_000)),
        "time_signature": ts,
    }


def rows(n, seed=1):
    """Yields n rows (lists of 24 strings), deterministic for a seed."""
    cat = Catalogue(seed)
    rng = cat.rng
    made = 0
    while made < n:
        main = cat.pick_artist(fresh=0.3)
        credits = [main]
        if rng.random() < 0.12:
            other = cat.pick_artist(fresh=0.2)
            if other != main:
                credits.append(other)
        album_id = b62(rng)
        album = title(rng, (1, 3))
        if rng.random() < 0.02:
            album = album + ", Vol. " + str(rng.randint(1, 4))
        year = year_of(rng)
        date = date_of(rng, year)
        classical = rng.random() < 0.08
        size = 1 if rng.random() < 0.25 else max(1, min(40, int(rng.gauss(11, 5))))
        discs = 2 if size > 14 and rng.random() < 0.3 else 1
        per_disc = -(-size // discs)
        explicit_album = rng.random() < 0.12
        for t in range(size):
            if made >= n:
                break
            who = list(credits)
            if rng.random() < 0.1:  # a guest on this track
                g = cat.pick_artist(fresh=0.3)
                if g not in who:
                    who.append(g)
            f = features(rng, classical)
            names = [cat.artists[i][1] for i in who]
            ids = [cat.artists[i][0] for i in who]
            yield [b62(rng), title(rng), album, album_id, str(names), str(ids), str(t % per_disc + 1),
                   str(t // per_disc + 1), "True" if explicit_album and rng.random() < 0.8 else "False",
                   fmt(f["danceability"]), fmt(f["energy"]), str(f["key"]), fmt(f["loudness"]), str(f["mode"]),
                   fmt(f["speechiness"]), fmt(f["acousticness"]), fmt(f["instrumentalness"]),
                   fmt(f["liveness"]), fmt(f["valence"]), fmt(f["tempo"]), str(f["duration_ms"]),
                   fmt(f["time_signature"]), str(year), date]
            made += 1


def write(out, n, seed=1):
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for r in rows(n, seed):
        w.writerow(r)


def text(n, seed=1):
    """The whole file as a string (small sizes: tests)."""
    buf = io.StringIO()
    write(buf, n, seed)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rows", type=int)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args()
    if a.output == "-":
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=False)
        write(out, a.rows, a.seed)
        out.flush()
    else:
        with open(a.output, "w", encoding="utf-8", newline="") as out:
            write(out, a.rows, a.seed)


if __name__ == "__main__":
    main()
