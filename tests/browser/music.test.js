// Browser test of the music page (/music), run by ./run.sh after
// dashboard.test.js against the same server, whose catalogue run.sh
// imported from scripts/gen-songs.py (plus one song whose name, album and
// artist are markup).  One visitor searches, pages, draws random songs and
// the charts; then logs in and manages a playlist; then the page on a
// phone-width screen.  Every page is watched for console errors, failed
// requests and CSP violations, as in dashboard.test.js.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { chromium } = require('playwright-core');

const BASE = process.env.VIAL_URL;
const ARTIFACTS = process.env.ARTIFACTS || path.join(__dirname, '..', '..', 'build', 'artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'correct horse battery staple';
const STEP_TIMEOUT = 10000;
const EVIL_ID = 'EvilEvilEvilEvilEvil01';

if (!BASE) throw new Error('VIAL_URL is not set: run tests/browser/run.sh');

let browser, ctx, page;
const problems = [];
let expected = [];

function watch(p, label) {
  p.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning' || /Content Security Policy|Refused to/.test(m.text()))
      problems.push(`${label} console.${m.type()}: ${m.text()} (${m.location().url || p.url()})`);
  });
  p.on('pageerror', (e) => problems.push(`${label} page error: ${e.message} (${p.url()})`));
  p.on('requestfailed', (r) => problems.push(`${label} request failed: ${r.url()} ${r.failure()?.errorText}`));
  p.on('response', (r) => {
    if (r.status() >= 400 && r.request().resourceType() !== 'document')
      problems.push(`${label} ${r.status()} for ${r.request().resourceType()} ${r.url()}`);
  });
}

function assertClean() {
  const left = problems.splice(0).filter((p) => !expected.some((re) => re.test(p)) && !/favicon\.ico/.test(p));
  expected = [];
  assert.deepEqual(left, [], 'console errors / CSP violations / failed requests');
}

async function newContext(opts = {}) {
  const c = await browser.newContext({ baseURL: BASE, viewport: { width: 1100, height: 900 }, ...opts });
  c.setDefaultTimeout(STEP_TIMEOUT);
  c.setDefaultNavigationTimeout(STEP_TIMEOUT);
  await c.exposeBinding('__vialCsp', (src, v) => problems.push(`CSP violation: ${JSON.stringify(v)} (${src.page?.url()})`));
  await c.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__vialCsp({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
    });
  });
  return c;
}

async function go(p, url) {
  const r = await p.goto(url);
  assert.equal(r.status(), 200, `${url}: status ${r.status()}`);
  const h = await r.allHeaders();
  assert.match(h['content-security-policy'] || '', /default-src 'self'/);
  assert.doesNotMatch(h['content-security-policy'], /unsafe-inline|unsafe-eval/);
  return r;
}

async function api(url) {
  const r = await fetch(BASE + url, { headers: { Accept: 'application/json' } });
  assert.equal(r.status, 200, url);
  return r.json();
}

async function shownIds(p) {
  return p.$$eval('#m-results tbody tr[data-id]', (trs) => trs.map((tr) => tr.dataset.id));
}

async function settled(p) {
  await p.waitForFunction(() => document.getElementById('m-status').dataset.state !== 'busy');
}

const username = `mel_${Date.now().toString(36)}`;

describe('vial-server music page', () => {
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
             '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      timeout: 30000,
    });
    ctx = await newContext();
    page = await ctx.newPage();
    watch(page, 'main');
  });

  after(async () => {
    if (browser) await browser.close();
  });

  it('opens without a login: the year chart, histogram and scatter are drawn', async () => {
    await go(page, '/music');
    assert.equal((await page.textContent('h1')).trim(), 'Music catalogue');
    await page.waitForSelector('#m-years[data-drawn]');
    await page.waitForSelector('#m-histogram[data-drawn]');
    await page.waitForSelector('#m-scatter[data-drawn]');
    const years = await api('/api/stats/years');
    // three features chosen by default, one point per year each
    assert.equal(Number(await page.getAttribute('#m-years', 'data-drawn')), 3 * years.length);
    assert.equal(Number(await page.getAttribute('#m-histogram', 'data-drawn')), 20);
    assert.equal(Number(await page.getAttribute('#m-scatter', 'data-drawn')), 1000);
    assert.equal(await page.$('#m-pl-select'), null, 'no playlists without a login');
    assertClean();
  });

  it('choosing features redraws the year chart', async () => {
    const years = await api('/api/stats/years');
    await page.check('#m-year-features input[value="tempo"]');
    await page.uncheck('#m-year-features input[value="energy"]');
    await page.uncheck('#m-year-features input[value="valence"]');
    await page.waitForFunction((n) => document.getElementById('m-years').dataset.drawn === String(n), 2 * years.length);
    assertClean();
  });

  it('a search shows the API\'s first page, and the next page appends', async () => {
    await page.fill('#m-q', 'love');
    await page.click('#m-search');
    await settled(page);
    const want = await api('/api/songs?q=love&limit=25');
    assert.ok(want.length === 25, 'the generated catalogue has more than a page of "love"');
    assert.deepEqual(await shownIds(page), want.map((s) => s.id));
    const rows = await page.$$eval('#m-results tbody tr[data-id]', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    assert.equal(rows[0][0], want[0].name);
    assert.equal(rows[0][1], want[0].artists.map((a) => a.name).join(', '));
    assert.equal(rows[0][2], want[0].album.name);
    assert.ok(await page.isVisible('#m-next'));
    await page.click('#m-next');
    await settled(page);
    const more = await api('/api/songs?q=love&limit=50');
    assert.deepEqual(await shownIds(page), more.map((s) => s.id));
    assertClean();
  });

  it('filters and sort: years within the range, newest first', async () => {
    await page.fill('#m-q', '');
    await page.fill('#m-year-min', '1990');
    await page.fill('#m-year-max', '1999');
    await page.selectOption('#m-sort', '-year');
    await page.click('#m-search');
    await settled(page);
    const want = await api('/api/songs?year_min=1990&year_max=1999&sort=-year&limit=25');
    assert.deepEqual(await shownIds(page), want.map((s) => s.id));
    assert.ok(want.every((s) => s.year >= 1990 && s.year <= 1999));
    // a bad filter: the API's 400 message is shown, nothing breaks
    await page.fill('#m-year-min', '2001');
    expected.push(/status of 400/, /400 for fetch/);
    await page.click('#m-search');
    await page.waitForFunction(() => document.getElementById('m-status').dataset.state === 'error');
    assert.match(await page.textContent('#m-status'), /year_min/);
    assertClean();
  });

  it('random songs respect the filters; the histogram follows them', async () => {
    await page.fill('#m-year-min', '1990');
    await page.selectOption('#m-explicit', 'true');
    await page.click('#m-random');
    await settled(page);
    const ids = await shownIds(page);
    assert.ok(ids.length > 0 && ids.length <= 25);
    assert.equal(new Set(ids).size, ids.length, 'distinct');
    for (const id of ids.slice(0, 5)) {
      const s = await api(`/api/songs/${id}`);
      assert.ok(s.explicit && s.year >= 1990 && s.year <= 1999, JSON.stringify(s));
    }
    await page.fill('#m-bins', '7');
    await page.click('#m-hdraw');
    await page.waitForFunction(() => document.getElementById('m-histogram').dataset.drawn === '7');
    await page.selectOption('#m-explicit', '');
    await page.fill('#m-year-min', '');
    await page.fill('#m-year-max', '');
    assertClean();
  });

  it('names that are markup are shown as text', async () => {
    await page.fill('#m-q', 'evilsong');
    await page.selectOption('#m-sort', '');
    await page.click('#m-search');
    await settled(page);
    assert.deepEqual(await shownIds(page), [EVIL_ID]);
    const cells = await page.$$eval('#m-results tbody tr[data-id] td', (tds) => tds.map((td) => td.textContent));
    assert.match(cells[0], /<img id="evil"/);
    assert.equal(await page.$('#evil'), null);
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    assertClean();
  });

  it('a logged-in user creates a playlist, adds songs from the results, reorders and removes', async () => {
    await go(page, '/register');
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await page.fill('#password2', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('#register')]);
    await page.waitForLoadState('networkidle'); // the explorer's own requests, not cut short
    await go(page, '/music');
    await page.waitForSelector('#m-pl-select');
    await page.fill('#m-pl-name', 'Evening <mix>');
    await page.click('#m-pl-create');
    await page.waitForFunction(() => document.getElementById('m-pl-select').value !== '');
    assert.match(await page.textContent('#m-pl-select'), /Evening <mix> · 0/);

    await page.fill('#m-q', 'love');
    await page.click('#m-search');
    await settled(page);
    const ids = (await shownIds(page)).slice(0, 3);
    for (let i = 0; i < 3; i++) {
      await page.click(`#m-results tbody tr[data-id="${ids[i]}"] button.add`);
      await page.waitForFunction((n) => document.querySelectorAll('#m-pl-songs li').length === n, i + 1);
    }
    const listed = () => page.$$eval('#m-pl-songs li', (lis) => lis.map((li) => li.dataset.id));
    assert.deepEqual(await listed(), ids);
    // the first one down: B A C
    await page.click('#m-pl-songs li:nth-child(1) button.down');
    await page.waitForFunction((id) => document.querySelector('#m-pl-songs li').dataset.id === id, ids[1]);
    assert.deepEqual(await listed(), [ids[1], ids[0], ids[2]]);
    // remove the middle one: B C
    await page.click('#m-pl-songs li:nth-child(2) button.remove');
    await page.waitForFunction(() => document.querySelectorAll('#m-pl-songs li').length === 2);
    assert.deepEqual(await listed(), [ids[1], ids[2]]);
    // the API agrees (the session's own private playlist)
    const plId = await page.inputValue('#m-pl-select');
    const pl = await page.evaluate(async (id) => (await fetch(`/api/playlists/${id}`)).json(), plId);
    assert.equal(pl.name, 'Evening <mix>');
    assert.equal(pl.public, false);
    assert.deepEqual(pl.songs.map((s) => s.id), [ids[1], ids[2]]);
    // and someone else cannot see it
    const r = await fetch(`${BASE}/api/playlists/${plId}`);
    assert.equal(r.status, 404);
    await page.click('#m-pl-delete');
    await page.waitForFunction(() => document.getElementById('m-pl-select').value === '');
    assertClean();
  });

  it('fits a phone-width screen', async () => {
    const phone = await newContext({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    watch(p, 'phone');
    await go(p, '/music');
    await p.waitForSelector('#m-scatter[data-drawn]');
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than the screen`);
    const w = await p.evaluate(() => document.getElementById('m-years').getBoundingClientRect().width);
    assert.ok(w <= 375, `the chart is ${w}px wide`);
    await p.screenshot({ path: path.join(ARTIFACTS, 'music-phone.png'), fullPage: false });
    await page.screenshot({ path: path.join(ARTIFACTS, 'music.png'), fullPage: true });
    await phone.close();
    assertClean();
  });
});
