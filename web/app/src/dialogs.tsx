// Modal dialogs (the platform's <dialog>: it traps focus, closes on Escape
// and gives focus back to the button that opened it).
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { describe, useAction } from './hooks';
import type { Chat } from './state';

interface DeviceRow {
  device: string;
  name: string;
  last: number;
}

function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    element?.showModal();
    return () => element?.close();
  }, []);
  return (
    <dialog ref={dialog} aria-labelledby="dialog-title" onClose={onClose}>
      <h2 id="dialog-title">{title}</h2>
      {children}
    </dialog>
  );
}

function Actions({ busy, submit, onClose }: { busy: boolean; submit: string; onClose: () => void }) {
  return (
    <div class="dialog-actions">
      <button class="button" type="button" onClick={onClose}>
        Cancel
      </button>
      <button class="button primary" type="submit" disabled={busy}>
        {submit}
      </button>
    </div>
  );
}

function Failure({ error }: { error: string | null }) {
  return error === null ? null : (
    <p class="error" role="alert">
      {error}
    </p>
  );
}

export function NewDirect({ chat, onClose }: { chat: Chat; onClose: () => void }) {
  const [username, setUsername] = useState('');
  const { run, busy, error } = useAction(async () => {
    await chat.startDirect(username.trim().toLowerCase());
    onClose();
  });
  return (
    <Dialog title="New chat" onClose={onClose}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void run();
        }}
      >
        <div class="field">
          <label for="direct-username">Username</label>
          <input
            id="direct-username"
            value={username}
            onInput={(event) => setUsername(event.currentTarget.value)}
            autocapitalize="none"
            spellcheck={false}
            required
            autofocus
          />
        </div>
        <Failure error={error} />
        <Actions busy={busy} submit="Start chat" onClose={onClose} />
      </form>
    </Dialog>
  );
}

export function NewGroup({ chat, onClose }: { chat: Chat; onClose: () => void }) {
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const { run, busy, error } = useAction(async () => {
    const usernames = members
      .split(/[\s,]+/)
      .map((username) => username.trim().toLowerCase())
      .filter((username) => username !== '' && username !== chat.username);
    await chat.createGroup(name.trim(), [...new Set(usernames)]);
    onClose();
  });
  return (
    <Dialog title="New group" onClose={onClose}>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void run();
        }}
      >
        <div class="field">
          <label for="group-name">Group name</label>
          <input
            id="group-name"
            value={name}
            onInput={(event) => setName(event.currentTarget.value)}
            required
            maxLength={128}
            autofocus
          />
        </div>
        <div class="field">
          <label for="group-members">Members</label>
          <input
            id="group-members"
            value={members}
            onInput={(event) => setMembers(event.currentTarget.value)}
            aria-describedby="group-members-hint"
            autocapitalize="none"
            spellcheck={false}
          />
          <span id="group-members-hint" class="hint">
            Usernames, separated by spaces or commas
          </span>
        </div>
        <Failure error={error} />
        <Actions busy={busy} submit="Create group" onClose={onClose} />
      </form>
    </Dialog>
  );
}

export function Devices({ chat, onClose, onEnd }: { chat: Chat; onClose: () => void; onEnd: () => void }) {
  const [devices, setDevices] = useState<DeviceRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () =>
    chat.devices().then(setDevices, (failure: unknown) => setError(describe(failure)));
  useEffect(() => void load(), []);
  const revoke = async (device: string) => {
    try {
      await chat.revoke(device);
      await load();
    } catch (failure) {
      setError(describe(failure));
    }
  };
  return (
    <Dialog title="Your devices" onClose={onClose}>
      <p class="hint">Revoking a device logs it out everywhere it is open.</p>
      {devices === null ? (
        <p role="status">Loading…</p>
      ) : (
        <ul class="devices" aria-label="Devices">
          {devices.map((device) => (
            <li key={device.device}>
              <div>
                <div>
                  {device.name}
                  {device.device === chat.device ? ' (this device)' : ''}
                </div>
                <div class="device-last">
                  {device.last > 0 ? `Last active ${new Date(device.last).toLocaleString()}` : 'Never active'}
                </div>
              </div>
              {device.device === chat.device ? (
                <button
                  class="button danger"
                  type="button"
                  onClick={() => {
                    void chat.logOut().finally(onEnd);
                  }}
                >
                  Log out
                </button>
              ) : (
                <button
                  class="button danger"
                  type="button"
                  aria-label={`Revoke ${device.name}`}
                  onClick={() => void revoke(device.device)}
                >
                  Revoke
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      <Failure error={error} />
      <div class="dialog-actions">
        <button class="button" type="button" onClick={onClose}>
          Close
        </button>
      </div>
    </Dialog>
  );
}
