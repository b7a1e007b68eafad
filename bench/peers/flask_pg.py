"""Flask /db on PostgreSQL: the PostgreSQL twin of ../../../shared/peers/flask/app.py's /db.

Run under gunicorn by bench/db.sh (`-k sync -w 1`, /usr/bin/python3, Debian python3-flask,
gunicorn and python3-psycopg2).  Same endpoint shape as the SQLite peer: one random World row
per request (id uniformly in 1..10000), the same SELECT by id, `jsonify(id=..., randomNumber=...)`.
One connection per worker process, opened on first use (after gunicorn forks), autocommit so
that a read is not held open in a transaction; no caching of rows.
"""
import os
import random

import psycopg2
from flask import Flask, jsonify

DATABASE_URL = os.environ["DATABASE_URL"]
app = Flask(__name__)
_conn = None


def _db():
    # One connection per worker process (gunicorn sync workers are single-threaded).
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg2.connect(DATABASE_URL)
        _conn.autocommit = True
    return _conn


@app.get("/db")
def db():
    with _db().cursor() as cur:
        cur.execute("SELECT id, randomNumber FROM world WHERE id = %s", (random.randint(1, 10000),))
        row = cur.fetchone()
    return jsonify(id=row[0], randomNumber=row[1])
