// Log in, or register and log in: one form, two modes.
import { useEffect, useRef, useState } from 'preact/hooks';
import { useAction } from './hooks';
import { Chat } from './state';

function defaultDevice(): string {
  const agent = navigator.userAgent;
  const browser = /Firefox\//.test(agent) ? 'Firefox' : /Edg\//.test(agent) ? 'Edge' : /Chrom/.test(agent) ? 'Chromium' : /Safari\//.test(agent) ? 'Safari' : 'Browser';
  const system = /Android/.test(agent) ? 'Android' : /iPhone|iPad/.test(agent) ? 'iOS' : /Mac OS/.test(agent) ? 'macOS' : /Windows/.test(agent) ? 'Windows' : /Linux/.test(agent) ? 'Linux' : '';
  return system === '' ? browser : `${browser} on ${system}`;
}

export function AuthScreen({ onSession }: { onSession: (chat: Chat) => void }) {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [device, setDevice] = useState(defaultDevice);
  const first = useRef<HTMLInputElement>(null);
  const { run, busy, error } = useAction(async () => {
    const name = username.trim().toLowerCase();
    const chat =
      mode === 'login' ? await Chat.logIn(name, password, device) : await Chat.register(name, password, device);
    onSession(chat);
  });
  useEffect(() => first.current?.focus(), [mode]);
  const registering = mode === 'register';
  return (
    <main class="auth">
      <form
        class="auth-card"
        aria-labelledby="auth-title"
        onSubmit={(event) => {
          event.preventDefault();
          void run();
        }}
      >
        <h1 id="auth-title">
          <img src="/icons/icon.svg" alt="" />
          {registering ? 'Create an account' : 'Log in'}
        </h1>
        <div class="field">
          <label for="username">Username</label>
          <input
            id="username"
            ref={first}
            value={username}
            onInput={(event) => setUsername(event.currentTarget.value)}
            autocomplete="username"
            autocapitalize="none"
            spellcheck={false}
            required
            minLength={3}
            maxLength={32}
            pattern="[a-zA-Z0-9_.\-]{3,32}"
            aria-describedby={registering ? 'username-hint' : undefined}
          />
          {registering && (
            <span id="username-hint" class="hint">
              3 to 32 of a–z, 0–9, _ . -
            </span>
          )}
        </div>
        <div class="field">
          <label for="password">Password</label>
          <input
            id="password"
            type="password"
            value={password}
            onInput={(event) => setPassword(event.currentTarget.value)}
            autocomplete={registering ? 'new-password' : 'current-password'}
            required
            minLength={8}
            maxLength={1024}
          />
        </div>
        <div class="field">
          <label for="device">This device's name</label>
          <input
            id="device"
            value={device}
            onInput={(event) => setDevice(event.currentTarget.value)}
            required
            maxLength={64}
          />
        </div>
        {error !== null && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button class="button primary" type="submit" disabled={busy}>
          {registering ? 'Register' : 'Log in'}
        </button>
        <p class="auth-switch">
          {registering ? 'Have an account? ' : 'New here? '}
          <button class="button link" type="button" onClick={() => setMode(registering ? 'login' : 'register')}>
            {registering ? 'Log in' : 'Create an account'}
          </button>
        </p>
      </form>
    </main>
  );
}
