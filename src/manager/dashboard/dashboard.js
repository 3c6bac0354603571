// The manager's dashboard: polls the API once a second (GET /v1/workers, /v1/jobs and, on a
// job's page, /v1/jobs/ID and its results) and draws what it gets. No library, no build.
'use strict';

const POLL_MS = 1000;
const KEEP_SAMPLES = 120; // two minutes of history in the charts
const TASKS_SHOWN = 200;
const samples = []; // {t, finished, queued}
const jobRates = new Map(); // job id -> {t, finished, rate}

const $ = (s) => document.querySelector(s);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};
const short = (id) => (id ? id.slice(0, 8) : '–');
const fmtRate = (r) => (r >= 100 ? Math.round(r).toLocaleString() : r.toFixed(1));
const fmtMiB = (bytes) => Math.round(bytes / 1048576).toLocaleString() + ' MiB';
const ago = (ms) => {
  if (!ms) return 'never';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  return s < 1 ? 'just now' : s < 120 ? Math.round(s) + ' s ago' : Math.round(s / 60) + ' min ago';
};

// The API's token, when the manager has one (--api-token-file): asked for once, kept in
// this browser's local storage, sent with every request.
const TOKEN_KEY = 'wasmgrid-token';
class Unauthorized extends Error {}

async function getJSON(path) {
  const token = localStorage.getItem(TOKEN_KEY);
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const r = await fetch(path, { cache: 'no-store', headers });
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) throw new Unauthorized(token ? 'the token was refused' : 'this manager needs its API token');
  if (!r.ok) throw new Error(body.error || r.status + ' ' + r.statusText);
  return body;
}

function askToken(why) {
  const form = $('#token-form');
  form.hidden = false;
  $('#token-why').textContent = why + ': ';
}

$('#token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  localStorage.setItem(TOKEN_KEY, $('#token').value.trim());
  $('#token-form').hidden = true;
});

function finishedOf(job) {
  const c = job.counts || {};
  return (c.completed || 0) + (c.failed || 0) + (c.cancelled || 0);
}

function progressBar(job) {
  const c = job.counts || {};
  const total = job.tasks || 1;
  const bar = el('div', { class: 'bar', title: 'completed, failed, running, assigned (sent, not started), cancelled; grey is queued' });
  for (const k of ['completed', 'failed', 'running', 'assigned', 'cancelled']) {
    const span = el('span', { class: k });
    span.style.width = (100 * (c[k] || 0) / total) + '%';
    bar.append(span);
  }
  const text = el('div', { class: 'counts' },
    `${finishedOf(job)}/${job.tasks} done · ${c.completed || 0} completed · ${c.failed || 0} failed · ` +
    `${c.running || 0} running · ${c.assigned || 0} assigned · ${c.queued || 0} queued`);
  return el('div', {}, bar, text);
}

function renderWorkers(doc) {
  $('#manager').textContent = 'manager ' + short(doc.manager);
  const tbody = $('#workers tbody');
  tbody.replaceChildren();
  let attached = 0, slots = 0;
  for (const w of doc.workers) {
    if (w.state === 'attached') { attached++; slots += w.specs.slots; }
    tbody.append(el('tr', { 'data-worker': w.node_id },
      el('td', { class: 'mono', title: w.node_id }, short(w.node_id)),
      el('td', { class: 'mono' }, w.address),
      el('td', {}, el('span', { class: 'state ' + w.state }, w.state)),
      el('td', { class: 'num' }, w.specs.slots),
      el('td', { class: 'num' }, w.specs.cores),
      el('td', { class: 'num' }, fmtMiB(w.specs.memory)),
      el('td', {}, ago(w.last_pong_ms))));
  }
  if (!doc.workers.length)
    tbody.append(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'no workers connected')));
  $('#n-workers').textContent = attached;
  $('#n-slots').textContent = slots;
}

function renderJobs(jobs, now) {
  const tbody = $('#jobs tbody');
  tbody.replaceChildren();
  for (const j of jobs) {
    const f = finishedOf(j);
    const prev = jobRates.get(j.id);
    let rate = prev ? prev.rate : 0;
    if (prev && now > prev.t) rate = (f - prev.finished) * 1000 / (now - prev.t);
    if (j.state !== 'running') rate = 0;
    jobRates.set(j.id, { t: now, finished: f, rate });
    tbody.append(el('tr', { 'data-job': j.id },
      el('td', {}, el('a', { href: '#/jobs/' + j.id }, 'job ' + j.id + (j.name ? ' · ' + j.name : ''))),
      el('td', {}, el('span', { class: 'state ' + j.state }, j.state)),
      el('td', {}, progressBar(j)),
      el('td', { class: 'num' }, j.tasks.toLocaleString()),
      el('td', { class: 'num' }, j.state === 'running' ? fmtRate(rate) + '/s' : '–'),
      el('td', {}, new Date(j.created_ms).toLocaleString())));
  }
  if (!jobs.length)
    tbody.append(el('tr', {}, el('td', { colspan: 6, class: 'muted' }, 'no jobs yet: wasmgrid submit PROGRAM.wasm --arg ...')));
}

function sample(jobs, now) {
  let finished = 0, queued = 0, running = 0;
  for (const j of jobs) {
    finished += finishedOf(j);
    queued += (j.counts && j.counts.queued) || 0;
    running += (j.counts && j.counts.running) || 0;
  }
  samples.push({ t: now, finished, queued });
  if (samples.length > KEEP_SAMPLES) samples.shift();
  $('#n-running').textContent = running.toLocaleString();
  $('#n-queued').textContent = queued.toLocaleString();
  const rates = rateSeries();
  $('#n-rate').textContent = rates.length ? fmtRate(rates[rates.length - 1]) : '–';
}

// Tasks finished per second at each sample, averaged over the RATE_WINDOW samples before it
// so that batches arriving in bursts draw a readable line.
const RATE_WINDOW = 5;
function rateSeries() {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const from = samples[Math.max(0, i - RATE_WINDOW)];
    const dt = samples[i].t - from.t;
    out.push(dt > 0 ? Math.max(0, samples[i].finished - from.finished) * 1000 / dt : 0);
  }
  return out;
}

function drawChart(svg, values, color) {
  const W = 400, H = 120, top = 14;
  svg.replaceChildren();
  const max = Math.max(1, ...values);
  // The newest sample at the right edge; the chart fills leftwards as history builds up.
  const x = (i) => W - ((values.length - 1 - i) * W) / (KEEP_SAMPLES - 1);
  const y = (v) => H - (v / max) * (H - top);
  const pts = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const ns = 'http://www.w3.org/2000/svg';
  const mk = (tag, attrs) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.append(e);
    return e;
  };
  if (values.length >= 2) {
    mk('polygon', { class: 'area', fill: color, points: `${x(0).toFixed(1)},${H} ${pts} ${W},${H}` });
    mk('polyline', { class: 'line', stroke: color, points: pts });
  }
  mk('text', { class: 'axis', x: 2, y: 10 }).textContent = 'max ' + fmtRate(max);
}

async function renderJob(id) {
  const [job, page] = await Promise.all([
    getJSON('/v1/jobs/' + id),
    getJSON(`/v1/jobs/${id}/results?from=0&limit=${TASKS_SHOWN}`),
  ]);
  $('#job-title').textContent = `job ${job.id}${job.name ? ' · ' + job.name : ''} · ${job.state}`;
  const o = job.options || {};
  $('#job-summary').replaceChildren(progressBar(job), el('p', { class: 'muted mono' },
    `program ${job.program} · timeout ${o.timeout_ms} ms · memory ${o.memory_mib} MiB · ` +
    `redundancy ${o.redundancy} (quorum ${o.quorum}) · max failures ${o.max_failures} · priority ${o.priority}`));
  const tbody = $('#tasks tbody');
  tbody.replaceChildren();
  for (const t of page.results) {
    let what;
    if (t.status === 'completed') {
      what = el('pre', {}, t.encoding === 'base64' ? 'base64: ' + t.result : t.result);
    } else if (t.error) {
      what = el('div', {}, el('span', { class: 'state failed' }, t.error), ' ', t.error_detail || '');
      if (t.stderr) what.append(el('details', {}, el('summary', {}, 'stderr'), el('pre', {}, t.stderr)));
    } else {
      what = el('span', { class: 'muted' }, '–');
    }
    tbody.append(el('tr', { 'data-task': t.index },
      el('td', { class: 'num' }, t.index),
      el('td', {}, el('span', { class: 'state ' + t.status }, t.status)),
      el('td', {}, what),
      el('td', { class: 'mono', title: t.worker || '' }, short(t.worker)),
      el('td', { class: 'num' }, t.attempts)));
  }
  $('#tasks-more').textContent = job.tasks > TASKS_SHOWN
    ? `first ${TASKS_SHOWN} of ${job.tasks.toLocaleString()} tasks; all of them: wasmgrid results ${job.id}` : '';
}

function route() {
  const m = location.hash.match(/^#\/jobs\/(\d+)$/);
  $('#overview').hidden = !!m;
  $('#job').hidden = !m;
  return m ? m[1] : null;
}

async function tick() {
  const now = Date.now();
  try {
    const [workers, jobs] = await Promise.all([getJSON('/v1/workers'), getJSON('/v1/jobs')]);
    renderWorkers(workers);
    renderJobs(jobs.jobs, now);
    sample(jobs.jobs, now);
    drawChart($('#chart-rate'), rateSeries(), '#2e9d5b');
    drawChart($('#chart-queue'), samples.map((s) => s.queued), '#3b7ddd');
    const id = route();
    if (id) await renderJob(id);
    $('#status').textContent = 'live · ' + new Date(now).toLocaleTimeString();
    $('#status').className = 'status';
  } catch (e) {
    if (e instanceof Unauthorized) {
      askToken(e.message);
      $('#status').textContent = 'waiting for the API token';
    } else {
      $('#status').textContent = 'manager unreachable: ' + e.message;
    }
    $('#status').className = 'status down';
  }
  setTimeout(tick, POLL_MS);
}

window.addEventListener('hashchange', () => { route(); });
route();
tick();
