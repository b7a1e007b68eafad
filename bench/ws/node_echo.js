// bench/ws/node_echo.js: the Node peer of bench/ws.sh, a WebSocket echo server on npm's ws.
//   node node_echo.js PORT
// ws as its README shows a server, with its defaults (no permessage-deflate on the server
// side unless asked; the load generator offers none), on one event loop: Node's normal
// deployment, one process per core.  Every message goes back to its sender as it came
// (text stays text).  Only /echo upgrades, like examples/ws_echo.c.
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 5001);
const server = http.createServer((req, res) => {
  res.writeHead(426, { 'Content-Type': 'text/plain' });
  res.end('WebSocket only\n');
});
const wss = new WebSocketServer({ server, path: '/echo' });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => console.log(`node ws echo on 127.0.0.1:${port}/echo`));
process.on('SIGTERM', () => process.exit(0));
