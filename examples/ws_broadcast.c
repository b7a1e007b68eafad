/* ws_broadcast.c — every message one client sends reaches every client connected
 * (itself included): ./build/examples/ws_broadcast, then ws://127.0.0.1:5000/broadcast */
#include <vial.h>

static void joined(vial_ws *ws)
{
    vial_ws_subscribe(ws, "all"); /* ends with the connection */
}

static void relay(vial_ws *ws, const char *data, size_t len, int binary)
{
    (void)binary; /* subscribers get text frames: the event() default */
    vial_publish(vial_ws_app(ws), "all", data, len); /* copied once per worker, not per client */
}

static const vial_ws_handlers broadcast_ws = { .open = joined, .message = relay };

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("ws_broadcast");
    vial_websocket(app, "/broadcast", &broadcast_ws);
    return vial_main(app, argc, argv);
}
