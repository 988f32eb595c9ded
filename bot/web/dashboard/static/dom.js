// Small DOM helpers: every outside string reaches the page as text (textContent), never as HTML.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

export const $ = (selector) => document.querySelector(selector);

export function cell(label, content, className) {
  const td = h('td', { 'data-label': label, class: className });
  td.append(content ?? '');
  return td;
}

export function size(bytes) {
  if (!bytes) return '0 B';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  const i = Math.min(units.length - 1, Math.floor(Math.log(bytes) / Math.log(1000)));
  return `${(bytes / 1000 ** i).toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function ago(ms, now = Date.now()) {
  if (!ms) return '';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

const SHORT = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' };

export function when(ms) {
  return ms ? new Date(ms).toLocaleString(undefined, SHORT) : '';
}

// Job summaries are written for Slack: `code`, *bold* and &amp; escapes back to plain text.
export function plain(text) {
  return String(text ?? '')
    .replace(/`([^`\n]+)`/g, '$1')
    .replace(/(^|\W)\*([^*\n]+)\*(?!\w)/g, '$1$2')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

// Replace a tbody's rows at once (one layout for the whole table).
export function fill(tbody, rows, empty) {
  const frag = document.createDocumentFragment();
  for (const row of rows) frag.append(row);
  if (!rows.length && empty) {
    const cols = tbody.closest('table').tHead.rows[0].cells.length;
    frag.append(h('tr', {}, h('td', { colspan: cols, class: 'muted', text: empty })));
  }
  tbody.replaceChildren(frag);
}
