/// <reference lib="webworker" />
// The service worker: starts the app offline, shows notifications for Web
// Push messages, and brings the app forward when one is clicked.
//
// It sits at the site's root (its scope is the whole origin) and is built
// with the list of files of the app's shell (`SHELL`, by web/build.mjs):
// every build with new bundles is a new sw.js, which the browser installs
// and which drops the caches of the builds before it.
import { pushNotice, readPush } from './notices';

declare const SHELL: string[];
declare const SHELL_VERSION: string;
declare const self: ServiceWorkerGlobalScope;

const CACHE = `chat-shell-${SHELL_VERSION}`;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/assets/')) {
    // Named by their content: a cached copy is never stale.
    event.respondWith(caches.match(request).then((cached) => cached ?? fetch(request)));
  } else if (request.mode === 'navigate') {
    // The page itself comes from the network while there is one, so a new
    // build shows at the next load; offline, the cached shell starts.
    event.respondWith(fetch(request).catch(() => caches.match('/').then((cached) => cached ?? Response.error())));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(fetch(request).catch(() => caches.match(request).then((cached) => cached ?? Response.error())));
  }
});

self.addEventListener('push', (event) => {
  const push = readPush(event.data?.text() ?? '');
  event.waitUntil(
    (async () => {
      if ('setAppBadge' in self.navigator && push.unread !== null) {
        await (push.unread > 0 ? self.navigator.setAppBadge(push.unread) : self.navigator.clearAppBadge());
      }
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      // A visible window has the message already, over its own connection.
      if (windows.some((client) => client.visibilityState === 'visible')) return;
      if (push.channel === null) return;
      const notice = pushNotice(push);
      await self.registration.showNotification(notice.title, notice.options);
    })(),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const channel: unknown = event.notification.data?.channel;
  const target = typeof channel === 'string' ? `/#channel=${channel}` : '/';
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows[0];
      if (open === undefined) {
        await self.clients.openWindow(target);
        return;
      }
      await open.focus();
      open.postMessage({ type: 'open', channel });
    })(),
  );
});
