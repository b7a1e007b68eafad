"""vial-bench, the TechEmpower-style app bench/ measures: its /db ids must be
random per request, per worker and per run (TechEmpower's verifier checks
this; a fixed per-thread seed made every worker and every run repeat the
same sequence)."""
import sqlite3

from conftest import Conn  # noqa: F401  (the fixtures below come from conftest)


def world_db(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE world (id INTEGER PRIMARY KEY, randomNumber INTEGER NOT NULL)")
    db.executemany("INSERT INTO world VALUES (?, ?)", [(i, i * 7 % 10000 + 1) for i in range(1, 10001)])
    db.commit()
    db.close()


def ids(srv, n):
    out = []
    with srv.conn() as c:
        for _ in range(n):
            r = c.request("GET", "/db")
            assert r.status == 200, r
            row = r.json()
            assert 1 <= row["id"] <= 10000 and row["randomNumber"] == row["id"] * 7 % 10000 + 1, row
            out.append(row["id"])
    return out


def test_db_ids_differ_between_runs(start_server, tmp_path):
    path = tmp_path / "world.db"
    world_db(path)
    env = {"DB_PATH": str(path)}
    first = ids(start_server("--workers", "1", name="vial-bench", env=env), 50)
    second = ids(start_server("--workers", "1", name="vial-bench", env=env), 50)
    assert len(set(first)) > 40, first  # 50 draws out of 10,000 rarely collide
    assert first != second, "two runs drew the same ids: the generator is not seeded per run"
