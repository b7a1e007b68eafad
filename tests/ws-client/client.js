// A second, independent WebSocket client for tests/api/test_websocket.py:
// the npm `ws` library against vial.  Runs a fixed conversation and prints
// one JSON object of what it saw; exits non-zero on an unexpected error.
//
//   node client.js PORT
'use strict';
const WebSocket = require('ws');

const port = process.argv[2];
const base = `ws://127.0.0.1:${port}`;

function open(path, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + path, opts.protocols || [], opts);
    ws.binaryType = 'nodebuffer';
    const queue = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length) waiters.shift()(m); else queue.push(m);
    });
    ws.next = () => new Promise((res) => {
      if (queue.length) res(queue.shift()); else waiters.push(res);
    });
    ws.closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

async function conversation(deflate) {
  const out = {};
  const ws = await open('/ws/echo', { perMessageDeflate: deflate ? { threshold: 0 } : false });
  out.extensions = ws.extensions;
  ws.send('hello from node');
  out.text = (await ws.next()).data.toString();
  const bin = Buffer.alloc(70000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7) & 0xff;
  ws.send(bin);
  const b = await ws.next();
  out.binary_ok = b.isBinary && Buffer.compare(b.data, bin) === 0;
  const big = 'x'.repeat(1 << 20);
  ws.send(big);
  out.big_ok = (await ws.next()).data.toString() === big;
  ws.send('close-me');
  out.server_close = await ws.closed;
  return out;
}

async function main() {
  const result = {};
  result.plain = await conversation(false);
  result.deflate = await conversation(true);
  const chat = await open('/ws/chat', { protocols: ['chat.v1', 'chat.v2'] });
  result.protocol = chat.protocol;
  chat.send('protocol');
  result.protocol_echo = (await chat.next()).data.toString();
  chat.close(4001, 'bye from node');
  result.client_close = await chat.closed;
  // over the limit: the server closes with 1009
  const lim = await open('/ws/echo', { perMessageDeflate: false });
  lim.send(Buffer.alloc((1 << 20) + 1));
  result.too_big = await lim.closed;
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
