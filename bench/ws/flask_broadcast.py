"""bench/ws/flask_broadcast.py: the Flask-SocketIO peer of bench/ws.sh's fan-out.

    python3 flask_broadcast.py PORT [eventlet|gevent|threading]

As flask_echo.py (Socket.IO on the websocket transport alone, logging off,
eventlet, its connection cap raised to 20000), with the broadcast the
Flask-SocketIO documentation shows: a "pub" event handler that emit()s the
data as a "msg" event with broadcast=True, to every client connected to the
namespace, the sender included (include_self defaults to True).
"""
import sys

mode = sys.argv[2] if len(sys.argv) > 2 else "eventlet"
if mode == "eventlet":
    import eventlet

    eventlet.monkey_patch()
elif mode == "gevent":
    from gevent import monkey

    monkey.patch_all()

from flask import Flask  # noqa: E402
from flask_socketio import SocketIO, emit  # noqa: E402

app = Flask(__name__)
socketio = SocketIO(app, async_mode=mode, logger=False, engineio_logger=False,
                    cors_allowed_origins="*")


@socketio.on("pub")
def pub(data):
    emit("msg", data, broadcast=True)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5002
    print(f"flask-socketio ({mode}) broadcast on 127.0.0.1:{port}", flush=True)
    if mode == "eventlet":
        # eventlet.wsgi serves at most max_size connections at once (default 1024); the
        # fan-out holds 10,000 subscribers.
        kw = {"log_output": False, "max_size": 20000}
    elif mode == "gevent":
        kw = {"log_output": False}
    else:
        kw = {"allow_unsafe_werkzeug": True}
    socketio.run(app, host="127.0.0.1", port=port, **kw)
