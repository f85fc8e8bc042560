// The web client's entry: mounts the app and registers the service worker.
import { render } from 'preact';
import { App } from './app';
import { serviceWorker } from './worker';

const root = document.getElementById('app');
if (root === null) throw new Error('index.html has no #app');
render(<App />, root);
void serviceWorker();
