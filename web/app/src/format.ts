// What the timeline shows, decided without the DOM: day separators, the
// unread divider, runs of one sender, labels for times and days, and when a
// body is long enough to collapse.

/** A message as the timeline holds it (confirmed by the node: it has a seq). */
export interface Shown {
  seq: number;
  sender: string;
  body: string;
  ts: number;
  cid: string;
}

export type Item =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  | { kind: 'message'; key: string; message: Shown; first: boolean };

/** Messages of one sender within this time of each other share one heading. */
const RUN_MS = 5 * 60 * 1000;

function dayKey(ts: number): string {
  const day = new Date(ts);
  return `${day.getFullYear()}-${day.getMonth() + 1}-${day.getDate()}`;
}

export function dayLabel(ts: number, now: number): string {
  if (dayKey(ts) === dayKey(now)) return 'Today';
  if (dayKey(ts) === dayKey(now - 24 * 60 * 60 * 1000)) return 'Yesterday';
  const sameYear = new Date(ts).getFullYear() === new Date(now).getFullYear();
  return new Date(ts).toLocaleDateString(undefined, {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: sameYear ? undefined : 'numeric',
  });
}

export function timeLabel(ts: number): string {
  return new Date(ts).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/**
 * The timeline's rows, in order: a day separator before the first message
 * of each day, the unread divider before `unreadFrom` (the first seq that
 * was unread when the channel was opened; null: none).
 */
export function timelineItems(messages: readonly Shown[], unreadFrom: number | null, now: number): Item[] {
  const items: Item[] = [];
  let previous: Shown | undefined;
  for (const message of messages) {
    const newDay = previous === undefined || dayKey(previous.ts) !== dayKey(message.ts);
    if (newDay) items.push({ kind: 'day', key: `day-${dayKey(message.ts)}`, label: dayLabel(message.ts, now) });
    const divider = unreadFrom !== null && message.seq >= unreadFrom && (previous === undefined || previous.seq < unreadFrom);
    if (divider) items.push({ kind: 'unread', key: 'unread' });
    const first =
      newDay || divider || previous === undefined || previous.sender !== message.sender || message.ts - previous.ts > RUN_MS;
    items.push({ kind: 'message', key: `m-${message.seq}`, message, first });
    previous = message;
  }
  return items;
}

/** Bodies longer than this (in code points or lines) are shown cut, with "show more". */
const COLLAPSE_CHARS = 1500;
const COLLAPSE_LINES = 20;
const SHOWN_CHARS = 600;
const SHOWN_LINES = 8;

/** The start of a long body to show collapsed, or null when the body is short enough to show whole. */
export function collapsed(body: string): string | null {
  if (body.length <= COLLAPSE_CHARS && lineCount(body, COLLAPSE_LINES) <= COLLAPSE_LINES) return null;
  // Cut on a code point, never inside a surrogate pair.
  const points = Array.from(body.slice(0, SHOWN_CHARS * 2)).slice(0, SHOWN_CHARS);
  let cut = points.join('');
  const lines = cut.split('\n');
  if (lines.length > SHOWN_LINES) cut = lines.slice(0, SHOWN_LINES).join('\n');
  return cut === body ? null : cut;
}

function lineCount(text: string, enough: number): number {
  let lines = 1;
  for (let at = text.indexOf('\n'); at !== -1 && lines <= enough; at = text.indexOf('\n', at + 1)) lines++;
  return lines;
}

/** One or two letters for an avatar. */
export function initials(name: string): string {
  return Array.from(name.replace(/^user /, '')).slice(0, 2).join('');
}
