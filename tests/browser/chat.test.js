// Browser test of the chat page (/chat, static/js/chat.js), run by ./run.sh
// beside dashboard.test.js: two browser contexts (two people, anonymous)
// pick names, one creates a channel, both join it and see each other's
// messages live; one reloads and sees the history; markup sent as a
// message shows as text; a user logged in on the dashboard chats under
// their username (the handshake carries the session cookie).  Every page is watched for console errors,
// failed requests and CSP violations.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

const BASE = process.env.VIAL_URL;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT = 10000;
if (!BASE) throw new Error('VIAL_URL is not set: run tests/browser/run.sh');

const tag = Date.now().toString(36);
const ROOM = `room ${tag}`;
const ANN = `ann_${tag}`, BEN = `ben_${tag}`;
const XSS = '<img id="chat-evil" src=x onerror="window.__xss = 1">';

let browser;
const problems = [];

function watch(p, label) {
  p.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning' || /Content Security Policy|Refused to/.test(m.text()))
      problems.push(`${label} console.${m.type()}: ${m.text()}`);
  });
  p.on('pageerror', (e) => problems.push(`${label} page error: ${e.message}`));
  p.on('requestfailed', (r) => {
    if (!/favicon/.test(r.url())) problems.push(`${label} request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
}

async function person(label) {
  const ctx = await browser.newContext({ baseURL: BASE, viewport: { width: 1100, height: 800 } });
  ctx.setDefaultTimeout(STEP_TIMEOUT);
  await ctx.exposeBinding('__vialCsp', (src, v) => problems.push(`${label} CSP violation: ${JSON.stringify(v)}`));
  await ctx.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__vialCsp({ directive: e.violatedDirective, blocked: e.blockedURI });
    });
  });
  const page = await ctx.newPage();
  watch(page, label);
  return { ctx, page };
}

async function open(p, name) {
  const r = await p.goto('/chat');
  assert.equal(r.status(), 200);
  const h = await r.allHeaders();
  assert.match(h['content-security-policy'] || '', /default-src 'self'/);
  assert.doesNotMatch(h['content-security-policy'], /unsafe-inline|unsafe-eval/);
  await p.fill('#chat-name', name);
  await p.click('#chat-connect');
  await p.waitForSelector('#chat-main:not([hidden])');
  await p.waitForFunction((n) => document.getElementById('chat-status').textContent.includes(n), name);
}

async function texts(p) {
  return p.$$eval('#messages li', (lis) => lis.map((li) => [li.querySelector('.who').textContent,
    li.querySelector('.text').textContent]));
}

async function waitText(p, text) {
  await p.waitForFunction((t) => [...document.querySelectorAll('#messages .text')].some((e) => e.textContent === t),
    text);
}

describe('the chat page', () => {
  let a, b;
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
             '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      timeout: 30000,
    });
    a = await person('ann');
    b = await person('ben');
  });

  after(async () => {
    if (browser) await browser.close();
  });

  it('two people chat in a channel one of them created', async () => {
    await open(a.page, ANN);
    await open(b.page, BEN);
    await a.page.fill('#new-channel', ROOM);
    await a.page.click('#create');
    await a.page.waitForSelector('#room-title:has-text("' + ROOM + '")');
    // the new channel reaches the other page live; joining it shows its (empty) history
    const btn = `#channels button[data-channel="${ROOM}"]`;
    await b.page.waitForSelector(btn);
    await b.page.click(btn);
    await b.page.waitForSelector('#room-title:has-text("' + ROOM + '")');
    await a.page.fill('#text', 'hello from ann');
    await a.page.click('#send');
    await waitText(b.page, 'hello from ann');
    await waitText(a.page, 'hello from ann');
    assert.equal(await a.page.inputValue('#text'), ''); // cleared once the server took it
    await b.page.fill('#text', XSS);
    await b.page.press('#text', 'Enter');
    await waitText(a.page, XSS);
    assert.deepEqual(await texts(a.page), [[ANN, 'hello from ann'], [BEN, XSS]]);
    assert.deepEqual(await texts(b.page), [[ANN, 'hello from ann'], [BEN, XSS]]);
    assert.equal(await a.page.$('#chat-evil'), null);
    assert.equal(await a.page.evaluate(() => window.__xss), undefined);
  });

  it('after a reload the history is there', async () => {
    await b.page.reload();
    await open(b.page, `${BEN}_2`);
    const btn = `#channels button[data-channel="${ROOM}"]`;
    await b.page.click(btn);
    await waitText(b.page, XSS);
    assert.deepEqual(await texts(b.page), [[ANN, 'hello from ann'], [BEN, XSS]]);
    // and live still works both ways
    await b.page.fill('#text', 'back again');
    await b.page.click('#send');
    await waitText(a.page, 'back again');
  });

  it('a logged-in user chats under their username, without picking a name', async () => {
    const c = await person('cay');
    const username = `cay_${tag}`;
    await c.page.goto('/register');
    await c.page.fill('#username', username);
    await c.page.fill('#password', 'correct horse battery staple');
    await c.page.fill('#password2', 'correct horse battery staple');
    await Promise.all([c.page.waitForNavigation(), c.page.click('#register')]);
    await c.page.waitForLoadState('networkidle'); // the explorer's own requests, not cut short
    await c.page.goto('/chat');
    await c.page.waitForSelector('#chat-main:not([hidden])');
    assert.equal(await c.page.isHidden('#chat-login'), true);
    await c.page.waitForFunction((n) => document.getElementById('chat-status').textContent.includes(n), username);
    await c.page.click(`#channels button[data-channel="${ROOM}"]`);
    await waitText(c.page, 'back again');
    await c.page.fill('#text', 'signed in');
    await c.page.click('#send');
    await waitText(a.page, 'signed in');
    const who = await a.page.$$eval('#messages .who', (e) => e.map((x) => x.textContent));
    assert.equal(who[who.length - 1], username);
  });

  it('a dropped connection comes back by itself and fetches what was missed', async () => {
    // The server drops ann for flooding (1008 past chat_burst = 50 frames
    // at once); while she is away ben speaks; the page reconnects, says
    // hello under the same name, joins again and shows what she missed.
    await a.page.evaluate(() => {
      const f = document.getElementById('send-form'), t = document.getElementById('text');
      for (let i = 0; i < 60; i++) { t.value = `flood ${i}`; f.requestSubmit(); }
    });
    await a.page.waitForFunction(() => /Disconnected|Reconnecting/.test(document.getElementById('chat-status').textContent));
    await b.page.fill('#text', 'while you were away');
    await b.page.click('#send');
    await a.page.waitForFunction((n) => document.getElementById('chat-status').textContent === `Connected as ${n}`, ANN);
    await waitText(a.page, 'while you were away');
    const ids = await a.page.$$eval('#messages li', (lis) => lis.map((li) => Number(li.dataset.id)));
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'in id order');
    assert.equal(new Set(ids).size, ids.length, 'nothing twice');
    await a.page.fill('#text', 'back online');
    await a.page.click('#send');
    await waitText(b.page, 'back online');
  });

  it('nothing went wrong on the pages', () => {
    assert.deepEqual(problems, []);
  });
});
