/*
 * chat.h — the chat blueprint of vial-server (apps/chat): channels and
 * messages over WebSocket (GET /ws/chat), an HTTP API and Server-Sent
 * Events beside it (/api/chat/...).  The protocol is in README.md.
 */
#ifndef VIAL_APPS_CHAT_H
#define VIAL_APPS_CHAT_H

#include <vial.h>

/* Declares the chat_* settings, registers the blueprint at the root, the
 * migration set "chat" (apps/chat/migrations, under migrations_root) and
 * the counter vial_chat_messages_total.  Needs vial_db_init(app) and
 * users_register(app) (accounts, the kv store); the session module
 * (dashboard_register) makes the dashboard's login count as one. */
int chat_register(vial_app *app);

#endif
