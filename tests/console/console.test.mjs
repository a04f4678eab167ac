// The admin console in a real browser (Debian's Chromium, driven by
// playwright-core) against the real server: one server and one browser for
// the whole file. What is checked is what the page shows; the API is used
// only to set the scene (send events, swap a module) and to confirm what a
// save stored. CONSOLE_BACKEND=redis runs the same file with Redis holding
// the teams, storage, the event stream, jobs and exports.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';

import {freshDirectory, required, startBrowser, startRedis, startServer} from './processes.mjs';

const token = 'console-test-admin-token';
const backend = process.env.CONSOLE_BACKEND || 'embedded';
const modules = required('POSTHOG_TEST_MODULES_DIR');

let server, browser, page, redis, pluginsDir;
const pageErrors = [];

function configFor() {
  pluginsDir = freshDirectory('console-plugins-');
  fs.copyFileSync(path.join(modules, 'swapkit', 'v1.so'), path.join(pluginsDir, 'swapkit.so'));
  const testkit = (label) => ({name: 'testkit', config: {label}});
  const serve = {
    listen: '127.0.0.1:0',
    sink: {path: 'events.jsonl', fsync: 'never'},
    admin: {listen: '127.0.0.1:0', token},
    // No refill: three errors empty the bucket, and the plugin stays paused until enabled.
    health: {bucket_tokens: 300, error_cost: 100, refill_per_second: 0},
    // A RetryError makes a dead letter at once, a second after the event.
    exports: {buffer_seconds: 1, max_retries: 0},
  };
  if (redis) serve.redis = {url: redis.url, prefix: `console-test-${process.pid}:`};
  return {
    plugins_dir: required('POSTHOG_PLUGINS_DIR'),
    plugins: [{name: 'helloworld'}, {name: 'testkit', file: path.join(modules, 'testkit.so')},
      {name: 'swapkit', file: path.join(pluginsDir, 'swapkit.so')}],
    teams: [
      {id: 1, token: 'phc_counted', plugins: [{name: 'helloworld'}]},
      {id: 2, token: 'phc_edited', plugins: []},
      {id: 3, token: 'phc_failing', plugins: [testkit('fails on request')]},
      {id: 4, token: 'phc_exporting', plugins: [testkit('exports once the receiver is back')]},
      {id: 5, token: 'phc_swapped', plugins: [{name: 'swapkit'}]},
    ],
    serve,
  };
}

async function adminApi(method, apiPath, body) {
  const response = await fetch(server.admin + apiPath, {method, headers: {Authorization: `Bearer ${token}`},
    body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await response.text();
  assert.equal(response.status, 200, `${method} ${apiPath}: ${text}`);
  return JSON.parse(text);
}

async function capture(apiKey, event, properties = {}) {
  const response = await fetch(`${server.url}/e/`, {method: 'POST',
    body: JSON.stringify({api_key: apiKey, event, distinct_id: 'console-test', properties})});
  assert.equal(response.status, 200, await response.text());
}

// Clicks the page's Refresh until `selector` shows `text` (the plugin page
// also refreshes itself every five seconds).
async function refreshUntil(selector, text) {
  for (let i = 0; i < 60; ++i) {
    const shown = await page.locator(selector).first().textContent().catch(() => null);
    if (shown !== null && shown.includes(text)) return;
    await page.click('#refresh');
    await page.waitForTimeout(250);
  }
  assert.fail(`${selector} never showed "${text}"; it shows "${await page.locator(selector).first().textContent()}"`);
}

async function signIn() {
  await page.goto(`${server.admin}/`);
  await page.fill('#admin-token', token);
  await page.click('#sign-in button');
  await page.locator('h1', {hasText: 'Overview'}).waitFor();
}

async function eventsIn() {
  return Number((await page.locator('[data-metric="events-in"] .value').textContent()).replace(/,/g, ''));
}

describe(`the admin console (${backend})`, () => {
  before(async () => {
    if (backend === 'redis') redis = await startRedis();
    server = await startServer(configFor());
    browser = await startBrowser();
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.stop();
    const code = await server?.stop();
    await redis?.stop();
    if (pluginsDir) fs.rmSync(pluginsDir, {recursive: true, force: true});
    assert.equal(code, 0, 'the server exits 0 after SIGTERM');
    assert.deepEqual(pageErrors, [], 'no script of the page threw');
  });

  it('refuses a wrong token, then signs in with a session the page cannot read', async () => {
    const response = await page.goto(`${server.admin}/ui/teams`);
    const policy = response.headers()['content-security-policy'];
    assert.match(policy, /default-src 'self'/);
    assert.match(policy, /script-src 'self'/);
    assert.equal(response.headers()['access-control-allow-origin'], undefined);

    await page.fill('#admin-token', 'not-the-admin-token');
    await page.click('#sign-in button');
    await page.locator('#sign-in-message', {hasText: 'That is not the admin token.'}).waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false);

    await page.fill('#admin-token', token);
    await page.click('#sign-in button');
    await page.locator('h1', {hasText: 'Teams'}).waitFor();  // the page asked for, after signing in
    await page.locator('#teams', {hasText: 'phc_edited'}).waitFor();
    assert.ok(!page.url().includes(token), 'the token is never in a URL');
    const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
    assert.deepEqual(stored, [0, 0, ''], 'nothing in web storage, and the session cookie is HttpOnly');
    // A change without the page's CSRF header is refused, though the browser sends the cookie.
    const forged = await page.evaluate(async () =>
      (await fetch('/api/teams/9', {method: 'PUT', body: '{"plugins": []}'})).status);
    assert.equal(forged, 403);
    if (backend === 'redis') assert.equal((await adminApi('GET', '/_ready')).redis.reachable, true);
  });

  it('counts an event sent to the capture API', async () => {
    await page.click('#nav a[href="/ui/"]');
    await page.locator('[data-metric="events-in"] .value').waitFor();
    const before = await eventsIn();
    await capture('phc_counted', 'counted by the console');
    await page.waitForFunction((expected) => {
      const shown = document.querySelector('[data-metric="events-in"] .value');
      return shown && Number(shown.textContent.replace(/,/g, '')) === expected;
    }, before + 1);
    await page.locator('#team-rates tr[data-team="1"]').waitFor();
  });

  it('adds plugins to a team, marks the field a save was refused for, and saves once it is fixed', async () => {
    await page.goto(`${server.admin}/ui/teams/2`);
    await page.locator('h1', {hasText: 'Team 2'}).waitFor();
    await page.selectOption('#add-plugin', 'testkit');
    await page.click('#add-plugin-button');
    await page.selectOption('#add-plugin', 'helloworld');
    await page.click('#add-plugin-button');
    // helloworld first: the refused field is then plugins[1]'s, which the page must map back to testkit.
    await page.click('li[data-plugin="helloworld"] .move-up');
    assert.deepEqual(await page.locator('#chain > li').evaluateAll((items) => items.map((i) => i.dataset.plugin)),
      ['helloworld', 'testkit']);
    const testkit = page.locator('li[data-plugin="testkit"]');
    await testkit.locator('input[name="label"]').fill('edited in the console');
    await testkit.locator('input[name="api_key"]').fill('a-secret-value');
    await testkit.locator('textarea[name="rules"]').fill('{"max": ');
    await page.click('#save-team');

    const rules = testkit.locator('.field[data-key="rules"]');
    await rules.locator('.field-error').waitFor();
    assert.ok(await rules.evaluate((row) => row.classList.contains('invalid')));
    assert.match(await rules.locator('.field-error').textContent(), /JSON/);
    assert.equal(await testkit.locator('.field.invalid').count(), 1, 'only the field at fault is marked');
    await page.locator('.save-status', {hasText: 'plugins[1].config.rules'}).waitFor();

    await testkit.locator('textarea[name="rules"]').fill('{"max": 5}');
    await page.click('#save-team');
    await page.locator('.save-status', {hasText: 'Saved'}).waitFor();
    assert.equal(await page.locator('.field.invalid').count(), 0);
    // The secret is shown as set, and its value is nowhere in the page.
    await page.click('li[data-plugin="testkit"] summary');
    await page.locator('li[data-plugin="testkit"] .secret-state.is-set').waitFor();
    assert.equal(await page.locator('li[data-plugin="testkit"] input[name="api_key"]').inputValue(), '');
    assert.ok(!(await page.content()).includes('a-secret-value'));

    // An attachment field uploads through the attachments endpoint, and the team is set up again with it.
    await page.locator('li[data-plugin="testkit"] .field[data-key="file"] input[type="file"]').setInputFiles(
      {name: 'regions.csv', mimeType: 'text/csv', buffer: Buffer.from('eu,us\n')});
    await page.click('li[data-plugin="testkit"] .field[data-key="file"] button');
    await page.locator('li[data-plugin="testkit"] .attachment-state', {hasText: 'regions.csv (6 bytes, text/csv)'}).waitFor();
    // plugin.json's markdown is shown as text, not as markup.
    await page.click('li[data-plugin="helloworld"] summary');
    await page.locator('li[data-plugin="helloworld"] .markdown', {hasText: 'A greeting on every event'}).waitFor();

    const team = await adminApi('GET', '/api/teams/2');
    assert.deepEqual(team.plugins.map((p) => p.name), ['helloworld', 'testkit']);
    assert.equal(team.plugins[1].config.label, 'edited in the console');
    assert.equal(team.plugins[1].config.api_key, '********');
    await capture('phc_edited', 'after the save');
    for (let i = 0; i < 100 && !server.sinkEvents().some((e) => e.event === 'after the save'); ++i)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const saved = server.sinkEvents().find((e) => e.event === 'after the save');
    assert.equal(saved.properties.testkit_max, 5, 'the chain runs the config saved from the page');
    assert.equal(saved.properties.hello, 'world');
    assert.equal(saved.properties.testkit_file.file_name, 'regions.csv');
  });

  it('shows a failing plugin paused with its errors, and enables it again', async () => {
    for (let i = 0; i < 3; ++i) await capture('phc_failing', `failure ${i}`, {throw: true});
    await page.goto(`${server.admin}/ui/teams/3/plugins/testkit`);
    await refreshUntil('[data-fact="health"]', 'paused');
    await page.locator('#errors > li').nth(2).waitFor();
    const first = page.locator('#errors > li').first();
    assert.match(await first.textContent(), /std::runtime_error in process_event: asked to throw/);
    await first.locator('summary').click();
    const event = JSON.parse(await first.locator('pre').textContent());
    assert.equal(event.properties.throw, true, 'each error comes with the event as the plugin received it');
    assert.match(await page.locator('#health-history').textContent(), /paused.*asked to throw/s);

    // The logs, by level and by what they say.
    await page.selectOption('#log-level', 'error');
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#logs tbody tr')].map((row) => row.textContent);
      return rows.length >= 1 && rows.every((text) => text.includes('error') && text.includes('paused'));
    });
    await page.selectOption('#log-level', '');
    await page.fill('#log-search', 'healthy -> degraded');
    await page.waitForFunction(() => document.querySelectorAll('#logs tbody tr').length === 1);
    assert.match(await page.locator('#logs tbody tr').textContent(), /warn/);
    await page.fill('#log-search', '');

    await page.click('#enable-plugin');
    await page.locator('[data-fact="health"]', {hasText: 'healthy'}).waitFor();
    assert.match(await page.locator('#health-history tbody tr').first().textContent(), /enabled by an admin/);
    await page.locator('#enable-plugin').waitFor({state: 'detached'});
    if (process.env.UPDATE_SCREENSHOT && backend === 'embedded')
      await page.screenshot({path: path.join(required('POSTHOG_SOURCE_DIR'), 'docs', 'console-plugin.png'), fullPage: true});
  });

  it('replays a dead letter, which is then delivered', async () => {
    await capture('phc_exporting', 'exported after a replay', {export: 'retry_then_ok', export_retries: 1});
    await page.goto(`${server.admin}/ui/teams/4/plugins/testkit`);
    await refreshUntil('[data-fact="dead letters"]', '1');
    const row = page.locator('#dead-letters tbody tr[data-batch]');
    assert.match(await row.textContent(), /receiver answered 503/);
    await row.locator('.replay-export').click();
    await refreshUntil('[data-fact="delivered"]', '1');
    await refreshUntil('[data-fact="dead letters"]', '0');
    assert.equal(await page.locator('#dead-letters tbody tr[data-batch]').count(), 0);
  });

  it('rolls a swapped module back to the version before', async () => {
    // A new build renamed into place: the server's folder watch swaps to it.
    fs.copyFileSync(path.join(modules, 'swapkit', 'v2.so'), path.join(pluginsDir, 'swapkit.so.tmp'));
    fs.renameSync(path.join(pluginsDir, 'swapkit.so.tmp'), path.join(pluginsDir, 'swapkit.so'));
    for (let i = 0; i < 200 && (await adminApi('GET', '/api/plugins/swapkit')).serving.version !== '2.0.0'; ++i)
      await new Promise((resolve) => setTimeout(resolve, 50));
    await page.goto(`${server.admin}/ui/modules`);
    const card = page.locator('section[data-module="swapkit"]');
    await card.locator('[data-fact="serving"]', {hasText: '2.0.0'}).waitFor();
    assert.equal(await card.locator('[data-fact="previous"]').textContent(), '1.0.0');
    await card.locator('.rollback').click();
    await page.locator('.action-status', {hasText: 'serves 1.0.0 again'}).waitFor();
    await card.locator('[data-fact="serving"]', {hasText: '1.0.0'}).waitFor();
    assert.match(await card.locator('table.history tbody tr').first().textContent(), /1\.0\.0\s*rollback/);
    await capture('phc_swapped', 'after the rollback');
    for (let i = 0; i < 100 && !server.sinkEvents().some((e) => e.event === 'after the rollback'); ++i)
      await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.sinkEvents().find((e) => e.event === 'after the rollback').properties.swapkit_version, '1.0.0');
  });

  it('draws the overview while events flow (the README\'s screenshot)', async () => {
    await page.goto(`${server.admin}/ui/`);
    await page.locator('[data-metric="events-in"] .value').waitFor();
    // Embedded, a few seconds of uneven traffic with some drops make the
    // picture; with Redis two polls are enough to see the charts drawn.
    const rounds = backend === 'embedded' ? 10 : 3;
    for (let i = 0; i < rounds; ++i) {
      const sends = Array.from({length: [6, 18, 10, 26, 14][i % 5]}, (_, n) => capture('phc_counted', `flow ${i}.${n}`));
      sends.push(...Array.from({length: i % 3}, () => capture('phc_failing', 'dropped', {drop: true})));
      await Promise.all(sends);
      await page.waitForTimeout(1000);
    }
    await page.locator('.chart polyline[points*=","]').first().waitFor();
    await page.locator('#team-rates tr[data-team="3"]').waitFor();
    const file = process.env.UPDATE_SCREENSHOT && backend === 'embedded'
      ? path.join(required('POSTHOG_SOURCE_DIR'), 'docs', 'console.png')
      : path.join(required('POSTHOG_BUILD_DIR'), `console-${backend}.png`);
    await page.screenshot({path: file, fullPage: true});
    assert.ok(fs.statSync(file).size > 10000, 'a screenshot with something in it');
  });
});
