// Jobs tab: recent jobs from the audit log (everyone's for the top role, one's own otherwise):
// when, who, from where, what, the decision, the outcome and how long it took.
import { call } from './api.js';
import { $, cell, fill, h, plain, when } from './dom.js';

let ui;

export function setup(context) {
  ui = context;
  $('#j-refresh').addEventListener('click', load);
}

export function shown() {
  load();
}

export async function load() {
  try {
    const { entries, scope } = await call('/api/jobs', { query: { limit: 100 } });
    $('#j-scope').textContent = scope === 'everyone' ? 'Everyone’s jobs (audit log).' : `Jobs of ${scope}.`;
    fill($('#j-table tbody'), entries.map(row), 'No jobs yet.');
  } catch (error) {
    ui.say(error.message, true);
  }
}

function row(e) {
  return h('tr', {},
    cell('When', when(e.at * 1000)),
    cell('Who', e.actor),
    cell('From', e.origin + (e.channel ? ` (${e.channel})` : '')),
    cell('Command', h('code', { text: e.command })),
    cell('Decision', e.decision),
    cell('Outcome', plain(e.outcome)),
    cell('Took', e.duration === null || e.duration === undefined ? '' : `${e.duration.toFixed(1)} s`),
  );
}
