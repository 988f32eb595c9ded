// Every host's containers, polled while a tab shows them and the page is visible: light polling of
// GET /api/fleet, which asks the workers at most every few seconds however many pages poll.
import { call } from './api.js';

export const EVERY = 3000;
export const fleet = { containers: [], hosts: [], silent: [], down: [], at: 0 };
const listeners = new Set();
let watchers = 0;
let timer = null;
let inflight = null;
// After an action the page asks afresh; a poll answered from before it would flip the row back for a
// moment (and swap the button under the pointer), so such answers are dropped until the fresh one lands.
let epoch = 0;
let freshPending = 0;

export function listen(callback) {
  listeners.add(callback);
}

export function refresh(fresh = false) {
  if (inflight && !fresh) return inflight;
  const mine = fresh ? ++epoch : epoch;
  if (fresh) freshPending += 1;
  const asked = (async () => {
    try {
      const answer = await call('/api/fleet', { query: fresh ? { fresh: 1 } : {} });
      if (fresh ? mine === epoch : mine === epoch && !freshPending) {
        Object.assign(fleet, answer);
        for (const callback of listeners) callback(fleet, null);
      }
    } catch (error) {
      for (const callback of listeners) callback(fleet, error);
    } finally {
      if (fresh) freshPending -= 1;
      if (inflight === asked) inflight = null;
    }
  })();
  inflight = asked;
  return asked;
}

async function tick() {
  timer = null;
  if (!watchers) return;
  if (document.visibilityState === 'visible') await refresh();
  if (watchers && !timer) timer = setTimeout(tick, EVERY);
}

export function watch(on) {
  watchers = Math.max(0, watchers + (on ? 1 : -1));
  if (watchers && !timer) tick();
  if (!watchers && timer) {
    clearTimeout(timer);
    timer = null;
  }
}

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && watchers && !timer) tick();
});
