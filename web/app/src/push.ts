// Web Push: subscribes this browser with the node's VAPID public key and
// hands the subscription to the node as this device's push target.
//
// Inert unless the node advertises a key: it answers `GET /push/vapid-public-key`
// with the key (base64url of the uncompressed P-256 point, RFC 8292) as
// text/plain, and 404 when it has none (which is also what a node without
// the push provider answers for any unknown path).

import { serviceWorker } from './worker';

export const VAPID_KEY_PATH = '/push/vapid-public-key';

/** A `push` request's fields for kind `webpush` (PROTOCOL.md v1.1). */
export interface WebPushTarget {
  kind: 'webpush';
  endpoint: string;
  p256dh: string;
  auth: string;
}

export type PushOutcome = 'subscribed' | 'no-key' | 'no-worker' | 'denied';

export async function vapidKey(): Promise<string | null> {
  try {
    const answer = await fetch(VAPID_KEY_PATH, { cache: 'no-cache' });
    if (!answer.ok) return null;
    const key = (await answer.text()).trim();
    return /^[A-Za-z0-9_-]{80,100}$/.test(key) ? key : null;
  } catch {
    return null;
  }
}

function fromBase64Url(text: string): Uint8Array {
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function sameKey(subscription: PushSubscription, key: Uint8Array): boolean {
  const current = subscription.options.applicationServerKey;
  if (current === null) return false;
  const bytes = new Uint8Array(current);
  return bytes.length === key.length && bytes.every((byte, i) => byte === key[i]);
}

/**
 * Asks for notification permission (call it from a click: browsers ask only
 * then) and, when the node has a VAPID key, subscribes and registers the
 * target with `register`. A subscription made with another key (the
 * operator rotated it) is replaced.
 */
export async function enablePush(register: (target: WebPushTarget) => Promise<unknown>): Promise<PushOutcome> {
  if ((await Notification.requestPermission()) !== 'granted') return 'denied';
  const key = await vapidKey();
  if (key === null) return 'no-key';
  const worker = await serviceWorker();
  if (worker === null || !('pushManager' in worker)) return 'no-worker';
  await navigator.serviceWorker.ready;
  const applicationServerKey = fromBase64Url(key);
  let subscription = await worker.pushManager.getSubscription();
  if (subscription !== null && !sameKey(subscription, applicationServerKey)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  subscription ??= await worker.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey });
  const { endpoint, keys } = subscription.toJSON();
  if (endpoint === undefined || keys?.p256dh === undefined || keys.auth === undefined) return 'no-worker';
  await register({ kind: 'webpush', endpoint, p256dh: keys.p256dh, auth: keys.auth });
  return 'subscribed';
}
