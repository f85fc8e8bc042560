// The open channel: its header, the timeline (a `log` region), the typing
// line and the composer.
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { RefObject } from 'preact';
import { Avatar } from './chat';
import { Composer } from './composer';
import { collapsed, timeLabel, timelineItems, type Shown } from './format';
import type { Chat, Pending, Row, Timeline as TimelineState } from './state';

/** Pixels from the end that still count as "at the latest message". */
const AT_BOTTOM_PX = 40;
/** Pixels from the top at which older history is fetched. */
const LOAD_OLDER_PX = 400;

export function ChannelView({ chat, row }: { chat: Chat; row: Row }) {
  const composer = useRef<HTMLTextAreaElement>(null);
  const timeline = chat.timelines.get(row.id);
  const title = chat.title(row);
  return (
    <>
      <header class="channel-header">
        <button class="button back" type="button" onClick={() => chat.open(null)} aria-label="Back to conversations">
          ←
        </button>
        <Avatar chat={chat} row={row} />
        <div>
          <h2 id="channel-title">{title}</h2>
          <div class="subtitle">
            <Subtitle chat={chat} row={row} />
          </div>
        </div>
      </header>
      {timeline !== undefined && <Timeline chat={chat} row={row} timeline={timeline} composer={composer} />}
      <p class="typing" role="status">
        {typingLine(chat.typing(row.id))}
      </p>
      <Composer key={row.id} chat={chat} row={row} input={composer} />
    </>
  );
}

function Subtitle({ chat, row }: { chat: Chat; row: Row }) {
  const peer = chat.peer(row);
  if (peer !== null) return <>{chat.online(peer) ? 'Online' : 'Offline'}</>;
  const online = row.members.filter((member) => member !== chat.user && chat.online(member)).length;
  const names = row.members.map((member) => (member === chat.user ? 'you' : chat.names.of(member)));
  return (
    <>
      {row.members.length === 1 ? '1 member' : `${row.members.length} members`}, {online} online: {names.join(', ')}
    </>
  );
}

function typingLine(typists: string[]): string {
  if (typists.length === 0) return '';
  if (typists.length === 1) return `${typists[0]} is typing…`;
  if (typists.length === 2) return `${typists[0]} and ${typists[1]} are typing…`;
  return 'Several people are typing…';
}

function Timeline({
  chat,
  row,
  timeline,
  composer,
}: {
  chat: Chat;
  row: Row;
  timeline: TimelineState;
  composer: RefObject<HTMLTextAreaElement>;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  // Read before each render's DOM update (in the layout effect below):
  // whether the view sat at the end, and the first seq and height it had.
  const stick = useRef(true);
  const placed = useRef(false);
  const before = useRef<{ first: number | undefined; height: number }>({ first: undefined, height: 0 });
  const [atBottom, setAtBottom] = useState(true);
  const items = timelineItems(timeline.messages, timeline.unreadFrom, Date.now());
  const pending = chat.pending(row.id);
  const lastMine = [...timeline.messages].reverse().find((message) => message.sender === chat.user);

  const observe = () => {
    const view = scroller.current;
    if (view === null) return;
    const bottom = view.scrollHeight - view.scrollTop - view.clientHeight <= AT_BOTTOM_PX;
    stick.current = bottom;
    setAtBottom(bottom);
    chat.setAtBottom(bottom);
    if (view.scrollTop < LOAD_OLDER_PX && timeline.older && !timeline.loading) void chat.loadOlder(row.id);
  };

  useLayoutEffect(() => {
    const view = scroller.current;
    if (view === null) return;
    const first = timeline.messages[0]?.seq;
    if (!placed.current && first !== undefined) {
      // First page in: show the unread divider near the top, else the end.
      placed.current = true;
      const divider = view.querySelector('.unread-divider');
      if (divider !== null) divider.scrollIntoView({ block: 'start' });
      else view.scrollTop = view.scrollHeight;
    } else if (before.current.first !== undefined && first !== undefined && first < before.current.first) {
      // Older messages went in above: keep what was on screen in place.
      view.scrollTop += view.scrollHeight - before.current.height;
    } else if (stick.current) {
      view.scrollTop = view.scrollHeight;
    }
    before.current = { first, height: view.scrollHeight };
    observe();
  });

  const jump = () => {
    const view = scroller.current;
    if (view !== null) view.scrollTop = view.scrollHeight;
    composer.current?.focus();
  };

  return (
    <>
      <div
        class="timeline"
        ref={scroller}
        onScroll={observe}
        role="log"
        aria-labelledby="channel-title"
        aria-busy={timeline.loading}
        tabIndex={0}
      >
        {timeline.loading && <p class="paging">Loading older messages…</p>}
        {!timeline.older && timeline.messages.length > 0 && <p class="paging">The beginning of the conversation.</p>}
        <ol>
          {items.map((item) => {
            if (item.kind === 'day') {
              return (
                <li key={item.key} class="day" role="separator">
                  {item.label}
                </li>
              );
            }
            if (item.kind === 'unread') {
              return (
                <li key={item.key} class="unread-divider" role="separator">
                  New messages
                </li>
              );
            }
            return (
              <MessageItem
                key={item.key}
                chat={chat}
                message={item.message}
                first={item.first}
                seen={item.message === lastMine ? chat.seenBy(row.id, item.message.seq) : null}
              />
            );
          })}
          {pending.map((entry) => (
            <PendingItem key={entry.cid} chat={chat} entry={entry} />
          ))}
        </ol>
      </div>
      {!atBottom && (
        <button class="button primary jump" type="button" onClick={jump}>
          Jump to latest ↓
        </button>
      )}
    </>
  );
}

function MessageItem({
  chat,
  message,
  first,
  seen,
}: {
  chat: Chat;
  message: Shown;
  first: boolean;
  seen: string[] | null;
}) {
  const mine = message.sender === chat.user;
  const sender = mine ? 'You' : chat.names.of(message.sender);
  const time = timeLabel(message.ts);
  return (
    <li class={mine ? 'msg mine' : 'msg'} data-seq={message.seq}>
      {first ? (
        <div class="msg-meta">
          <span class="sender">{sender}</span>
          <time dateTime={new Date(message.ts).toISOString()}>{time}</time>
        </div>
      ) : (
        <span class="visually-hidden">
          {sender}, {time}:
        </span>
      )}
      <div class="bubble">
        <Body text={message.body} />
      </div>
      {seen !== null && <div class="seen">{seen.length > 0 ? `Seen by ${seen.join(', ')}` : 'Sent'}</div>}
    </li>
  );
}

function PendingItem({ chat, entry }: { chat: Chat; entry: Pending }) {
  const failed = entry.state === 'failed';
  return (
    <li class="msg mine pending" data-cid={entry.cid}>
      <div class="bubble">
        <Body text={entry.body} />
      </div>
      <div class={failed ? 'msg-state failed' : 'msg-state'}>
        {failed ? (
          <>
            <span>Not sent{entry.error === null ? '' : `: ${entry.error}`}</span>
            <button class="button link" type="button" onClick={() => void chat.retry(entry.cid).catch(() => undefined)}>
              Retry
            </button>
            <button class="button link" type="button" onClick={() => chat.discard(entry.cid)}>
              Discard
            </button>
          </>
        ) : (
          <span>Sending…</span>
        )}
      </div>
    </li>
  );
}

/** A body, always as text (Preact makes a text node of it); long ones cut with "show more". */
function Body({ text }: { text: string }) {
  const [open, setOpen] = useState(false);
  const cut = collapsed(text);
  return (
    <>
      <p class="body">{cut === null || open ? text : `${cut}…`}</p>
      {cut !== null && (
        <button class="button link more" type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? 'Show less' : `Show more (${Array.from(text).length.toLocaleString()} characters)`}
        </button>
      )}
    </>
  );
}
