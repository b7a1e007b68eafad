"""bench/ws/flask_echo.py: the Flask-SocketIO peer of bench/ws.sh (the original design's stack).

    python3 flask_echo.py PORT [eventlet|gevent|threading]

Flask-SocketIO speaks Socket.IO, not bare WebSocket: a client opens
/socket.io/?EIO=4&transport=websocket (the websocket transport from the start, no
long-polling phase), receives Engine.IO's open packet, connects to the default
namespace ("40") and then exchanges events.  The echo is an event handler that
emits the same event back to its sender, which is how a Flask-SocketIO app
answers a client (emit() inside a handler goes to the sender's room).

async_mode eventlet (the default here) is what Flask-SocketIO's documentation
recommends for production and what its socketio.run() picks first when it is
installed: one process, green threads, eventlet's own WebSocket server, no
Werkzeug in the message path.  Logging is off (engineio_logger/logger False), and
eventlet's connection cap is raised from 1024 to 20000 for the idle test.
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


@socketio.on("echo")
def echo(data):
    emit("echo", data)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5002
    print(f"flask-socketio ({mode}) echo on 127.0.0.1:{port}", flush=True)
    if mode == "eventlet":
        # eventlet.wsgi serves at most max_size connections at once (default 1024: the
        # 1025th waits for one to close); the idle test holds 10,000.
        kw = {"log_output": False, "max_size": 20000}
    elif mode == "gevent":
        kw = {"log_output": False}
    else:
        kw = {"allow_unsafe_werkzeug": True}
    socketio.run(app, host="127.0.0.1", port=port, **kw)
