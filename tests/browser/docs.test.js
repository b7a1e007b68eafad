// Browser test of vial-server's /docs page (issue 14): Swagger UI, copied
// from npm into static/vendor/swagger-ui by `make assets`, renders
// /openapi.json under the Content-Security-Policy vial sends — nothing
// refused, nothing failing in the console — and "Try it out" calls the API.
// run.sh loads this file before dashboard.test.js, in the same node process
// (node --require), so both land in one report.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

const BASE = process.env.VIAL_URL;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT = 15000;

if (!BASE) throw new Error('VIAL_URL is not set: run tests/browser/run.sh');

describe('vial-server /docs (Swagger UI over /openapi.json)', () => {
  let browser, ctx, page;
  const problems = [];

  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
             '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      timeout: 30000,
    });
    ctx = await browser.newContext({ baseURL: BASE, viewport: { width: 1200, height: 900 } });
    ctx.setDefaultTimeout(STEP_TIMEOUT);
    await ctx.exposeBinding('__vialCsp', (src, v) => problems.push(`CSP violation: ${JSON.stringify(v)}`));
    await ctx.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        window.__vialCsp({ directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample });
      });
    });
    page = await ctx.newPage();
    page.on('console', (m) => {
      // GET /favicon.ico -> 404 is the known bug dashboard.test.js shows on its own
      if (/favicon\.ico/.test(m.location().url || '')) return;
      if (m.type() === 'error' || /Content Security Policy|Refused to/.test(m.text()))
        problems.push(`console.${m.type()}: ${m.text()} (${m.location().url || page.url()})`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      // the favicon is not the page's: browsers ask for it by themselves
      if (r.status() >= 400 && !/favicon\.ico$/.test(r.url())) problems.push(`${r.status()} for ${r.url()}`);
    });
  });

  after(async () => {
    await browser?.close();
  });

  it('renders every operation of the document with nothing refused by the CSP', async () => {
    const r = await page.goto('/docs');
    assert.equal(r.status(), 200);
    const h = await r.allHeaders();
    assert.match(h['content-security-policy'] || '', /default-src 'self'/);
    assert.doesNotMatch(h['content-security-policy'], /unsafe-inline|unsafe-eval/);
    await page.waitForSelector('.swagger-ui .info .title');
    assert.match(await page.textContent('.swagger-ui .info .title'), /vial-server/);
    await page.waitForSelector('.opblock');
    const doc = await (await ctx.request.get('/openapi.json')).json();
    const ops = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    assert.equal(await page.locator('.opblock').count(), ops, 'one block per operation');
    const tags = await page.$$eval('.opblock-tag', (els) => els.map((e) => e.getAttribute('data-tag')));
    for (const t of ['logs', 'users', 'dashboard']) assert.ok(tags.includes(t), `tag ${t} in ${tags}`);
    assert.deepEqual(problems.splice(0), []);
  });

  it('"Try it out" calls the API from the page', async () => {
    const block = page.locator('#operations-default-health');
    await block.locator('.opblock-summary').click();
    await block.locator('button.try-out__btn').click();
    await block.locator('button.execute').click();
    const status = block.locator('.live-responses-table .response .response-col_status').first();
    await status.waitFor();
    assert.equal((await status.textContent()).trim(), '200');
    assert.match(await block.locator('.live-responses-table .microlight').first().textContent(), /"status": "ok"/);
    assert.deepEqual(problems.splice(0), []);
  });
});
