// npm `ws` as a chat client (tests/api/test_chat.py): compression on (every
// frame compressed), it says hello, joins the channel CHANNEL, sends one
// message and waits for one from someone else; prints one JSON object of
// what it saw and exits non-zero on an unexpected error.
//
//   node chat.js PORT NAME CHANNEL
'use strict';
const WebSocket = require('ws');

const [port, name, channel] = process.argv.slice(2);
const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/chat`, { perMessageDeflate: { threshold: 0 } });
const queue = [];
const waiters = [];
ws.on('message', (data) => {
  const m = JSON.parse(data.toString());
  if (waiters.length) waiters.shift()(m); else queue.push(m);
});
const next = () => new Promise((res) => { if (queue.length) res(queue.shift()); else waiters.push(res); });
const ask = (frame) => { ws.send(JSON.stringify(frame)); return next(); };

ws.on('error', (e) => { console.error(e); process.exit(1); });
ws.on('open', async () => {
  const out = { extensions: ws.extensions };
  out.welcome = await ask({ type: 'hello', name });
  out.history = await ask({ type: 'join', channel, ref: 'j' });
  out.sent = await ask({ type: 'message', channel, text: `hello from node ${'ü'.repeat(600)}`, ref: 'n1' });
  out.received = await next(); // someone else's
  ws.close(1000);
  ws.on('close', (code) => {
    out.close = code;
    console.log(JSON.stringify(out));
    clearTimeout(timer);
  });
});
const timer = setTimeout(() => { console.error('timeout'); process.exit(2); }, 20000);
