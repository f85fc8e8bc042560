// The composer: Enter sends, Shift+Enter starts a new line, and neither
// happens while an input method is composing (its Enter picks a candidate).
import type { RefObject } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { Chat, Row } from './state';

/** The key event of an input method's composition (Safari ends it with keyCode 229 after isComposing is false). */
function composing(event: KeyboardEvent): boolean {
  return event.isComposing || event.keyCode === 229;
}

export function Composer({ chat, row, input }: { chat: Chat; row: Row; input: RefObject<HTMLTextAreaElement> }) {
  const [text, setText] = useState('');
  useEffect(() => input.current?.focus(), [row.id]);

  const submit = () => {
    if (text.trim() === '') return;
    setText('');
    // A failure stays in the timeline as a failed message with "Retry".
    void chat.send(row.id, text).catch(() => undefined);
  };

  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      <label for="composer" class="visually-hidden">
        Message {chat.title(row)}
      </label>
      <textarea
        id="composer"
        ref={input}
        rows={Math.min(8, text.split('\n').length)}
        value={text}
        placeholder={`Message ${chat.title(row)}`}
        aria-keyshortcuts="Enter"
        aria-description="Enter sends; Shift+Enter starts a new line"
        onInput={(event) => {
          setText(event.currentTarget.value);
          chat.typed(row.id);
        }}
        onKeyDown={(event) => {
          if (event.key === 'Enter' && !event.shiftKey && !composing(event)) {
            event.preventDefault();
            submit();
          }
        }}
      />
      <button class="button primary" type="submit">
        Send
      </button>
    </form>
  );
}
