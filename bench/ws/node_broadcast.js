// bench/ws/node_broadcast.js: the Node peer of bench/ws.sh's fan-out, a broadcast server on npm's ws.
//   node node_broadcast.js PORT
// The broadcast the ws README shows ("Server broadcast"): every message a client sends goes
// to every open client, the sender included, as it came (text stays text).  One event loop,
// ws's defaults (no permessage-deflate: the load generator offers none).  Only /broadcast
// upgrades, like examples/ws_broadcast.c.
'use strict';
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2] || 5001);
const server = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('WebSocket only\n');
});
const wss = new WebSocketServer({ server, path: '/broadcast' });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    wss.clients.forEach((c) => {
      if (c.readyState === WebSocket.OPEN) c.send(data, { binary: isBinary });
    });
  });
  ws.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => console.log(`node ws broadcast on 127.0.0.1:${port}/broadcast`));
process.on('SIGTERM', () => process.exit(0));
