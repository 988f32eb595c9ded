// Images tab: one host's images (repository, tags, size, created); Pull with live progress (the pull is
// a job; its progress and result are read from /api/jobs/{id}); Remove, after a confirmation.
import { call } from './api.js';
import { $, cell, fill, h, plain, size, when } from './dom.js';
import { fleet, listen, refresh } from './fleet.js';

const DONE = new Set(['finished', 'failed', 'stopped', 'canceled']);
let ui;

export function setup(context) {
  ui = context;
  listen(() => hostPicker());
  $('#i-host').addEventListener('change', load);
  $('#pull-form').addEventListener('submit', (event) => {
    event.preventDefault();
    pull($('#pull-image').value.trim());
  });
}

export async function shown() {
  if (!fleet.at) await refresh();
  hostPicker();
  load();
}

const host = () => $('#i-host').value || undefined;

function hostPicker() {
  const select = $('#i-host');
  const was = select.value;
  select.replaceChildren(...fleet.hosts.map((name) => h('option', { value: name, text: name })));
  if (was && fleet.hosts.includes(was)) select.value = was;
  select.closest('label').hidden = fleet.hosts.length < 2;
}

export async function load() {
  const tbody = $('#i-table tbody');
  try {
    const { images } = await call('/api/images', { host: host() });
    images.sort((a, b) => a.name.localeCompare(b.name));
    fill(tbody, images.map(row), 'No images on this host.');
  } catch (error) {
    ui.say(error.message, true);
  }
}

function row(image) {
  const refs = image.name === '<none>' ? [] : image.tags.map((tag) => `${image.name}:${tag}`);
  const label = refs.length ? refs.join(', ') : image.id.slice(7, 19);
  return h('tr', {},
    cell('Repository', image.name),
    cell('Tags', tagList(image.tags)),
    cell('Size', size(image.size)),
    cell('Created', when(image.createdAt)),
    cell('ID', image.id.replace('sha256:', '').slice(0, 12)),
    cell('Actions', h('button', {
      type: 'button', class: 'danger', text: 'Remove', 'aria-label': `Remove ${label}`,
      onclick: () => remove(image, refs),
    }), 'actions'),
  );
}

function tagList(tags) {
  const frag = document.createDocumentFragment();
  for (const tag of tags) frag.append(h('span', { class: 'tag', text: tag }));
  return frag;
}

async function remove(image, refs) {
  const what = refs.length ? refs.join(', ') : `image ${image.id.slice(7, 19)}`;
  if (!(await ui.confirmDialog(`Remove ${what} on ${host() || 'the default host'}? Containers that use it keep running, but it is gone from this host.`))) return;
  try {
    // Each tag of the row goes in turn: Docker deletes the image with its last tag.
    for (const ref of refs.length ? refs : [image.id]) {
      await call(`/api/images/${encodeURIComponent(ref)}`, { method: 'DELETE', host: host() });
    }
    ui.say(`Removed ${what}.`);
  } catch (error) {
    ui.say(error.message, true);
  }
  load();
}

async function pull(image) {
  if (!image) return;
  const button = $('#pull-form button');
  button.disabled = true;
  $('#pull').hidden = false;
  $('#pull-bar').removeAttribute('value');
  const text = $('#pull-text');
  text.textContent = `Pulling ${image}…`;
  try {
    const started = await call('/api/images/pull', { method: 'POST', body: { image }, host: host() });
    for (;;) {
      const job = await call(started.status_url);
      if (job.progress) text.textContent = plain(job.progress);
      if (DONE.has(job.status)) {
        if (job.status === 'finished') {
          $('#pull-bar').value = $('#pull-bar').max = 1;
          text.textContent = plain(job.result?.summary || `Pulled ${image}.`);
          ui.say(text.textContent);
        } else {
          text.textContent = '';
          $('#pull').hidden = true;
          ui.say(plain(job.error || `The pull of ${image} failed.`), true);
        }
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  } catch (error) {
    $('#pull').hidden = true;
    ui.say(error.message, true);
  } finally {
    button.disabled = false;
  }
  load();
}
