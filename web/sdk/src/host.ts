// The defaults for what an app may inject: the host's timers, Math.random.
//
// The SDK's core is typed against ECMAScript alone (no DOM, no Node), so the
// host's timer functions, which every engine it runs on has, are looked up
// on globalThis here and nowhere else.

import type { Clock, Random } from './types.js';

interface HostTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export function hostClock(): Clock {
  const host = globalThis as unknown as HostTimers;
  return {
    now: () => Date.now(),
    setTimeout: (callback, ms) => host.setTimeout(callback, ms),
    clearTimeout: (handle) => host.clearTimeout(handle),
  };
}

export const hostRandom: Random = () => Math.random();
