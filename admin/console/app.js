/*
 * interlink console: a small dependency-free single-page app over the admin
 * JSON API (/api/...). Pages are the <section>s of index.html, chosen by the
 * URL's hash. Text from the API is only ever set as text, never as HTML.
 */
'use strict';

const S = { user: null, role: null, csrf: null, timer: null, hist: [], peers: [], editing: null };
const HISTORY = 60;            /* samples kept for the charts: 2 minutes at 2 s */
const POLL_MS = 2000;
const COLORS = ['#1f5fbf', '#1d7a3e', '#b3261e', '#a86200', '#6a3fb5', '#00838f', '#8d6e63'];
const $ = (id) => document.getElementById(id);

/* ------------------------------------------------------------ helpers */

/* el('td', {class: 'num'}, 'text', childNode, ...) */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) {
    if (k === undefined || k === null) continue;
    e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

function list(x, key) {
  if (Array.isArray(x)) return x;
  return (x && Array.isArray(x[key])) ? x[key] : [];
}

function age(s) {
  if (s === undefined || s === null) return '';
  s = Math.round(s);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}

/* A time from the API (ISO text, or seconds or milliseconds since 1970) in ms, or NaN. */
function toMs(v) {
  if (typeof v === 'number') return v > 1e11 ? v : v * 1000;
  return typeof v === 'string' ? Date.parse(v) : NaN;
}

const TIME_FIELDS = ['created', 'updated', 'due', 'expires'];

function bytes(n) {
  if (typeof n !== 'number') return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

function badge(text, kind) { return el('span', { class: 'badge ' + (kind || 'info') }, text); }

function showError(msg) {
  $('notice').hidden = true;
  $('alert').textContent = msg;
  $('alert').hidden = false;
}

function showNotice(msg) {
  $('alert').hidden = true;
  $('notice').textContent = msg;
  $('notice').hidden = false;
}

function clearMessages() { $('alert').hidden = true; $('notice').hidden = true; }

/* A definition list of an object's fields (nested values as JSON text). */
function fields(obj) {
  const dl = el('dl');
  for (const [k, v] of Object.entries(obj || {})) {
    if (v === null || v === undefined) continue;
    let text = (typeof v === 'object') ? JSON.stringify(v) : String(v);
    if (TIME_FIELDS.includes(k) && !Number.isNaN(toMs(v))) text = new Date(toMs(v)).toLocaleString();
    dl.append(el('dt', {}, k), el('dd', {}, text));
  }
  return dl;
}

function formData(form) {
  const o = {};
  for (const [k, v] of new FormData(form).entries()) o[k] = typeof v === 'string' ? v.trim() : v;
  return o;
}

function csv(s) { return (s || '').split(',').map((x) => x.trim()).filter(Boolean); }

/* ------------------------------------------------------------ the API */

class ApiError extends Error {
  constructor(status, body) {
    const reason = (body && (body.reason || body.error)) || ('HTTP ' + status);
    super(body && body.field ? body.field + ': ' + reason : reason);
    this.status = status;
    this.body = body;
  }
}

/* One request: JSON in and out; the CSRF token on every state-changing one. */
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && S.csrf) headers['X-CSRF-Token'] = S.csrf;
  let r;
  try {
    r = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, { reason: 'the node does not answer (' + e.message + ')' });
  }
  let data = null;
  const text = await r.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = { reason: text.slice(0, 200) }; }
  }
  if (r.status === 401 && path !== '/api/login') {
    const e = new ApiError(401, data);
    e.handled = true;
    if (S.user) loggedOut('Your session ended: log in again.');
    throw e;
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data || {};
}

/* Runs an action from a button or form: errors go to the alert region. */
async function act(fn, okText) {
  try {
    const res = await fn();
    if (okText) showNotice(okText);
    return res;
  } catch (e) {
    if (!e.handled) showError(e.message);
    return undefined;
  }
}

function enc(s) { return encodeURIComponent(s); }

/* ------------------------------------------------------------ session and pages */

const PAGES = ['dashboard', 'peers', 'routes', 'directory', 'queue', 'admins'];
const LOADERS = {};

function setSession(s) {
  S.user = s.user; S.role = s.role; S.csrf = s.csrf;
  $('who').textContent = s.user + ' (' + s.role + ')';
  document.body.classList.toggle('viewer', s.role !== 'admin');
  for (const w of document.querySelectorAll('.write')) w.hidden = s.role !== 'admin';
  for (const id of ['nav', 'who', 'logout']) $(id).hidden = false;
}

function loggedOut(msg) {
  S.user = S.role = S.csrf = null;
  stopPolling();
  for (const id of ['nav', 'who', 'logout']) $(id).hidden = true;
  showPage('login');
  if (msg) showError(msg);
}

function showPage(name) {
  for (const sec of document.querySelectorAll('.page')) sec.hidden = sec.id !== 'page-' + name;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === '#' + name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (name !== 'dashboard') stopPolling();
  for (const id of ['peer-token', 'api-token']) {  /* a secret is shown once, then gone */
    $(id).hidden = true;
    $(id + '-value').textContent = '';
  }
  if (LOADERS[name]) LOADERS[name]();
  const h = document.querySelector('#page-' + name + ' h1');
  if (h) document.title = h.firstChild.textContent.trim() + ' · interlink';
}

function route() {
  if (!S.user) return showPage('login');
  const name = location.hash.replace(/^#/, '') || 'dashboard';
  clearMessages();
  showPage(PAGES.includes(name) ? name : 'dashboard');
}

/* ------------------------------------------------------------ dashboard */

function stopPolling() {
  if (S.timer) clearInterval(S.timer);
  S.timer = null;
}

LOADERS.dashboard = () => {
  stopPolling();
  pollStatus();
  S.timer = setInterval(pollStatus, POLL_MS);
};

async function pollStatus() {
  let st;
  try {
    st = await api('GET', '/api/status');
  } catch (e) {
    if (!e.handled) showError('Status: ' + e.message);
    return;
  }
  if (!$('alert').hidden && $('alert').textContent.startsWith('Status:')) $('alert').hidden = true;
  S.hist.push({
    t: Date.now(),
    acc: (st.rates && st.rates.accepted_per_s) || 0,
    del: (st.rates && st.rates.delivered_per_s) || 0,
    q: Object.fromEntries(list(st.peers).map((p) => [p.name, p.queued || 0])),
  });
  if (S.hist.length > HISTORY) S.hist.shift();
  renderStatus(st);
}

function tile(k, v, bad) {
  return el('div', { class: 'tile' + (bad ? ' bad' : '') },
    el('div', { class: 'v' }, v), el('div', { class: 'k' }, k));
}

/* Once the store's disk failed a write: how many operations it failed and the last error;
 * red while the last write failed (the node then answers 500 and its health 503). */
function storeErrorTiles(s) {
  if (!s.errors) return [];
  return [tile('store write errors' + (s.last_error ? ' · ' + s.last_error : ''), s.errors,
    s.failing)];
}

/* A tile per TLS listener: when its certificate ends; red within CERT_WARN_DAYS. */
const CERT_WARN_DAYS = 14;
function certTiles(certs) {
  return ['carrier', 'admin'].filter((l) => certs[l]).map((l) => {
    const days = Math.floor((Date.parse(certs[l]) - Date.now()) / 86400000);
    return tile(l + ' certificate ends ' + certs[l].slice(0, 10), days + ' d',
      days < CERT_WARN_DAYS);
  });
}

function renderStatus(st) {
  const c = st.counters || {}, r = st.rates || {}, s = st.store || {};
  $('node-name').textContent = (st.node || '') + (st.version ? ' · ' + st.version : '') +
    (st.uptime_s !== undefined ? ' · up ' + age(st.uptime_s) : '');
  $('tiles').replaceChildren(
    tile('accepted', c.accepted ?? 0),
    tile('delivered', c.delivered ?? 0),
    tile('failed', c.failed ?? 0, c.failed > 0),
    tile('expired', c.expired ?? 0, c.expired > 0),
    tile('accepted / s', (r.accepted_per_s ?? 0).toFixed(1)),
    tile('delivered / s', (r.delivered_per_s ?? 0).toFixed(1)),
    tile('store used of ' + bytes(s.max), bytes(s.used), s.full),
    ...storeErrorTiles(s),
    ...certTiles(st.certificates || {}),
  );
  $('restart-banner').hidden = !st.restart_needed;
  $('tiles').firstChild.id = 'tile-accepted';
  drawChart($('chart-rates'), $('legend-rates'), [
    { label: 'accepted / s', values: S.hist.map((h) => h.acc) },
    { label: 'delivered / s', values: S.hist.map((h) => h.del) },
  ]);
  const names = [...new Set(S.hist.flatMap((h) => Object.keys(h.q)))].sort();
  drawChart($('chart-queues'), $('legend-queues'),
    names.map((n) => ({ label: n, values: S.hist.map((h) => h.q[n] ?? 0) })));
  renderHealth(list(st.peers));
}

function endpointBadge(ep) {
  const state = ep.state || 'unknown';
  const kind = state === 'up' ? 'up' : state === 'down' ? 'down' : state.includes('open') ? 'open' : 'info';
  return badge((ep.url || '') + ': ' + state, kind);
}

function renderHealth(peers) {
  const tb = $('health').tBodies[0];
  if (!peers.length) return tb.replaceChildren(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'No peers')));
  tb.replaceChildren(...peers.map((p) => {
    const eps = list(p.endpoints);
    const flags = [];
    if (p.down) flags.push(badge('down', 'down'));
    if (p.suspended) flags.push(badge('suspended', 'warn'));
    if (p.read_only) flags.push(badge('from config', 'info'));
    if (!p.down && !p.suspended) flags.push(badge('ok', 'ok'));
    return el('tr', {},
      el('td', {}, p.name), el('td', { class: 'hide-narrow' }, p.kind || ''),
      el('td', { class: 'num' }, p.queued ?? 0),
      el('td', { class: 'num hide-narrow' }, p.delivering ?? 0),
      el('td', {}, p.queued ? age(p.oldest_age_s) : ''),
      el('td', {}, eps.length ? eps.map(endpointBadge) : badge('pulls', 'info')),
      el('td', {}, flags));
  }));
}

/* A line chart of series [{label, values}] on a canvas, sized to its box. */
function drawChart(canvas, legend, series) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600, h = canvas.clientHeight || 200;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const padL = 44, padR = 8, padT = 8, padB = 18;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const top = niceCeil(max);
  g.font = '11px system-ui, sans-serif';
  g.fillStyle = '#5b6575';
  g.strokeStyle = '#e3e6eb';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = padT + (h - padT - padB) * (1 - i / 4);
    g.beginPath(); g.moveTo(padL, y); g.lineTo(w - padR, y); g.stroke();
    const v = top * i / 4;
    g.fillText(v >= 10 ? String(Math.round(v)) : String(Number(v.toFixed(2))), 4, y + 4);
  }
  g.fillText('−2 min', padL, h - 4);
  g.fillText('now', w - padR - 22, h - 4);
  const x = (i) => padL + (w - padL - padR) * (i / (HISTORY - 1));
  series.forEach((s, k) => {
    const off = HISTORY - s.values.length;
    g.strokeStyle = COLORS[k % COLORS.length];
    g.lineWidth = 2;
    g.beginPath();
    s.values.forEach((v, i) => {
      const y = padT + (h - padT - padB) * (1 - v / top);
      if (i === 0) g.moveTo(x(i + off), y); else g.lineTo(x(i + off), y);
    });
    g.stroke();
  });
  legend.replaceChildren(...series.map((s, k) => {
    const sw = el('span', { class: 'swatch' });
    sw.style.background = COLORS[k % COLORS.length];
    const last = s.values.length ? s.values[s.values.length - 1] : 0;
    return el('span', {}, sw, s.label + ': ' + (Number.isInteger(last) ? last : last.toFixed(1)));
  }));
  if (!series.length) legend.replaceChildren(el('span', {}, 'no peers yet'));
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

$('reload').addEventListener('click', () => act(async () => {
  await api('POST', '/api/reload');
}, 'The config file was reloaded: its peers and routes are in force.'));

/* ------------------------------------------------------------ peers */

async function loadPeers() {
  S.peers = list(await api('GET', '/api/peers'), 'peers');
  for (const id of ['route-peer', 'dir-peer']) {
    const sel = $(id), keep = sel.value;
    sel.replaceChildren(...S.peers.map((p) => el('option', { value: p.name }, p.name)));
    if (keep) sel.value = keep;
  }
  const qs = $('q-peer'), keep = qs.value;
  qs.replaceChildren(el('option', { value: '' }, 'any'),
    ...S.peers.map((p) => el('option', { value: p.name }, p.name)));
  qs.value = keep;
  return S.peers;
}

LOADERS.peers = () => act(async () => {
  const peers = await loadPeers();
  const tb = $('peers-table').tBodies[0];
  if (!peers.length) return tb.replaceChildren(el('tr', {}, el('td', { colspan: 7, class: 'empty' }, 'No peers')));
  tb.replaceChildren(...peers.map(peerRow));
});

function epUrl(e) { return typeof e === 'string' ? e : e.url; }

/* Directory trust and the signing keys the peer pins (ids and ends; the form has the keys). */
function trustCell(p) {
  const kids = [];
  if (p.directory_trusted) kids.push(badge('directory trusted', 'warn'));
  for (const k of list(p.keys)) {
    kids.push(el('div', { class: 'mono key' }, 'key ' + k.kid + (k.until ? ' until ' + k.until : ' (no end)')));
  }
  return kids;
}

function peerRow(p) {
  const ro = p.read_only;
  const state = [];
  if (p.suspended) state.push(badge('suspended', 'warn'));
  if (p.down) state.push(badge('down', 'down'));
  if (!p.suspended && !p.down) state.push(badge('active', 'ok'));
  if (ro) state.push(badge('from config', 'info'));
  const acts = [];
  if (S.role === 'admin' && !ro) {
    acts.push(el('button', { type: 'button', class: 'small quiet', onclick: () => editPeer(p) }, 'Edit'));
    acts.push(p.suspended
      ? el('button', { type: 'button', class: 'small quiet', onclick: () => peerAction(p.name, 'resume') }, 'Resume')
      : el('button', { type: 'button', class: 'small quiet', onclick: () => peerAction(p.name, 'suspend') }, 'Suspend'),
      el('button', { type: 'button', class: 'small danger', onclick: () => deletePeer(p.name) }, 'Delete'));
  }
  return el('tr', { 'data-peer': p.name },
    el('td', {}, p.name), el('td', {}, p.kind || ''),
    el('td', {}, list(p.owns).join(', ')),
    el('td', { class: 'mono' }, list(p.endpoints).map(epUrl).join(' ') || 'pulls'),
    el('td', {}, state), el('td', {}, trustCell(p)),
    el('td', {}, acts.length ? acts : (ro ? 'read-only' : '')));
}

function peerAction(name, what) {
  return act(async () => {
    await api('POST', '/api/peers/' + enc(name) + '/' + what, {});
    await LOADERS.peers();
  }, 'Peer ' + name + (what === 'suspend' ? ' suspended.' : ' resumed.'));
}

function deletePeer(name) {
  if (!confirm('Delete peer ' + name + '? Its routes must go first; queued messages stay.')) return;
  return act(async () => {
    await api('DELETE', '/api/peers/' + enc(name));
    if (S.editing && S.editing.name === name) resetPeerForm();
    await LOADERS.peers();
  }, 'Peer ' + name + ' deleted.');
}

/* The peer form edits a run-time peer (S.editing) instead of adding one. A PUT replaces the
 * whole definition, so the limits the form does not show go back as they were; the outbound
 * token and the certificate pin, which the API never shows back, stay as they are when the
 * PUT leaves them out (an outbound token typed in replaces the old one). */
function editPeer(p) {
  clearMessages();
  S.editing = p;
  $('peer-name').value = p.name;
  $('peer-name').readOnly = true;
  $('peer-kind').value = p.kind || 'carrier';
  $('peer-owns').value = list(p.owns).join(', ');
  $('peer-endpoints').value = list(p.endpoints).map(epUrl).join(', ');
  $('peer-dir-trusted').checked = !!p.directory_trusted;
  $('peer-outbound').value = '';
  $('peer-outbound').placeholder = p.outbound_token ? 'set (leave empty to keep it)' : 'none';
  $('peer-keys').value = keysText(p);   /* saved back as they are: a PUT keeps them */
  $('peer-form-title').textContent = 'Edit peer ' + p.name;
  $('peer-submit').textContent = 'Save peer';
  $('peer-cancel').hidden = false;
  $('peer-form').scrollIntoView({ block: 'nearest' });
}

/* A peer's pins as the keys textarea holds them, one "BASE64 [until TIME]" a line; and back. */
function keysText(p) {
  return list(p.keys).map((k) => k.key + (k.until ? ' until ' + k.until : '')).join('\n');
}

function keysLines(text) {
  return (text || '').split('\n').map((x) => x.trim()).filter(Boolean);
}

function resetPeerForm() {
  S.editing = null;
  $('peer-form').reset();
  $('peer-name').readOnly = false;
  $('peer-outbound').placeholder = 'none';
  $('peer-form-title').textContent = 'Add a peer';
  $('peer-submit').textContent = 'Add peer';
  $('peer-cancel').hidden = true;
}

$('peer-cancel').addEventListener('click', resetPeerForm);

$('peer-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = formData(ev.target), old = S.editing;
  const body = { kind: f.kind, owns: csv(f.owns), endpoints: csv(f.endpoints),
    directory_trusted: $('peer-dir-trusted').checked, keys: keysLines($('peer-keys').value) };
  if (f.outbound_token) body.outbound_token = f.outbound_token; /* left out: none, or kept */
  if (old) {
    for (const k of ['rate', 'burst', 'max_size', 'max_queue']) if (old[k] !== undefined) body[k] = old[k];
    act(async () => {
      await api('PUT', '/api/peers/' + enc(old.name), body);
      resetPeerForm();
      await LOADERS.peers();
    }, 'Peer ' + old.name + ' saved.');
    return;
  }
  body.name = f.name;
  act(async () => {
    const res = await api('POST', '/api/peers', body);
    $('peer-token-value').textContent = res.token || '(the node sent no token)';
    $('peer-token').hidden = false;
    resetPeerForm();
    await LOADERS.peers();
    return res;
  }, 'Peer ' + f.name + ' added.');
});

$('peer-token-copy').addEventListener('click', () => {
  const t = $('peer-token-value').textContent;
  if (navigator.clipboard) navigator.clipboard.writeText(t).then(() => showNotice('Token copied.'), () => {});
});

/* ------------------------------------------------------------ routes and the tester */

function routeKey(r) {
  if (r.key) return r.key;
  if (r.default) return 'default';
  return r.prefix || r.domain;
}

function routeMatch(r) {
  if (r.match) return r.match === 'default' ? 'default route' : r.match + ' ' + r.value;
  if (r.default) return 'default route';
  if (r.prefix) return 'prefix ' + r.prefix;
  if (r.domain) return 'domain ' + r.domain;
  return r.key || '?';
}

LOADERS.routes = () => act(async () => {
  await loadPeers();
  const routes = list(await api('GET', '/api/routes'), 'routes');
  const tb = $('routes-table').tBodies[0];
  if (!routes.length) return tb.replaceChildren(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No routes')));
  tb.replaceChildren(...routes.map((r) => el('tr', {},
    el('td', { class: 'mono' }, routeMatch(r)), el('td', {}, r.peer),
    el('td', {}, r.read_only ? badge('config file', 'info') : badge('console', 'ok')),
    el('td', {}, (S.role === 'admin' && !r.read_only)
      ? el('button', { type: 'button', class: 'small danger', onclick: () => deleteRoute(r) }, 'Delete')
      : (r.read_only ? 'read-only' : '')))));
});

function deleteRoute(r) {
  if (!confirm('Delete the route for ' + routeMatch(r) + '?')) return;
  return act(async () => {
    await api('DELETE', '/api/routes/' + enc(routeKey(r)));
    await LOADERS.routes();
  }, 'Route deleted.');
}

$('route-match').addEventListener('change', () => {
  $('route-value').disabled = $('route-match').value === 'default';
});

$('route-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = formData(ev.target);
  const body = { peer: f.peer };
  if (f.match === 'default') body.default = true; else body[f.match] = f.value;
  act(async () => {
    await api('POST', '/api/routes', body);
    ev.target.reset();
    $('route-value').disabled = false;
    await LOADERS.routes();
  }, 'Route added.');
});

$('rtest-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = formData(ev.target);
  let q = '/api/route-test?to=' + enc(f.to);
  if (f.from) q += '&from=' + enc(f.from);
  act(async () => {
    const r = await api('GET', q);
    const out = $('rtest-result');
    const rest = Object.fromEntries(Object.entries(r).filter(([k]) => !['verdict', 'peer', 'why'].includes(k)));
    out.replaceChildren(
      el('p', { class: 'verdict' }, (r.verdict || '?') + (r.peer ? ' → ' + r.peer : '')),
      r.why ? el('p', {}, Array.isArray(r.why) ? r.why.join('; ') : r.why) : null,
      r.route ? el('p', {}, 'Route: ' + routeMatch(r.route) + ' → ' + r.route.peer) : null,
      fields(Object.fromEntries(Object.entries(rest).filter(([k]) => k !== 'route'))));
    out.hidden = false;
  });
});

/* ------------------------------------------------------------ directory */

LOADERS.directory = () => act(async () => {
  await loadPeers();
  await loadPending();
});

/* The carriers' lines outside their own space, waiting for an admin (the first page). */
async function loadPending() {
  const r = await api('GET', '/api/directory-pending?limit=100');
  const rows = list(r, 'pending');
  $('dir-pending').tBodies[0].replaceChildren(...(rows.length ? rows.map((p) => el('tr', {},
    el('td', {}, el('a', { href: '#', onclick: (ev) => { ev.preventDefault(); lookup(p.address); } }, p.address)),
    el('td', {}, p.peer),
    el('td', {}, S.role === 'admin'
      ? el('button', { type: 'button', class: 'small', onclick: () => approveEntry(p.address, p.peer) }, 'Approve')
      : ''))) : [el('tr', {}, el('td', { colspan: 3 }, 'None.'))]));
}

function approveEntry(addr, peer) {
  if (!confirm('Approve ' + peer + "'s account for " + addr + '? It will receive messages for it and may send from it.')) return;
  return act(async () => {
    await api('POST', '/api/directory/' + enc(addr) + '/approve', { peer });
    $('dir-address').value = addr;
    await loadPending();
    await lookup(addr);
  }, 'Approved.');
}

function showEntry(addr, e) {
  const out = $('dir-result');
  const accounts = list(e, 'accounts');
  const kids = [el('h3', {}, e.address || addr)];
  if (accounts.length) {
    kids.push(el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, ['Peer', 'Account', 'Priority', 'Failover', 'State', ''].map((t) => el('th', {}, t)))),
      el('tbody', {}, accounts.map((a) => el('tr', {},
        el('td', {}, a.peer), el('td', {}, a.account || ''), el('td', { class: 'num' }, a.priority ?? 0),
        el('td', {}, a.failover ? 'yes' + (a.failover_delay ? ' after ' + age(a.failover_delay) : '') : 'no'),
        el('td', {}, a.pending ? el('span', { class: 'badge warn' }, 'awaiting approval') : 'active'),
        el('td', {}, S.role === 'admin'
          ? [a.pending ? el('button', { type: 'button', class: 'small', onclick: () => approveEntry(e.address || addr, a.peer) }, 'Approve') : '',
            el('button', { type: 'button', class: 'small danger', onclick: () => removeEntry(e.address || addr, a.peer) }, 'Remove')]
          : '')))))));
  } else {
    kids.push(fields(e));
    if (S.role === 'admin')
      kids.push(el('button', { type: 'button', class: 'danger', onclick: () => removeEntry(e.address || addr) }, 'Remove'));
  }
  out.replaceChildren(...kids);
  out.hidden = false;
}

function lookup(addr) {
  return act(async () => {
    try {
      showEntry(addr, await api('GET', '/api/directory/' + enc(addr)));
    } catch (e) {
      if (e.status !== 404) throw e;
      $('dir-result').replaceChildren(el('p', {}, 'No directory entry for ' + addr + ' (' + e.message + ').'));
      $('dir-result').hidden = false;
    }
  });
}

function removeEntry(addr, peer) {
  if (!confirm('Remove ' + (peer ? peer + "'s account for " : 'the entry for ') + addr + '?')) return;
  return act(async () => {
    await api('DELETE', '/api/directory/' + enc(addr) + (peer ? '?peer=' + enc(peer) : ''));
    await lookup(addr);
  }, 'Removed.');
}

$('dir-lookup').addEventListener('submit', (ev) => {
  ev.preventDefault();
  lookup(formData(ev.target).address);
});

$('dir-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = formData(ev.target);
  const body = { peer: f.peer, priority: Number(f.priority || 0), failover: $('dir-failover').checked };
  if (f.account) body.account = f.account;
  act(async () => {
    await api('PUT', '/api/directory/' + enc(f.address), body);
    $('dir-address').value = f.address;
    await lookup(f.address);
  }, 'Saved the entry for ' + f.address + '.');
});

/* ------------------------------------------------------------ queue browser */

const Q = { pages: [null], page: 0 };  /* the "after" cursor of each page seen */

LOADERS.queue = () => act(async () => {
  await loadPeers();
  Q.pages = [null]; Q.page = 0;
  await loadQueue();
});

async function loadQueue() {
  const f = formData($('queue-filter'));
  const p = new URLSearchParams();
  for (const k of ['peer', 'state', 'older', 'limit']) if (f[k]) p.set(k, f[k]);
  if (Q.pages[Q.page]) p.set('after', Q.pages[Q.page]);
  const res = await api('GET', '/api/messages?' + p);
  const msgs = list(res, 'messages');
  Q.pages[Q.page + 1] = res.next || null;
  $('q-next').disabled = !res.next;
  $('q-first').disabled = Q.page === 0;
  const tb = $('queue-table').tBodies[0];
  if (!msgs.length) return tb.replaceChildren(el('tr', {}, el('td', { colspan: 8, class: 'empty' }, 'No messages match')));
  tb.replaceChildren(...msgs.map(messageRow));
}

function messageRow(m) {
  const b = (label, what, cls) => el('button', {
    type: 'button', class: 'small ' + (cls || 'quiet'), onclick: () => messageAction(m.rid, what),
  }, label);
  const acts = [el('button', { type: 'button', class: 'small quiet', onclick: () => showMessage(m.rid) }, 'Details')];
  if (S.role === 'admin' && ['queued', 'delivering', 'held'].includes(m.state)) {
    acts.push(b('Retry', 'retry'));
    acts.push(m.state === 'held' ? b('Release', 'release') : b('Hold', 'hold'));
    acts.push(b('Purge', 'purge', 'danger'));
  }
  const created = (Date.now() - toMs(m.created)) / 1000;
  return el('tr', { 'data-rid': m.rid },
    el('td', { class: 'mono rid' }, m.rid), el('td', {}, m.peer || ''),
    el('td', {}, m.from || (m.src ? 'peer ' + m.src : '')),
    el('td', {}, badge(m.state || '?', m.state === 'failed' ? 'bad' : m.state === 'held' ? 'warn' : 'info')),
    el('td', {}, age(m.age_s ?? (created >= 0 ? created : undefined))),
    el('td', { class: 'num' }, m.attempts ?? ''), el('td', {}, m.last_error || ''),
    el('td', {}, acts));
}

function messageAction(rid, what) {
  let body = {};
  if (what === 'purge') {
    if (!confirm('Purge message ' + rid + '? It is deleted for good and its sender gets a failure report.')) return;
    body = { confirm: true };
  }
  return act(async () => {
    await api('POST', '/api/messages/' + enc(rid) + '/' + what, body);
    await loadQueue();
    if (!$('msg-detail').hidden && $('msg-detail').dataset.rid === rid) await showMessage(rid, true);
  }, 'Message ' + rid + ': ' + what + ' done.');
}

function showMessage(rid, quiet) {
  return act(async () => {
    const m = await api('GET', '/api/messages/' + enc(rid));
    const out = $('msg-detail');
    out.replaceChildren(el('h3', {}, 'Message ' + rid), fields(m));
    out.dataset.rid = rid;
    out.hidden = false;
    if (!quiet) out.scrollIntoView({ block: 'nearest' });
  });
}

$('queue-filter').addEventListener('submit', (ev) => {
  ev.preventDefault();
  Q.pages = [null]; Q.page = 0;
  act(loadQueue);
});
$('q-next').addEventListener('click', () => { Q.page++; act(loadQueue); });
$('q-first').addEventListener('click', () => { Q.page = 0; act(loadQueue); });

/* ------------------------------------------------------------ admins and API tokens */

LOADERS.admins = () => act(async () => {
  const users = list(await api('GET', '/api/users'), 'users');
  $('users-table').tBodies[0].replaceChildren(...users.map((u) => el('tr', {},
    el('td', {}, u.name || u.user), el('td', {}, u.role),
    el('td', {}, (S.role === 'admin' && (u.name || u.user) !== S.user)
      ? el('button', { type: 'button', class: 'small danger', onclick: () => deleteUser(u.name || u.user) }, 'Delete')
      : ''))));
  let tokens = [];
  try { tokens = list(await api('GET', '/api/tokens'), 'tokens'); } catch (e) { if (e.status !== 403) throw e; }
  const tb = $('tokens-table').tBodies[0];
  if (!tokens.length) return tb.replaceChildren(el('tr', {}, el('td', { colspan: 4, class: 'empty' }, 'No API tokens')));
  tb.replaceChildren(...tokens.map((t) => el('tr', {},
    el('td', {}, t.name), el('td', {}, t.role),
    el('td', {}, Number.isNaN(toMs(t.created)) ? '' : new Date(toMs(t.created)).toLocaleString()),
    el('td', {}, S.role === 'admin'
      ? el('button', { type: 'button', class: 'small danger', onclick: () => deleteToken(t.name) }, 'Revoke')
      : ''))));
});

function deleteUser(name) {
  if (!confirm('Delete admin ' + name + '?')) return;
  return act(async () => {
    await api('DELETE', '/api/users/' + enc(name));
    await LOADERS.admins();
  }, 'Admin ' + name + ' deleted.');
}

function deleteToken(name) {
  if (!confirm('Revoke API token ' + name + '? Scripts using it stop working.')) return;
  return act(async () => {
    await api('DELETE', '/api/tokens/' + enc(name));
    await LOADERS.admins();
  }, 'Token ' + name + ' revoked.');
}

$('user-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = formData(ev.target);
  act(async () => {
    await api('POST', '/api/users', { name: f.name, password: f.password, role: f.role });
    ev.target.reset();
    await LOADERS.admins();
  }, 'Admin ' + f.name + ' added.');
});

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = formData(ev.target);
  act(async () => {
    const res = await api('POST', '/api/tokens', { name: f.name, role: f.role });
    $('api-token-value').textContent = res.token || '(the node sent no token)';
    $('api-token').hidden = false;
    ev.target.reset();
    await LOADERS.admins();
  }, 'Token ' + f.name + ' created.');
});

/* ------------------------------------------------------------ login, logout, start */

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = formData(ev.target);
  act(async () => {
    const s = await api('POST', '/api/login', { user: f.user, password: $('login-password').value });
    $('login-password').value = '';
    setSession(s);
    clearMessages();
    route();  /* the page the URL names (a deep link survives the login), else the dashboard */
  });
});

$('logout').addEventListener('click', () => act(async () => {
  try { await api('POST', '/api/logout'); } finally { loggedOut(); showNotice('Logged out.'); }
}));

window.addEventListener('hashchange', route);

(async function start() {
  try {
    setSession(await api('GET', '/api/session'));
  } catch (e) {
    loggedOut();
    if (!e.handled) showError(e.message);
    return;
  }
  route();
})();
