// Registers the service worker, under Trusted Types.
//
// The page's CSP requires Trusted Types for scripts, and a service worker's
// URL is a script URL: `register('/sw.js')` with a plain string throws. The
// one policy the app makes, `chat-worker`, turns exactly '/sw.js' into a
// TrustedScriptURL and refuses anything else; the node's CSP allows that
// one policy name and no other. A CSP that allows none makes creating it
// throw: the app then runs
// without a worker (no offline start, no Web Push; notifications while the
// tab is hidden fall back to the page's own).

export const WORKER_POLICY = 'chat-worker';
const WORKER_URL = '/sw.js';

interface ScriptUrlPolicy {
  createScriptURL(url: string): unknown;
}

declare global {
  interface Window {
    trustedTypes?: {
      createPolicy(name: string, rules: { createScriptURL(url: string): string }): ScriptUrlPolicy;
    };
  }
}

function workerUrl(): string {
  const factory = window.trustedTypes;
  if (factory === undefined) return WORKER_URL;
  const policy = factory.createPolicy(WORKER_POLICY, {
    createScriptURL(url) {
      if (url !== WORKER_URL) throw new TypeError(`${WORKER_POLICY} allows ${WORKER_URL} only, not ${url}`);
      return url;
    },
  });
  // register() takes a TrustedScriptURL where the DOM types say string.
  return policy.createScriptURL(WORKER_URL) as string;
}

let registration: Promise<ServiceWorkerRegistration | null> | undefined;

/** The app's worker registration, or null where there can be none. Registers once. */
export function serviceWorker(): Promise<ServiceWorkerRegistration | null> {
  registration ??= (async () => {
    if (!('serviceWorker' in navigator)) return null;
    try {
      return await navigator.serviceWorker.register(workerUrl(), { scope: '/' });
    } catch (error) {
      console.warn('chat: no service worker:', error);
      return null;
    }
  })();
  return registration;
}
