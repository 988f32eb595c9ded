// Containers tab: every host's containers, filtered and sorted here; Start, Stop, Restart, Remove
// through /api/containers/{id}/... with ?host=, so the policy decides as for any other client.
import { call } from './api.js';
import { $, h, plain } from './dom.js';
import { fleet, listen, refresh, watch } from './fleet.js';
import * as logs from './logs.js';

const LIVE = new Set(['running', 'restarting', 'paused']);
const rows = new Map(); // host/id -> { tr, sig, asig }
const byKey = new Map(); // host/id -> the container as last listed
let ui;
let sortKey = 'name';
let sortDir = 1;
let busy = new Set(); // host/id of containers with an action under way

export function health(c) {
  const found = /\((healthy|unhealthy|health: starting)\)/.exec(c.statusText || '');
  return found ? found[1].replace('health: ', '') : '';
}

const collator = new Intl.Collator(undefined, { numeric: true }); // one for every comparison: making one is slow
const key = (c) => `${c.host}/${c.id}`;
const text = (c, column) => (column === 'health' ? health(c) : column === 'ports' ? c.ports.join(', ') : String(c[column] ?? ''));

export function setup(context) {
  ui = context;
  listen((data, error) => {
    if (error) ui.say(error.message, true);
    render();
  });
  $('#c-table .body').addEventListener('click', clicked);
  $('#c-filter').addEventListener('input', render);
  $('#c-state').addEventListener('change', render);
  for (const button of document.querySelectorAll('#c-table [role=columnheader] button')) {
    button.addEventListener('click', () => {
      sortDir = sortKey === button.dataset.sort ? -sortDir : 1;
      sortKey = button.dataset.sort;
      render();
    });
  }
}

export function shown() {
  watch(true);
}

export function hidden() {
  watch(false);
}

function visible() {
  const words = $('#c-filter').value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const state = $('#c-state').value;
  const list = fleet.containers.filter((c) => {
    if (state && c.status !== state) return false;
    const hay = `${c.host} ${c.name} ${c.image} ${c.status} ${c.statusText} ${c.ports.join(' ')} ${c.id.slice(0, 12)}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
  return list.sort((a, b) => sortDir * collator.compare(text(a, sortKey), text(b, sortKey)) ||
    collator.compare(a.name, b.name));
}

export function render() {
  const list = visible();
  const tbody = $('#c-table .body');
  const seen = new Set();
  const wanted = list.map((c) => {
    seen.add(key(c));
    return row(c);
  });
  for (const [k, entry] of rows) {
    if (!seen.has(k)) {
      entry.tr.remove();
      rows.delete(k);
      byKey.delete(k);
    }
  }
  // Rows are moved only when the order changed: a moved row would lose a keyboard user's focus.
  const order = [...tbody.children];
  if (order.length !== wanted.length || wanted.some((tr, i) => order[i] !== tr)) {
    const frag = document.createDocumentFragment();
    frag.append(...wanted);
    tbody.replaceChildren(frag);
  }
  for (const th of document.querySelectorAll('#c-table [role=columnheader]')) {
    const by = th.querySelector('button')?.dataset.sort;
    if (by === sortKey) th.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
    else th.removeAttribute('aria-sort');
  }
  const total = fleet.containers.length;
  $('#c-count').textContent = list.length === total ? `${total} containers` : `${list.length} of ${total} containers`;
  const notes = [...fleet.silent.map((s) => `No answer from ${plain(s)}.`), ...fleet.down.map((d) => `Down: ${plain(d)}.`)];
  $('#c-note').textContent = notes.join(' ') + (fleet.at ? ` As of ${new Date(fleet.at).toLocaleTimeString()}.` : '');
}

// One row made by hand, then cloned for every container: cloning is several times faster than building.
const LABELS = ['Host', 'Name', 'State', 'Health', 'Image', 'Ports', 'Status', 'Actions'];
const CLASSES = { Actions: 'actions' };
const BLANK = h('div', { role: 'row', class: 'row' },
  ...LABELS.map((label) => h('div', { role: 'cell', 'data-label': label, class: CLASSES[label] })));
const BUTTON = h('button', { type: 'button' });

function row(c) {
  const k = key(c);
  byKey.set(k, c);
  const sig = JSON.stringify([c.name, c.status, c.statusText, c.image, c.ports, busy.has(k)]);
  const entry = rows.get(k);
  if (entry && entry.sig === sig) return entry.tr;
  const tr = entry?.tr || BLANK.cloneNode(true);
  tr.dataset.key = k;
  const focused = tr.contains(document.activeElement) ? document.activeElement.dataset.action : null;
  const [host, name, state, healthCell, image, ports, status, actions] = tr.children;
  host.textContent = c.host;
  name.textContent = c.name;
  state.replaceChildren(h('span', { class: `state ${c.status}`, text: c.status }));
  const healthy = health(c);
  healthCell.replaceChildren(healthy ? h('span', { class: `health ${healthy}`, text: healthy }) : '');
  image.textContent = c.image;
  ports.textContent = c.ports.join(', ');
  status.textContent = c.statusText || '';
  // The buttons are kept while what they offer is the same: the status text changes every poll
  // ("Up 3 seconds"), and a button replaced under the pointer would swallow the click.
  const asig = JSON.stringify([c.name, c.host, LIVE.has(c.status), busy.has(k)]);
  if (entry?.asig !== asig) actions.replaceChildren(...buttons(c, busy.has(k)));
  if (focused) (tr.querySelector(`[data-action=${focused}]`) || tr.querySelector('button'))?.focus();
  rows.set(k, { tr, sig, asig });
  return tr;
}

function buttons(c, working) {
  const verbs = LIVE.has(c.status) ? ['stop', 'restart'] : ['start'];
  return [...verbs, 'logs', 'remove'].map((verb) => {
    const label = verb[0].toUpperCase() + verb.slice(1);
    const button = BUTTON.cloneNode();
    button.dataset.action = verb;
    button.textContent = label;
    button.setAttribute('aria-label', `${label} ${c.name} on ${c.host}`);
    if (verb === 'remove') button.className = 'danger';
    button.disabled = working;
    return button;
  });
}

// One listener for every button in the table: the row says which container, the button what to do.
function clicked(event) {
  const button = event.target.closest('button[data-action]');
  const c = button && byKey.get(button.closest('[role=row]').dataset.key);
  if (c) act(c, button.dataset.action);
}

const DONE = { start: 'Started', stop: 'Stopped', restart: 'Restarted' };

async function act(c, verb) {
  if (verb === 'logs') {
    ui.show('logs');
    logs.follow(c);
    return;
  }
  if (verb === 'remove') {
    const asked = `Remove container ${c.name} on ${c.host}? It is stopped first if it runs. This cannot be undone.`;
    if (!(await ui.confirmDialog(asked, 'Remove'))) return;
  }
  const k = key(c);
  busy.add(k);
  render();
  ui.say(`${verb[0].toUpperCase() + verb.slice(1)} ${c.name} on ${c.host}…`);
  const path = `/api/containers/${encodeURIComponent(c.name)}`; // by name: the audit log reads as a person typed it
  try {
    if (verb === 'remove') {
      await call(path, { method: 'DELETE', host: c.host });
      fleet.containers = fleet.containers.filter((x) => key(x) !== k);
      ui.say(`Removed ${c.name} on ${c.host}.`);
    } else {
      const now = await call(`${path}/${verb}`, { method: 'POST', host: c.host });
      Object.assign(c, { status: now.status, statusText: now.statusText ?? c.statusText });
      ui.say(`${DONE[verb]} ${c.name} on ${c.host}: ${now.statusText || now.status}.`);
    }
  } catch (error) {
    ui.say(error.message, true);
  } finally {
    busy.delete(k);
    render();
  }
  refresh(true);
}
