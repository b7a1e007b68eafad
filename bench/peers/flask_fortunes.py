"""Flask + Jinja2 /fortunes: the TechEmpower Fortunes test, the peer of vial-bench's /fortunes.

Run under gunicorn by bench/fortunes.sh (`-k sync -w 1`, /usr/bin/python3, Debian python3-flask
with its Jinja2).  As TechEmpower's Flask "raw" entry does it, per request: every row of Fortune
(`SELECT id, message FROM fortune`, no ORDER BY, no caching), the request-time fortune appended,
sorted by message in Python, rendered by render_template() from the same template file vial-bench
uses (bench/templates/fortunes.html; Jinja2 autoescapes .html templates under Flask).  The SQLite
file is DB_PATH, opened read-only, one connection per worker process (as ../../../shared/peers/flask).
"""
import os
import sqlite3
import threading

from flask import Flask, render_template

DB_PATH = os.environ["DB_PATH"]
TEMPLATES = os.environ.get(
    "FORTUNES_TEMPLATES", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "templates"))
app = Flask(__name__, template_folder=TEMPLATES)
_local = threading.local()


def _db():
    # One read-only connection per worker thread (gthread) or process (sync).
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(f"file:{DB_PATH}?mode=ro", uri=True)
        _local.conn = conn
    return conn


@app.get("/fortunes")
def fortunes():
    rows = [{"id": r[0], "message": r[1]} for r in _db().execute("SELECT id, message FROM fortune")]
    rows.append({"id": 0, "message": "Additional fortune added at request time."})
    rows.sort(key=lambda f: f["message"])
    return render_template("fortunes.html", fortunes=rows)
