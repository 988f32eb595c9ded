// Hosts tab: each Docker host with its workers, Docker version, containers by state and last
// heartbeat (the `hosts` command, run on the workers); hosts whose workers stopped beating show as down.
import { call } from './api.js';
import { $, ago, cell, fill, h } from './dom.js';

let ui;

export function setup(context) {
  ui = context;
  $('#h-refresh').addEventListener('click', load);
}

export function shown() {
  load();
}

export async function load() {
  try {
    const { hosts } = await call('/api/hosts');
    fill($('#h-table tbody'), hosts.map(row), 'No Docker host is served.');
  } catch (error) {
    ui.say(error.message, true);
  }
}

function counts(map) {
  return Object.entries(map || {}).map(([state, n]) => `${n} ${state}`).join(', ') || 'none';
}

function row(host) {
  if (host.down) {
    return h('tr', { class: 'down' },
      cell('Host', host.name), cell('State', h('strong', { text: 'DOWN' })), cell('Workers', 'none beating'),
      cell('Docker', ''), cell('Containers', ''), cell('Last heartbeat', `last seen ${ago(host.last_seen * 1000)}`));
  }
  const lanes = ['quick', 'stream'].map((lane) => `${host.workers.filter((w) => w.lanes.includes(lane)).length} ${lane}`);
  const beat = host.last_heartbeat ? Date.parse(host.last_heartbeat.endsWith('Z') ? host.last_heartbeat : `${host.last_heartbeat}Z`) : 0;
  return h('tr', {},
    cell('Host', host.name),
    cell('State', host.answered ? 'up' : 'up, no answer'),
    cell('Workers', lanes.join(', ')),
    cell('Docker', host.docker || ''),
    cell('Containers', counts(host.containers)),
    cell('Last heartbeat', beat ? ago(beat) : ''),
  );
}
