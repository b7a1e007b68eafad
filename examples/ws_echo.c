/* ws_echo.c — a WebSocket echo server: ./build/examples/ws_echo, then ws://127.0.0.1:5000/echo */
#include <vial.h>

static void echo(vial_ws *ws, const char *data, size_t len, int binary)
{
    vial_ws_send(ws, data, len, binary); /* text stays text, binary stays binary */
}

static const vial_ws_handlers echo_ws = { .message = echo };

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("ws_echo");
    vial_websocket(app, "/echo", &echo_ws);
    return vial_main(app, argc, argv);
}
