// Logs tab: a live tail over the API's Server-Sent Events (GET /api/containers/{id}/logs), read with
// fetch so a refusal shows the policy's own words; pause and resume, search within the tail, download.
import { ApiError, answer, url } from './api.js';
import { $, h } from './dom.js';
import { fleet, listen, refresh } from './fleet.js';

const collator = new Intl.Collator(undefined, { numeric: true });
const KEEP = 5000; // lines kept in the page; older ones drop off the top
let ui;
let lines = [];
let held = []; // lines that arrived while paused
let paused = false;
let stream = null; // { controller, target }
let lastId = '';

export function setup(context) {
  ui = context;
  listen(() => {
    if (!$('#panel-logs').hidden) pickable(); // the list of a thousand names is built only when it is seen
  });
  $('#logs-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const chosen = fleet.containers.find((c) => `${c.host}/${c.id}` === $('#l-container').value);
    if (chosen) follow(chosen);
  });
  $('#l-pause').addEventListener('click', () => pause(!paused));
  $('#l-stop').addEventListener('click', () => stop('Stopped.'));
  $('#l-search').addEventListener('input', draw);
  $('#l-download').addEventListener('click', download);
}

export function shown() {
  if (!fleet.at) refresh();
  pickable();
}

function pickable() {
  const select = $('#l-container');
  const was = select.value || (stream ? `${stream.target.host}/${stream.target.id}` : '');
  const options = fleet.containers
    .slice()
    .sort((a, b) => collator.compare(a.name, b.name))
    .map((c) => h('option', { value: `${c.host}/${c.id}`, text: `${c.name} (${c.host}, ${c.status})` }));
  select.replaceChildren(...options);
  if (was) select.value = was;
}

function state(text, isError = false) {
  $('#l-state').textContent = text;
  $('#l-state').classList.toggle('error', isError);
}

function controls(on) {
  $('#l-pause').disabled = $('#l-stop').disabled = !on;
  $('#l-download').disabled = !lines.length;
}

export function stop(why = '') {
  if (stream) stream.controller.abort();
  stream = null;
  controls(false);
  if (why) state(why);
}

function pause(on) {
  paused = on;
  $('#l-pause').textContent = on ? 'Resume' : 'Pause';
  $('#l-pause').setAttribute('aria-pressed', String(on));
  if (!on && held.length) {
    add(held);
    held = [];
  }
  if (stream) state(on ? `Paused: new lines are kept and shown on Resume.` : following(stream.target));
}

const following = (c) => `Following ${c.name} on ${c.host}.`;

export async function follow(target, resume = false) {
  stop();
  if (!resume) {
    lines = [];
    held = [];
    lastId = '';
    draw();
    pause(false);
  }
  const controller = new AbortController();
  stream = { controller, target };
  $('#l-container').value = `${target.host}/${target.id}`;
  const headers = { Accept: 'text/event-stream' };
  if (lastId) headers['Last-Event-ID'] = lastId;
  const tail = Math.max(1, Math.min(10000, Number($('#l-tail').value) || 100));
  state(`Connecting to ${target.name} on ${target.host}…`);
  controls(true);
  try {
    const where = url(`/api/containers/${encodeURIComponent(target.name)}/logs`, { host: target.host, query: { tail } });
    const resp = await fetch(where, { headers, signal: controller.signal, credentials: 'same-origin' });
    if (!resp.ok) await answer(resp);
    state(following(target));
    await read(resp.body, controller);
  } catch (error) {
    if (controller.signal.aborted) return;
    state(error instanceof ApiError ? error.message : `The stream broke (${error.message}): Follow again to resume.`, true);
  }
  if (stream?.controller === controller) {
    stream = null;
    controls(false);
  }
}

// Server-Sent Events by hand: blocks split by a blank line, `data:` lines joined, `id:` kept for resuming.
async function read(body, controller) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      if (!controller.signal.aborted) state('The stream ended: Follow again to resume.');
      return;
    }
    pending = (pending + value).replace(/\r\n/g, '\n');
    let end;
    const batch = [];
    while ((end = pending.indexOf('\n\n')) >= 0) {
      const block = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const event = { data: [], type: 'message', id: null };
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const at = line.indexOf(':');
        const field = at < 0 ? line : line.slice(0, at);
        const text = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
        if (field === 'data') event.data.push(text);
        else if (field === 'event') event.type = text;
        else if (field === 'id') event.id = text;
      }
      if (event.id) lastId = event.id;
      if (event.type === 'end') {
        add(batch.splice(0));
        state(`The follow ended: ${event.data.join(' ')}`);
        return;
      }
      if (event.data.length) batch.push(event.data.join('\n'));
    }
    if (batch.length) (paused ? held.push(...batch) : add(batch));
  }
}

function add(fresh) {
  if (!fresh.length) return;
  lines.push(...fresh);
  const dropped = Math.max(0, lines.length - KEEP);
  if (dropped) lines.splice(0, dropped);
  const pre = $('#l-lines');
  const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
  if (dropped || $('#l-search').value) draw();
  else {
    pre.append(fresh.join('\n') + '\n');
    $('#l-count').textContent = `${lines.length} lines`;
  }
  if (atBottom) pre.scrollTop = pre.scrollHeight;
  $('#l-download').disabled = false;
}

// With a search: only the lines that contain it, the matches marked; without: every line.
function draw() {
  const pre = $('#l-lines');
  const wanted = $('#l-search').value.toLowerCase();
  if (!wanted) {
    pre.textContent = lines.length ? lines.join('\n') + '\n' : '';
    $('#l-count').textContent = lines.length ? `${lines.length} lines` : '';
    return;
  }
  const frag = document.createDocumentFragment();
  let count = 0;
  for (const line of lines) {
    const at = line.toLowerCase().indexOf(wanted);
    if (at < 0) continue;
    count += 1;
    frag.append(line.slice(0, at), h('mark', { text: line.slice(at, at + wanted.length) }), line.slice(at + wanted.length) + '\n');
  }
  pre.replaceChildren(frag);
  $('#l-count').textContent = `${count} of ${lines.length} lines match`;
}

function download() {
  const name = stream?.target.name || $('#l-container').selectedOptions[0]?.textContent.split(' ')[0] || 'container';
  const link = h('a', { href: URL.createObjectURL(new Blob([lines.join('\n') + '\n'], { type: 'text/plain' })), download: `${name}-logs.txt` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
