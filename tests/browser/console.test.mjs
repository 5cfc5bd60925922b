// The web console in a real browser: starts interlinkd (temporary data dir,
// loopback ports, a known admin password), drives Debian's chromium with
// playwright-core through login, peers (directory trust, pinned keys set and shown), routes and the route tester, a message
// submitted on the carrier API seen in the queue browser and on the dashboard,
// and saves a screenshot of each page (desktop and phone size).
// Run from the repository root: node tests/browser/console.test.mjs
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BINARY = process.env.INTERLINKD || path.join(ROOT, 'build', 'interlinkd');
const SHOTS = process.env.SCREENSHOTS || path.join(ROOT, 'build', 'browser-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'browser test password';
const BETA_TOKEN = 'beta-token-for-the-browser-test';
const WAIT = 8000;

const results = [];
const procs = [];
let tmp;

function log(...a) { console.log(...a); }

async function step(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    log('ok   ' + name);
  } catch (e) {
    results.push([name, false]);
    log('FAIL ' + name + ': ' + (e && e.message ? e.message.split('\n')[0] : e));
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }

/* A free loopback port, never one given before: two binds in a row may get the same one,
 * and a config with both listeners on one port is refused. */
const portsGiven = new Set();
async function freePort() {
  for (;;) {
    const p = await new Promise((resolve, reject) => {
      const s = net.createServer();
      s.on('error', reject);
      s.listen(0, '127.0.0.1', () => { const port = s.address().port; s.close(() => resolve(port)); });
    });
    if (!portsGiven.has(p)) { portsGiven.add(p); return p; }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* A new Ed25519 public key as a config pin gives it (base64 of the raw 32 bytes), and its kid. */
function newPin() {
  const { publicKey } = crypto.generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return { b64: raw.toString('base64'), kid: crypto.createHash('sha256').update(raw).digest('hex').slice(0, 16) };
}
const GAMMA_PIN = newPin();
const HUB_PINS = [newPin(), newPin()];

function hashPassword(pw) {
  const r = spawnSync(BINARY, ['--hash-password'], { input: pw + '\n', encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error('interlinkd --hash-password failed: ' + (r.stderr || r.error));
  return r.stdout.trim();
}

async function startDaemon() {
  const [cport, aport] = [await freePort(), await freePort()];
  const sha = crypto.createHash('sha256').update(BETA_TOKEN).digest('hex');
  const conf = path.join(tmp, 'interlink.conf');
  fs.writeFileSync(conf, `node-id = "browser.interlink"
data-dir = "${path.join(tmp, 'data')}"
log-level = "info"
carrier-listener {
  address = "127.0.0.1"
  port = ${cport}
  plain-http = true
}
admin-listener {
  address = "127.0.0.1"
  port = ${aport}
  bootstrap-user = "admin"
  bootstrap-password-hash = "${hashPassword(PASSWORD)}"
}
store {
  sync = "none"
}
peer "beta" {
  token-sha256 = "${sha}"
  owns = {"+1666"}
}
route { prefix = "+1666" peer = "beta" }
peer "gamma" {
  kind = "relay"
  token-sha256 = "${crypto.createHash('sha256').update('gamma-token').digest('hex')}"
  directory-trusted = true
  keys = {"${GAMMA_PIN.b64} until 2099-01-01T00:00:00Z"}
}
`);
  const out = fs.openSync(path.join(tmp, 'interlinkd.log'), 'w');
  const p = spawn(BINARY, ['-c', conf], { stdio: ['ignore', out, out] });
  procs.push(p);
  const admin = `http://127.0.0.1:${aport}`;
  for (let i = 0; i < 100; i++) {
    if (p.exitCode !== null) throw new Error('interlinkd exited with ' + p.exitCode);
    try {
      if ((await fetch(admin + '/')).ok) return { admin, carrier: `http://127.0.0.1:${cport}`, conf };
    } catch (e) { /* not listening yet */ }
    await sleep(100);
  }
  throw new Error('interlinkd did not answer on ' + admin);
}

function stopAll() {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
}

async function waitExit(p, ms) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await Promise.race([new Promise((r) => p.once('exit', r)), sleep(ms)]);
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function nav(page, name) {
  await page.click(`nav a[href="#${name}"]`);
  await page.waitForSelector(`#page-${name}:not([hidden])`, { timeout: WAIT });
}

async function accepted(page) {
  const t = await page.textContent('#tile-accepted .v', { timeout: WAIT });
  return Number(t);
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'interlink-browser-'));
  const node = await startDaemon();
  log('interlinkd: admin ' + node.admin + ', carrier ' + node.carrier);

  await step('the console is served with its security headers', async () => {
    const r = await fetch(node.admin + '/');
    const csp = r.headers.get('content-security-policy') || '';
    assert(r.ok && (await r.text()).includes('<title>interlink console</title>'), 'GET / is not the console');
    assert(csp.includes("default-src 'self'") && csp.includes("frame-ancestors 'none'"), 'CSP: ' + csp);
    assert(r.headers.get('x-content-type-options') === 'nosniff', 'no nosniff');
    const js = await fetch(node.admin + '/static/app.js');
    assert(js.ok && js.headers.get('content-type').startsWith('text/javascript'), 'app.js type');
    assert((await fetch(node.admin + '/static/nothing.js')).status === 404, 'unknown file is not 404');
  });

  const udd = fs.mkdtempSync(path.join(tmp, 'chromium-'));
  const ctx = await chromium.launchPersistentContext(udd, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync'],
  });
  const errors = [];
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => d.accept());   /* the confirmations (purge) */
  page.setDefaultTimeout(WAIT);
  let token = null, rid = null, before = 0;

  try {
    await step('the login page shows the API error for a wrong password', async () => {
      await page.goto(node.admin + '/');
      await page.waitForSelector('#page-login:not([hidden])');
      await page.fill('#login-user', 'admin');
      await page.fill('#login-password', 'not the password');
      await page.click('#login-form button[type=submit]');
      await page.waitForSelector('#alert:not([hidden])');
      const text = await page.textContent('#alert');
      assert(text.trim().length > 0, 'empty error');
      await shot(page, 'login');
    });

    await step('log in and see the dashboard', async () => {
      await page.fill('#login-user', 'admin');
      await page.fill('#login-password', PASSWORD);
      await page.click('#login-form button[type=submit]');
      await page.waitForSelector('#page-dashboard:not([hidden])');
      await page.waitForSelector('#tile-accepted');
      before = await accepted(page);
      assert(await page.isVisible('#nav'), 'no navigation after login');
    });

    await step('add a peer; its token is shown once', async () => {
      await nav(page, 'peers');
      await page.fill('#peer-name', 'alpha');
      await page.selectOption('#peer-kind', 'carrier');
      await page.fill('#peer-owns', '+1555');
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector('#peer-token:not([hidden])');
      token = (await page.textContent('#peer-token-value')).trim();
      assert(token && !token.startsWith('('), 'no token shown: ' + token);
      await page.waitForSelector('#peers-table tr[data-peer="alpha"]');
      await shot(page, 'peers');
    });

    await step('a directory-trusted peer: the checkbox round trip', async () => {
      const row = '#peers-table tr[data-peer="clearing"]';
      const trusted = async () => page.evaluate(async () =>
        (await (await fetch('/api/peers/clearing')).json()).directory_trusted);
      await page.fill('#peer-name', 'clearing');
      await page.fill('#peer-owns', '+1777');
      assert(!(await page.isChecked('#peer-dir-trusted')), 'the checkbox starts ticked');
      assert((await page.textContent('#peer-form .hint')).includes('number-portability clearing house'),
        'no hint beside the checkbox');
      await page.check('#peer-dir-trusted');
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector(`${row} .badge:has-text("directory trusted")`);
      assert(await trusted() === true, 'the API does not say trusted');
      await page.click(`${row} button:has-text("Edit")`);
      assert(await page.inputValue('#peer-name') === 'clearing', 'the form is not the peer');
      assert(await page.isChecked('#peer-dir-trusted'), 'reopened: the checkbox is not ticked');
      assert((await page.textContent('#peer-submit')).includes('Save'), 'not in edit mode');
      await shot(page, 'peers-edit');
      await page.uncheck('#peer-dir-trusted');
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector(`${row} .badge:has-text("directory trusted")`, { state: 'detached' });
      assert(await trusted() === false, 'unticked: the API still says trusted');
      assert(!(await page.isChecked('#peer-dir-trusted')), 'the form was not reset');
      await page.click(`${row} button:has-text("Edit")`);
      assert(!(await page.isChecked('#peer-dir-trusted')), 'reopened: the checkbox is ticked');
      await page.click('#peer-cancel');
      assert(await page.inputValue('#peer-name') === '', 'cancel did not clear the form');
      await page.click(`${row} button:has-text("Delete")`);
      await page.waitForSelector(row, { state: 'detached' });
    });

    await step('a push peer\'s outbound token: set when added, kept by an edit', async () => {
      const row = '#peers-table tr[data-peer="pushco"]';
      const peer = async () => page.evaluate(async () =>
        (await (await fetch('/api/peers/pushco')).json()));
      await page.fill('#peer-name', 'pushco');
      await page.fill('#peer-owns', '+1888');
      await page.fill('#peer-endpoints', 'https://pushco.example/deliver');
      await page.fill('#peer-outbound', 'out-secret-1');
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector(row);
      assert((await peer()).outbound_token === true, 'no outbound token set');
      await page.click(`${row} button:has-text("Edit")`);
      assert(await page.inputValue('#peer-outbound') === '', 'the token is shown back');
      assert((await page.getAttribute('#peer-outbound', 'placeholder')).includes('keep'),
        'no word that an empty field keeps the token');
      await page.fill('#peer-owns', '+1888, +1889');
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector(`${row} td:has-text("+1889")`);
      const p = await peer();
      assert(p.outbound_token === true, 'the edit dropped the outbound token');
      assert(!JSON.stringify(p).includes('out-secret-1'), 'the token is shown');
      await page.click(`${row} button:has-text("Delete")`);
      await page.waitForSelector(row, { state: 'detached' });
    });

    await step('a relay peer\'s pinned keys: the textarea round trip', async () => {
      const row = '#peers-table tr[data-peer="hub"]';
      const [p1, p2] = HUB_PINS;
      const lines = `${p1.b64}\n${p2.b64} until 2099-01-01T00:00:00Z`;
      const apiKeys = async () => page.evaluate(async () =>
        (await (await fetch('/api/peers/hub')).json()).keys);
      const want = [{ kid: p1.kid, key: p1.b64, until: null },
        { kid: p2.kid, key: p2.b64, until: '2099-01-01T00:00:00Z' }];
      assert((await page.textContent('#peer-keys-hint')).includes('interlinkctl keys URL'),
        'no hint beside the keys');
      await page.fill('#peer-name', 'hub');
      await page.selectOption('#peer-kind', 'relay');
      await page.fill('#peer-keys', `  ${p1.b64}  \n\n${p2.b64} until 2099-01-01T00:00:00Z\n`);
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector(row);
      let text = await page.textContent(row);
      assert(text.includes(`key ${p1.kid} (no end)`), 'no first key: ' + text);
      assert(text.includes(`key ${p2.kid} until 2099-01-01T00:00:00Z`), 'no second key: ' + text);
      assert(JSON.stringify(await apiKeys()) === JSON.stringify(want), 'API keys: ' + JSON.stringify(await apiKeys()));
      assert(await page.inputValue('#peer-keys') === '', 'the form was not reset');
      /* Edit shows them back, one a line; saving unchanged keeps them */
      await page.click(`${row} button:has-text("Edit")`);
      assert(await page.inputValue('#peer-keys') === lines, 'reopened: ' + await page.inputValue('#peer-keys'));
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector('#peer-submit:has-text("Add")');
      assert(JSON.stringify(await apiKeys()) === JSON.stringify(want), 'saved: keys changed');
      /* a line removed: that pin goes */
      await page.click(`${row} button:has-text("Edit")`);
      await page.fill('#peer-keys', p1.b64);
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector(`${row} :text("key ${p2.kid}")`, { state: 'detached' });
      assert(JSON.stringify(await apiKeys()) === JSON.stringify([want[0]]), 'one line: ' + JSON.stringify(await apiKeys()));
      /* a bad line: the API's reason names it, nothing changes */
      await page.click(`${row} button:has-text("Edit")`);
      await page.fill('#peer-keys', `${p1.b64}\nxyz`);
      await page.click('#peer-form button[type=submit]');
      await page.waitForSelector('#alert:not([hidden])');
      text = (await page.textContent('#alert')).trim();
      assert(text.includes("keys[1]: 'xyz' is not standard base64"), 'alert: ' + text);
      assert(JSON.stringify(await apiKeys()) === JSON.stringify([want[0]]), 'a bad save changed the keys');
      await shot(page, 'peers-keys');
      await page.click('#peer-cancel');
      await page.click(`${row} button:has-text("Delete")`);
      await page.waitForSelector(row, { state: 'detached' });
    });

    await step('a config peer shows its trust and pinned key, read-only', async () => {
      const row = '#peers-table tr[data-peer="gamma"]';
      await page.waitForSelector(`${row} .badge:has-text("directory trusted")`);
      const text = await page.textContent(row);
      assert(text.includes(`key ${GAMMA_PIN.kid} until 2099-01-01T00:00:00Z`), 'no pinned key: ' + text);
      assert(!text.includes(GAMMA_PIN.b64), 'the key itself is in the table (ids only there)');
      assert(text.includes('read-only'), 'not read-only: ' + text);
      assert((await page.locator(`${row} button`).count()) === 0, 'a config peer has buttons');
    });

    await step('suspend and resume a peer', async () => {
      const row = '#peers-table tr[data-peer="alpha"]';
      await page.click(`${row} button:has-text("Suspend")`);
      await page.waitForSelector(`${row} .badge:has-text("suspended")`);
      await page.click(`${row} button:has-text("Resume")`);
      await page.waitForSelector(`${row} button:has-text("Suspend")`);
    });

    await step('add a route', async () => {
      await nav(page, 'routes');
      await page.selectOption('#route-match', 'prefix');
      await page.fill('#route-value', '+1555');
      await page.waitForSelector('#route-peer option[value="alpha"]', { state: 'attached' });
      await page.selectOption('#route-peer', 'alpha');
      await page.click('#route-form button[type=submit]');
      await page.waitForSelector('#routes-table td:has-text("+1555")');
    });

    await step('the route tester explains where an address goes', async () => {
      await page.fill('#rtest-to', '+15551234567');
      await page.click('#rtest-form button[type=submit]');
      await page.waitForSelector('#rtest-result:not([hidden])');
      const text = await page.textContent('#rtest-result .verdict');
      assert(text.includes('alpha'), 'verdict: ' + text);
      await shot(page, 'routes');
    });

    await step('a message submitted on the carrier API with the new token', async () => {
      assert(token, 'no token from the peer step');
      const r = await fetch(node.carrier + '/v1/messages', {
        method: 'POST',
        headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
        body: JSON.stringify({ v: 1, id: 'browser-1', from: '+15551230000', to: '+16661230000',
          text: 'secret body text' }),
      });
      const body = await r.json();
      assert(r.status === 202 && body.rid, 'submit: ' + r.status + ' ' + JSON.stringify(body));
      rid = body.rid;
    });

    await step('the dashboard counters move', async () => {
      await nav(page, 'dashboard');
      let now = before;
      for (let i = 0; i < 20 && now <= before; i++) { await sleep(500); now = await accepted(page); }
      assert(now > before, `accepted stayed at ${now}`);
      await page.waitForSelector('#health td:has-text("alpha")');
      await sleep(2500); /* one more sample on the charts */
      await shot(page, 'dashboard');
    });

    await step('reload the config file from the dashboard', async () => {
      await page.click('#reload');
      await page.waitForSelector('#notice:not([hidden])');
      assert(await page.isHidden('#restart-banner'), 'a restart is asked for, none is needed');
    });

    await step('a reload that moves a listener: the dashboard asks for a restart', async () => {
      const text = fs.readFileSync(node.conf, 'utf8');
      fs.writeFileSync(node.conf, text.replace('address = "127.0.0.1"', 'address = "localhost"'));
      await page.click('#reload');
      await page.waitForSelector('#restart-banner:not([hidden])', { timeout: 10000 });
      assert((await page.textContent('#restart-banner')).includes('restart'), 'banner text');
      await shot(page, 'dashboard-restart');
      fs.writeFileSync(node.conf, text); /* as the node started: nothing to restart for */
      await page.click('#reload');
      await page.waitForSelector('#restart-banner', { state: 'hidden', timeout: 10000 });
    });

    await step('a tile per TLS certificate, red within 14 days of its end', async () => {
      /* this node's listeners are plain HTTP: the status is given certificates on its way */
      const day = 86400000, iso = (ms) => new Date(ms).toISOString().slice(0, 19) + 'Z';
      const certs = { carrier: iso(Date.now() + 5.5 * day), admin: iso(Date.now() + 90.5 * day) };
      await page.route('**/api/status', async (route) => {
        const res = await route.fetch();
        route.fulfill({ response: res, json: { ...(await res.json()), certificates: certs } });
      });
      try {
        const carrier = page.locator('#tiles .tile', { hasText: 'carrier certificate ends' });
        await carrier.waitFor({ timeout: WAIT });
        assert(await carrier.locator('.v').textContent() === '5 d' &&
          (await carrier.textContent()).includes(certs.carrier.slice(0, 10)),
          'carrier tile: ' + await carrier.textContent());
        assert((await carrier.getAttribute('class')).split(' ').includes('bad'), 'carrier tile not red');
        const admin = page.locator('#tiles .tile', { hasText: 'admin certificate ends' });
        assert(await admin.locator('.v').textContent() === '90 d' &&
          (await admin.textContent()).includes(certs.admin.slice(0, 10)),
          'admin tile: ' + await admin.textContent());
        assert(!(await admin.getAttribute('class')).split(' ').includes('bad'), 'admin tile red');
        await shot(page, 'dashboard-certificates');
      } finally {
        await page.unroute('**/api/status');
      }
      await page.locator('#tiles .tile', { hasText: 'certificate ends' }).first()
        .waitFor({ state: 'detached', timeout: WAIT });
    });

    await step('store write errors: a tile, red while the disk fails writes', async () => {
      /* a failing disk is made in tests/system (test_durability.py); here its status */
      const errors = page.locator('#tiles .tile', { hasText: 'store write errors' });
      assert(await errors.count() === 0, 'an error tile with no errors');
      let store = { errors: 3, last_error: 'Input/output error', failing: true };
      await page.route('**/api/status', async (route) => {
        const res = await route.fetch(), st = await res.json();
        route.fulfill({ response: res, json: { ...st, store: { ...st.store, ...store } } });
      });
      try {
        await errors.waitFor({ timeout: WAIT });
        assert(await errors.locator('.v').textContent() === '3' &&
          (await errors.textContent()).includes('Input/output error'),
          'error tile: ' + await errors.textContent());
        assert((await errors.getAttribute('class')).split(' ').includes('bad'), 'not red');
        await shot(page, 'dashboard-store-errors');
        store = { errors: 3, last_error: 'Input/output error', failing: false };
        await page.locator('#tiles .tile.bad', { hasText: 'store write errors' })
          .waitFor({ state: 'detached', timeout: WAIT });
        assert(await errors.locator('.v').textContent() === '3', 'the count stays');
      } finally {
        await page.unroute('**/api/status');
      }
      await errors.waitFor({ state: 'detached', timeout: WAIT });
    });

    await step('the queue browser lists the message, without its body', async () => {
      assert(rid, 'no message');
      await nav(page, 'queue');
      await page.selectOption('#q-peer', 'beta');
      await page.click('#queue-filter button[type=submit]');
      await page.waitForSelector(`#queue-table tr[data-rid="${rid}"]`);
      await page.click(`#queue-table tr[data-rid="${rid}"] button:has-text("Details")`);
      await page.waitForSelector('#msg-detail:not([hidden])');
      const detail = await page.textContent('#msg-detail');
      assert(detail.includes(rid), 'details lack the rid');
      assert(!detail.includes('secret body text'), 'the body is shown');
      await shot(page, 'queue');
    });

    await step('hold and release a message', async () => {
      const row = `#queue-table tr[data-rid="${rid}"]`;
      await page.click(`${row} button:has-text("Hold")`);
      await page.waitForSelector(`${row} button:has-text("Release")`);
      await page.click(`${row} button:has-text("Release")`);
      await page.waitForSelector(`${row} button:has-text("Hold")`);
    });

    await step('purge a message after confirming', async () => {
      const row = `#queue-table tr[data-rid="${rid}"]`;
      await page.click(`${row} button:has-text("Purge")`);
      /* a purged message is final: gone from the list, or listed as failed */
      await page.waitForFunction((sel) => {
        const tr = document.querySelector(sel);
        return !tr || tr.querySelector('.badge').textContent === 'failed';
      }, row);
      await shot(page, 'queue-purged');
    });

    await step('directory: set and look up an account', async () => {
      await nav(page, 'directory');
      await page.fill('#dir-set-address', '+16669990000');
      await page.selectOption('#dir-peer', 'beta');
      await page.click('#dir-form button[type=submit]');
      await page.waitForSelector('#dir-result:not([hidden]) td:has-text("beta")');
      await shot(page, 'directory');
    });

    await step('directory: a carrier\'s claim on a number it does not own waits; approve it', async () => {
      const r = await fetch(node.carrier + '/v1/directory/%2B14155550100', {
        method: 'PUT', headers: { authorization: 'Bearer ' + BETA_TOKEN, 'content-type': 'application/json' },
        body: '{}' });
      assert(r.status === 202, 'a claim outside beta\'s space answered ' + r.status);
      await nav(page, 'dashboard'); /* the list loads when the page is shown */
      await nav(page, 'directory');
      const row = '#dir-pending tr:has-text("+14155550100")';
      await page.waitForSelector(row + ' td:has-text("beta")', { timeout: WAIT });
      await page.click(row + ' button:has-text("Approve")');
      await page.waitForSelector('#dir-pending td:has-text("None.")', { timeout: WAIT });
      await page.waitForSelector('#dir-result:not([hidden]) td:has-text("active")', { timeout: WAIT });
      await shot(page, 'directory-approved');
    });

    await step('admins: the users list; an API token shown once', async () => {
      await nav(page, 'admins');
      await page.waitForSelector('#users-table td:has-text("admin")');
      await page.fill('#token-name', 'ci-script');
      await page.selectOption('#token-role', 'viewer');
      await page.click('#token-form button[type=submit]');
      await page.waitForSelector('#api-token:not([hidden])');
      const t = (await page.textContent('#api-token-value')).trim();
      assert(t && !t.startsWith('('), 'no token shown');
      await page.waitForSelector('#tokens-table td:has-text("ci-script")');
      const r = await fetch(node.admin + '/api/status', { headers: { Authorization: 'Bearer ' + t } });
      assert(r.status === 200, 'the new token does not work: ' + r.status);
      await shot(page, 'admins');
    });

    await step('a phone-size screen: no sideways scrolling of the page', async () => {
      await page.setViewportSize({ width: 390, height: 844 });
      for (const name of ['dashboard', 'peers', 'routes', 'queue']) {
        await nav(page, name);
        await sleep(name === 'dashboard' ? 2500 : 500);
        const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
        assert(sw <= iw + 1, `${name}: page is ${sw}px wide on a ${iw}px screen`);
        await shot(page, 'phone-' + name);
      }
      await page.setViewportSize({ width: 1280, height: 860 });
    });

    await step('a peer with routes cannot go: the API says why', async () => {
      await nav(page, 'peers');
      await page.click('#peers-table tr[data-peer="alpha"] button:has-text("Delete")');
      await page.waitForSelector('#alert:not([hidden])');
      const text = (await page.textContent('#alert')).trim();
      assert(text.length > 0, 'no reason shown');
      await shot(page, 'peers-error');
    });

    await step('delete the route, then the peer', async () => {
      await nav(page, 'routes');
      await page.click('#routes-table tr:has(td:has-text("+1555")) button:has-text("Delete")');
      await page.waitForSelector('#routes-table td:has-text("+1555")', { state: 'detached' });
      await nav(page, 'peers');
      await page.click('#peers-table tr[data-peer="alpha"] button:has-text("Delete")');
      await page.waitForSelector('#peers-table tr[data-peer="alpha"]', { state: 'detached' });
    });

    await step('log out', async () => {
      await page.click('#logout');
      await page.waitForSelector('#page-login:not([hidden])');
      const r = await page.evaluate(async () => (await fetch('/api/status')).status);
      assert(r === 401, 'status after logout: ' + r);
    });

    await step('a viewer logs in and sees no write controls', async () => {
      await page.fill('#login-user', 'admin');
      await page.fill('#login-password', PASSWORD);
      await page.click('#login-form button[type=submit]');
      await nav(page, 'admins');
      await page.fill('#user-name', 'watcher');
      await page.fill('#user-password', 'watcher password 123');
      await page.selectOption('#user-role', 'viewer');
      await page.click('#user-form button[type=submit]');
      await page.waitForSelector('#users-table td:has-text("watcher")');
      await page.click('#logout');
      await page.waitForSelector('#page-login:not([hidden])');
      await page.fill('#login-user', 'watcher');
      await page.fill('#login-password', 'watcher password 123');
      await page.click('#login-form button[type=submit]');
      await nav(page, 'peers');
      await page.waitForSelector('#peers-table tr[data-peer="beta"]');
      assert(!(await page.isVisible('#peer-form')), 'a viewer sees the add-peer form');
      assert((await page.locator('#peers-table button').count()) === 0, 'a viewer sees peer buttons');
      await page.click('#logout');
      await page.waitForSelector('#page-login:not([hidden])');
    });

    await step('no script errors in the page', async () => {
      assert(errors.length === 0, errors.join('; '));
    });
  } finally {
    await ctx.close();
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    process.exit(1);
  });
}

let code = 0;
try {
  await main();
} catch (e) {
  log('FAIL setup: ' + e.message);
  results.push(['setup', false]);
}
stopAll();
await Promise.all(procs.map((p) => waitExit(p, 5000)));
const failed = results.filter((r) => !r[1]).length;
if (failed && tmp && fs.existsSync(path.join(tmp, 'interlinkd.log'))) {
  const lines = fs.readFileSync(path.join(tmp, 'interlinkd.log'), 'utf8').trim().split('\n');
  log('--- interlinkd log (last 30 lines)\n' + lines.slice(-30).join('\n'));
}
if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
log('screenshots in ' + SHOTS);
log(`${results.length - failed} passed, ${failed} failed`);
code = failed ? 1 : 0;
process.exit(code);
