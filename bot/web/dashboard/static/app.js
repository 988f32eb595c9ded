// The dashboard: sign in once, then five tabs over the same /api/* routes as every other client.
import { answer, call, session, whenSignedOut } from './api.js';
import { $ } from './dom.js';
import * as containers from './containers.js';
import * as hosts from './hosts.js';
import * as images from './images.js';
import * as jobs from './jobs.js';
import * as logs from './logs.js';

const PANELS = { containers, images, logs, jobs, hosts };
const tabs = [...document.querySelectorAll('[role=tab]')];
let current = 'containers';

export function say(text, isError = false) {
  const status = $('#status');
  status.textContent = text;
  status.classList.toggle('error', isError);
}

// A modal question before anything that cannot be undone; resolves true only for the OK button.
export function confirmDialog(text, ok = 'Remove') {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = ok;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

function show(name, focus = false) {
  current = name;
  for (const tab of tabs) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute('aria-controls')}`).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  for (const [key, panel] of Object.entries(PANELS)) (key === name ? panel.shown : panel.hidden)?.();
  history.replaceState(null, '', `#${name}`);
}

function keys(event) {
  const at = tabs.indexOf(event.target);
  const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  show(tabs[(to + tabs.length) % tabs.length].id.slice(4), true);
}

function signedIn(who) {
  Object.assign(session, who);
  $('#who').textContent = `${who.actor} (${who.role})`;
  $('#who').hidden = $('#signout').hidden = $('#app').hidden = false;
  $('#signin').hidden = true;
  const wanted = location.hash.slice(1);
  show(PANELS[wanted] ? wanted : current);
}

function signedOut(message = '') {
  Object.assign(session, { csrf: null, role: null, actor: null });
  for (const panel of Object.values(PANELS)) panel.hidden?.();
  logs.stop();
  $('#who').hidden = $('#signout').hidden = $('#app').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message;
  $('#token').focus();
}

async function signIn(body) {
  const resp = await fetch('/session', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  });
  return answer(resp, '/session');
}

async function start() {
  whenSignedOut(signedOut);
  for (const tab of tabs) {
    tab.addEventListener('click', () => show(tab.id.slice(4)));
    tab.addEventListener('keydown', keys);
  }
  for (const panel of Object.values(PANELS)) panel.setup({ say, confirmDialog, show });
  $('#signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      signedIn(await signIn({ token: $('#token').value }));
      $('#token').value = '';
    } catch (error) {
      $('#signin-error').textContent = error.message;
    }
  });
  $('#signout').addEventListener('click', async () => {
    try {
      await call('/session', { method: 'DELETE' });
      signedOut('Signed out.');
    } catch (error) {
      signedOut(error.message);
    }
  });
  // A one-time link from `dockerverse up`: #signin=CODE, sent once and dropped from the address bar.
  const code = new URLSearchParams(location.hash.slice(1)).get('signin');
  if (code) {
    history.replaceState(null, '', location.pathname);
    try {
      signedIn(await signIn({ code }));
      return;
    } catch (error) {
      signedOut(error.message);
      return;
    }
  }
  try {
    signedIn(await call('/session'));
  } catch (error) {
    signedOut(error.status === 401 ? '' : error.message);
  }
}

start();
