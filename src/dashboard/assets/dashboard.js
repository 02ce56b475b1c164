// The dashboard page: polls api/live once per interval (only the chart ticks it has not seen), draws the model
// table and two charts, and runs the try-it panel and load/unload through this origin's /v2 (forwarded to the HTTP
// frontend). Plain browser JavaScript, no libraries: the page must work offline and stay small (docs/dashboard.md).

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f77b4', '#d9480f', '#2b8a3e', '#9c36b5', '#c92a2a', '#0b7285', '#e67700', '#5c7cfa', '#a61e4d', '#495057'];

function el(tag, attrs = {}, ...kids) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'class') e.setAttribute('class', v);
    // Through the CSSOM: the page's Content-Security-Policy blocks style attributes.
    else if (k === 'style') for (const [p, x] of Object.entries(v)) e.style.setProperty(p, x);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

/** Writes text only when it changed: an unchanged number costs the browser no layout. */
function put(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

const ms = (us) => (us === null || us === undefined ? '–' : us >= 100_000 ? (us / 1000).toFixed(0) : us >= 10_000 ? (us / 1000).toFixed(1) : (us / 1000).toFixed(2));
const rate = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const mib = (b) => `${(b / 1048576).toFixed(0)} MiB`;
const count = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(0)}k` : String(n));

// ---- live data ----

const state = { seq: undefined, ticks: [], keys: new Map(), control: { enabled: false, tokenRequired: false }, v2: false, models: [] };
let failures = 0;

async function poll() {
  let delay = 1000;
  try {
    const url = state.seq === undefined ? 'api/live' : `api/live?since=${state.seq}`;
    const res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) throw new Error(`api/live answered ${res.status}`);
    const snap = await res.json();
    delay = snap.intervalMs;
    // A restarted server numbers its ticks from 1 again: start the charts over.
    if (state.seq !== undefined && snap.seq < state.seq) state.ticks = [];
    state.seq = snap.seq;
    state.ticks.push(...snap.history);
    const keep = Math.max(1, Math.round(300_000 / snap.intervalMs));
    if (state.ticks.length > keep) state.ticks.splice(0, state.ticks.length - keep);
    render(snap);
    if (failures > 0) setStatus('');
    failures = 0;
  } catch (err) {
    failures++;
    setStatus(`Not connected to the server (${err.message}); retrying…`, true);
    delay = Math.min(10_000, 1000 * failures);
  }
  setTimeout(poll, delay);
}

function setStatus(text, bad = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('bad', bad);
}

function render(snap) {
  put($('server-line'), `${snap.server.name} ${snap.server.version} · updated ${new Date().toLocaleTimeString()}`);
  put($('window-secs'), String(Math.round(snap.windowMs / 1000)));
  const p = snap.process;
  if (p) {
    put($('p-cpu'), `${(p.cpuCores * 100).toFixed(0)} % of a core (${p.cores} cores)`);
    put($('p-rss'), mib(p.rssBytes));
    put($('p-heap'), mib(p.heapUsedBytes));
    put($('p-lag'), `${p.loopLagP99Ms.toFixed(1)} / ${p.loopLagMaxMs.toFixed(1)} ms`);
  }
  put($('p-rps'), rate(snap.models.reduce((s, m) => s + m.reqPerSec, 0)));
  const controlChanged = snap.control.enabled !== state.control.enabled || snap.control.tokenRequired !== state.control.tokenRequired;
  state.control = snap.control;
  state.v2 = snap.v2;
  renderModels(snap.models, controlChanged);
  renderCharts();
  updateTryModels(snap.models);
}

// ---- the model table ----

function renderModels(models, rebuild) {
  $('control-panel').hidden = !(state.control.enabled && state.control.tokenRequired);
  document.querySelector('th.control-col').hidden = !state.control.enabled;
  const body = document.querySelector('#models tbody');
  const rows = new Map([...body.rows].map((r) => [r.dataset.key, r]));
  const want = models.map((m) => `${m.model}/${m.version ?? ''}`);
  if (rebuild || want.length !== rows.size || want.some((k, i) => body.rows[i]?.dataset.key !== k)) {
    body.replaceChildren(...models.map((m, i) => rows.get(want[i]) && !rebuild ? rows.get(want[i]) : modelRow(m, want[i])));
  }
  models.forEach((m, i) => fillRow(body.rows[i], m));
}

function modelRow(m, key) {
  const cells = ['model', 'version', 'state', 'rps num', 'p50 num', 'p99 num', 'split', 'batches', 'queued num', 'refused num', 'slo', 'cache num'];
  const tr = el('tr', { 'data-key': key, 'data-model': m.model, 'data-version': m.version ?? '' });
  for (const c of cells) tr.append(el(c === 'model' ? 'th' : 'td', { class: `c-${c}`, scope: c === 'model' ? 'row' : undefined }));
  if (state.control.enabled) {
    const act = (verb) => el('button', { type: 'button', class: verb === 'unload' ? 'secondary' : undefined, text: verb === 'load' ? 'Load' : 'Unload',
      'aria-label': `${verb === 'load' ? 'Load' : 'Unload'} model ${m.model}`, onclick: (e) => controlModel(m.model, verb, e.currentTarget) });
    tr.append(el('td', { class: 'c-control' }, act('load'), ' ', act('unload')));
  }
  return tr;
}

function fillRow(tr, m) {
  const cell = (c) => tr.querySelector(`.c-${c}`);
  put(cell('model'), m.model);
  put(cell('version'), m.version ?? '–');
  const st = cell('state');
  const shown = `${m.state}\n${m.reason ?? ''}`;
  if (st.dataset.shown !== shown) {
    st.dataset.shown = shown;
    st.className = `c-state state ${m.state}`;
    st.replaceChildren(m.state, m.reason ? el('span', { class: 'reason', text: m.reason }) : '');
  }
  put(cell('rps'), rate(m.reqPerSec));
  put(cell('p50'), ms(m.p50Us));
  put(cell('p99'), ms(m.p99Us));
  const split = cell('split');
  if (m.queueUs !== null && m.computeUs !== null) {
    const total = Math.max(1, m.queueUs + m.computeUs);
    const q = (100 * m.queueUs) / total;
    split.replaceChildren(
      el('span', { class: 'split', role: 'img', 'aria-label': `queue ${q.toFixed(0)} %, compute ${(100 - q).toFixed(0)} %` },
        el('span', { class: 'q', style: { width: `${q}%` } }), el('span', { class: 'c', style: { width: `${100 - q}%` } })),
      `${ms(m.queueUs)} / ${ms(m.computeUs)} ms`);
  } else put(split, '–');
  const batches = cell('batches');
  if (m.batches.length > 0) {
    const peak = Math.max(...m.batches.map((b) => b.count));
    const label = m.batches.map((b) => `≤${b.le}: ${b.count}`).join(', ');
    batches.replaceChildren(el('span', { class: 'bars', role: 'img', 'aria-label': `batch sizes ${label}`, title: label },
      ...m.batches.map((b) => el('span', { style: { height: `${Math.max(4, (100 * b.count) / peak)}%` } }))),
    ` mean ${m.meanBatch.toFixed(1)}`);
  } else put(batches, '–');
  put(cell('queued'), String(m.queueDepth));
  put(cell('refused'), `${count(m.rejected)} / ${count(m.shed)}`);
  const slo = cell('slo');
  if (m.slo) {
    const over = m.slo.observedP99Us > m.slo.targetUs;
    slo.className = `c-slo${over ? ' slo-over' : ''}`;
    put(slo, `p99 ${ms(m.slo.observedP99Us)} of ${ms(m.slo.targetUs)} ms${m.slo.sheddingLevels > 0 ? `, shedding ${m.slo.sheddingLevels} levels` : ''}`);
  } else put(slo, '–');
  const cache = cell('cache');
  if (m.cache) {
    const n = m.cache.hits + m.cache.misses;
    put(cache, n > 0 ? `${count(m.cache.hits)} (${((100 * m.cache.hits) / n).toFixed(0)} %)` : '0');
  } else put(cache, '–');
}

async function controlModel(model, verb, button) {
  button.disabled = true;
  setStatus(`${verb === 'load' ? 'Loading' : 'Unloading'} ${model}…`);
  try {
    const headers = { 'content-type': 'application/json' };
    const token = $('control-token').value;
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`v2/repository/models/${encodeURIComponent(model)}/${verb}`, { method: 'POST', headers, body: '{}' });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).error ?? `HTTP ${res.status}`);
    setStatus(`${model}: ${verb === 'load' ? 'loaded' : 'unloaded'}`);
  } catch (err) {
    setStatus(`${model}: ${verb} failed: ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

// ---- charts ----

function colorOf(key) {
  if (!state.keys.has(key)) state.keys.set(key, COLORS[state.keys.size % COLORS.length]);
  return state.keys.get(key);
}

function renderCharts() {
  const ticks = state.ticks;
  // Versions that served anything in the kept ticks, in a stable order.
  const active = new Set();
  for (const t of ticks) for (const [k, v] of Object.entries(t.versions)) if (v[0] > 0) active.add(k);
  const keys = [...active].sort();
  drawChart($('chart-rps'), ticks, keys, (v) => v[0], rate);
  drawChart($('chart-p99'), ticks, keys, (v) => (v[1] === null ? null : v[1] / 1000), (x) => x.toFixed(x >= 10 ? 0 : 1));
  $('legend').replaceChildren(...(keys.length ? keys.map((k) => el('li', { style: { '--c': colorOf(k) }, text: k })) : [el('li', { text: 'No requests served in the last minutes' })]));
}

function drawChart(svg, ticks, keys, pick, fmt) {
  const W = 480, H = 180, top = 8, bottom = 18;
  const kids = [];
  let max = 0;
  for (const t of ticks) for (const k of keys) { const v = t.versions[k] && pick(t.versions[k]); if (v !== null && v !== undefined && v > max) max = v; }
  const ceil = niceCeil(max);
  for (const f of [0, 0.5, 1]) {
    const y = top + (H - top - bottom) * (1 - f);
    kids.push(el('svg:line', { class: 'grid', x1: 0, x2: W, y1: y, y2: y }), el('svg:text', { x: 2, y: y - 2, text: fmt(ceil * f) }));
  }
  // The time axis spans what the server has kept, from 1 to 5 minutes.
  const last = ticks.length ? ticks[ticks.length - 1].t : 0;
  const span = Math.min(300_000, Math.max(60_000, last - (ticks[0]?.t ?? last)));
  const t0 = last - span;
  const x = (t) => (W * (t - t0)) / span;
  const y = (v) => top + (H - top - bottom) * (1 - v / ceil);
  const ago = span >= 120_000 ? `${Math.round(span / 60_000)} min ago` : `${Math.round(span / 1000)} s ago`;
  kids.push(el('svg:text', { x: 2, y: H - 4, text: ago }), el('svg:text', { x: W - 24, y: H - 4, text: 'now' }));
  for (const k of keys) {
    let d = '';
    let pen = 'M';
    for (const t of ticks) {
      const v = t.versions[k] ? pick(t.versions[k]) : null;
      if (v === null || v === undefined) { pen = 'M'; continue; }
      d += `${pen}${x(t.t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = 'L';
    }
    if (d) kids.push(el('svg:path', { class: 'series', d, stroke: colorOf(k), 'data-key': k }));
  }
  svg.replaceChildren(...kids);
  const latest = keys.map((k) => { const v = ticks.at(-1)?.versions[k]; return `${k} ${v && pick(v) !== null ? fmt(pick(v)) : 'none'}`; });
  svg.setAttribute('aria-description', keys.length ? `now: ${latest.join('; ')}` : 'no requests');
}

function niceCeil(x) {
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

// ---- try it ----

let tryModels = '';
function updateTryModels(models) {
  const names = [...new Set(models.filter((m) => m.state === 'READY').map((m) => m.model))];
  const sig = names.join(',');
  if (sig === tryModels) return;
  tryModels = sig;
  const select = $('try-model');
  const was = select.value;
  select.replaceChildren(...names.map((n) => el('option', { value: n, text: n, selected: n === was })));
  if (!state.v2) {
    $('try-inputs').replaceChildren(el('p', { class: 'error', text: 'This server does not forward the inference API to this port (no HTTP frontend).' }));
    $('try-send').disabled = true;
    return;
  }
  if (select.value !== was || !$('try-inputs').childElementCount) showInputs(select.value);
}

let metadata = null;
async function showInputs(model) {
  const box = $('try-inputs');
  metadata = null;
  if (!model) { box.replaceChildren(); return; }
  box.replaceChildren(el('p', { text: 'Reading the model’s inputs…' }));
  try {
    const res = await fetch(`v2/models/${encodeURIComponent(model)}`);
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    if ($('try-model').value !== model) return;
    metadata = body;
    box.replaceChildren(...body.inputs.map(inputFields));
  } catch (err) {
    box.replaceChildren(el('p', { class: 'error', text: `Cannot read ${model}’s inputs: ${err.message}` }));
  }
}

function inputFields(input, i) {
  const shape = input.shape.map((d) => (d < 0 ? 1 : d));
  const n = shape.reduce((a, b) => a * b, 1);
  const id = `in-${i}`;
  const fields = [el('legend', { text: `${input.name} — ${input.datatype} [${input.shape.join(', ')}]` }),
    el('div', { class: 'field' }, el('label', { for: `${id}-shape`, text: 'Shape' }),
      el('input', { id: `${id}-shape`, name: `${input.name}.shape`, value: shape.join(', '), size: 14, 'aria-describedby': `${id}-hint` }))];
  if (input.datatype === 'BYTES') {
    fields.push(el('div', { class: 'field' }, el('label', { for: `${id}-file`, text: 'File (sent as its bytes, base64)' }),
      el('input', { id: `${id}-file`, name: `${input.name}.file`, type: 'file' })));
  }
  const example = input.datatype === 'BYTES' ? '' : input.datatype === 'BOOL' ? Array(Math.min(n, 4096)).fill('false').join(', ') : Array(Math.min(n, 4096)).fill('0').join(', ');
  fields.push(el('label', { for: `${id}-data`, text: input.datatype === 'BYTES' ? 'Or text, one element per line' : 'Values, row-major, separated by commas or spaces' }),
    el('textarea', { id: `${id}-data`, name: `${input.name}.data`, spellcheck: 'false' }, example),
    el('p', { id: `${id}-hint`, class: 'hint', text: '-1 dimensions (any size) start at 1.' }));
  return el('fieldset', { 'data-input': input.name, 'data-datatype': input.datatype }, ...fields);
}

const toBase64 = (bytes) => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
};

async function readInput(fs) {
  const name = fs.dataset.input, datatype = fs.dataset.datatype;
  const shape = fs.querySelector('[name$=".shape"]').value.split(/[\s,]+/).filter(Boolean).map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${name}: the shape must be whole numbers`);
  const file = fs.querySelector('input[type=file]')?.files?.[0];
  const text = fs.querySelector('textarea').value;
  let data;
  if (datatype === 'BYTES') data = file ? [toBase64(new Uint8Array(await file.arrayBuffer()))] : text.split('\n');
  else if (datatype === 'BOOL') data = text.split(/[\s,]+/).filter(Boolean).map((v) => v === 'true' || v === '1');
  else data = text.split(/[\s,[\]]+/).filter(Boolean).map(Number);
  if (datatype !== 'BYTES' && data.some((v) => typeof v === 'number' && Number.isNaN(v))) throw new Error(`${name}: not every value is a number`);
  return { tensor: { name, datatype, shape, data }, file };
}

$('try-model').addEventListener('change', (e) => showInputs(e.target.value));
$('try-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const model = $('try-model').value;
  const out = $('try-result');
  if (!metadata || !model) return;
  const send = $('try-send');
  send.disabled = true;
  out.replaceChildren(el('p', { text: 'Running…' }));
  try {
    const read = await Promise.all([...$('try-inputs').querySelectorAll('fieldset')].map(readInput));
    const started = performance.now();
    const res = await fetch(`v2/models/${encodeURIComponent(model)}/infer`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs: read.map((r) => r.tensor) }),
    });
    const body = await res.json();
    const took = performance.now() - started;
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    const image = read.find((r) => r.file && /^image\//.test(r.file.type))?.file;
    out.replaceChildren(el('p', { id: 'try-took', text: `Answered in ${took.toFixed(0)} ms` }), ...(await showAnswer(body, image)));
  } catch (err) {
    out.replaceChildren(el('p', { class: 'error', role: 'alert', text: `Failed: ${err.message}` }));
  } finally {
    send.disabled = false;
  }
});

/** Text lines and boxes (an OCR answer) drawn on the uploaded picture; every output as JSON. */
async function showAnswer(body, image) {
  const parts = [];
  const text = body.outputs.find((o) => o.name === 'text' && o.datatype === 'BYTES');
  const boxes = body.outputs.find((o) => o.name === 'boxes' && o.shape.length === 2 && o.shape[1] === 4);
  if (image && boxes) {
    const url = URL.createObjectURL(image);
    const img = await new Promise((resolve, reject) => { const i = new Image(); i.onload = () => resolve(i); i.onerror = () => reject(new Error('the browser cannot show this image')); i.src = url; });
    const w = img.naturalWidth, h = img.naturalHeight;
    const lines = text ? text.data : [];
    const svg = el('svg:svg', { id: 'ocr-picture', viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': `the picture with ${boxes.shape[0]} text boxes` },
      el('svg:image', { href: url, width: w, height: h }));
    for (let i = 0; i < boxes.shape[0]; i++) {
      const [x0, y0, x1, y1] = boxes.data.slice(i * 4, i * 4 + 4);
      svg.append(el('svg:rect', { x: x0, y: y0, width: x1 - x0, height: y1 - y0, 'data-line': i }, el('svg:title', { text: lines[i] ?? '' })));
    }
    parts.push(el('div', { class: 'ocr' }, svg, el('div', {}, el('h3', { text: 'Text read' }), el('ol', { id: 'ocr-text' }, ...lines.map((l) => el('li', { text: l }))))));
  }
  const shown = body.outputs.map((o) => ({ ...o, data: o.data.length > 256 ? [...o.data.slice(0, 256), `… ${o.data.length - 256} more`] : o.data }));
  parts.push(el('details', { open: !(image && boxes) }, el('summary', { text: 'Answer (JSON)' }), el('pre', { id: 'try-json', text: JSON.stringify({ ...body, outputs: shown }, null, 1) })));
  return parts;
}

poll();
