// The chat screen: the reconnect banner, the channel list, the open channel
// and the dialogs.
import { useEffect, useState } from 'preact/hooks';
import { Devices, NewDirect, NewGroup } from './dialogs';
import { initials } from './format';
import { useChat } from './hooks';
import type { Chat, Row } from './state';
import { ChannelView } from './timeline';

type DialogName = 'direct' | 'group' | 'devices';

function channelFromHash(): string | null {
  return /^#channel=(\d{1,19})$/.exec(location.hash)?.[1] ?? null;
}

export function ChatScreen({ chat, onEnd }: { chat: Chat; onEnd: () => void }) {
  useChat(chat);
  const [dialog, setDialog] = useState<DialogName | null>(null);
  useEffect(() => {
    const channel = channelFromHash();
    if (channel !== null && chat.channels.has(channel)) chat.open(channel);
  }, [chat]);
  useEffect(() => {
    if (chat.ended) onEnd();
  });
  const row = chat.current === null ? undefined : chat.channels.get(chat.current);
  const close = () => setDialog(null);
  return (
    <div class={row === undefined ? 'chat' : 'chat open'}>
      <div class="banner" role="status">
        {chat.connected ? '' : 'Connection lost. Reconnecting…'}
      </div>
      <Sidebar chat={chat} onDialog={setDialog} />
      <main class="main">
        {row === undefined ? (
          <p class="placeholder">Choose a conversation, or start a new one.</p>
        ) : (
          <ChannelView key={row.id} chat={chat} row={row} />
        )}
      </main>
      {dialog === 'direct' && <NewDirect chat={chat} onClose={close} />}
      {dialog === 'group' && <NewGroup chat={chat} onClose={close} />}
      {dialog === 'devices' && <Devices chat={chat} onClose={close} onEnd={onEnd} />}
    </div>
  );
}

function Sidebar({ chat, onDialog }: { chat: Chat; onDialog: (name: DialogName) => void }) {
  const rows = chat.rows();
  return (
    <aside class="sidebar" aria-label="Conversations">
      <header class="me">
        <span class="me-name" title={`Logged in as ${chat.username}`}>
          {chat.username}
        </span>
        <div class="me-actions">
          {chat.notifications === 'default' && (
            <button class="button" type="button" onClick={() => void chat.enableNotifications()}>
              Notify me
            </button>
          )}
          <button class="button" type="button" onClick={() => onDialog('devices')}>
            Devices
          </button>
          <button class="button" type="button" onClick={() => void chat.logOut()}>
            Log out
          </button>
        </div>
      </header>
      <div class="new-actions">
        <button class="button primary" type="button" onClick={() => onDialog('direct')}>
          New chat
        </button>
        <button class="button" type="button" onClick={() => onDialog('group')}>
          New group
        </button>
      </div>
      <nav aria-label="Channels" class="channels-nav">
        {rows.length === 0 ? (
          <p class="empty">No conversations yet.</p>
        ) : (
          <ul class="channels">
            {rows.map((row) => (
              <li key={row.id}>
                <ChannelItem chat={chat} row={row} />
              </li>
            ))}
          </ul>
        )}
      </nav>
    </aside>
  );
}

function previewText(chat: Chat, row: Row): string {
  const preview = row.preview;
  if (preview === null) return row.kind === 'group' ? `${row.members.length} members` : 'No messages yet';
  const firstLine = preview.body.slice(0, 200).split('\n')[0];
  if (preview.sender === chat.user) return `You: ${firstLine}`;
  return row.kind === 'group' ? `${chat.names.of(preview.sender)}: ${firstLine}` : firstLine;
}

export function Avatar({ chat, row }: { chat: Chat; row: Row }) {
  const peer = chat.peer(row);
  const online = peer !== null && chat.online(peer);
  return (
    <span class="avatar" aria-hidden="true">
      {initials(chat.title(row))}
      {peer !== null && <span class={online ? 'presence online' : 'presence'} />}
    </span>
  );
}

function ChannelItem({ chat, row }: { chat: Chat; row: Row }) {
  const unread = chat.unread(row);
  const peer = chat.peer(row);
  const title = chat.title(row);
  const state = peer === null ? '' : chat.online(peer) ? ', online' : ', offline';
  return (
    <button
      type="button"
      class={unread > 0 ? 'channel-item unread' : 'channel-item'}
      aria-current={chat.current === row.id ? 'true' : undefined}
      aria-label={`${title}${state}${unread > 0 ? `, ${unread} unread` : ''}`}
      data-channel={row.id}
      onClick={() => chat.open(row.id)}
    >
      <Avatar chat={chat} row={row} />
      <span class="channel-name">{title}</span>
      <span class="channel-preview">{previewText(chat, row)}</span>
      {unread > 0 && <span class="badge">{unread > 999 ? '999+' : unread}</span>}
    </button>
  );
}
