// Small hooks the screens share.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Chat } from './state';

/** Re-renders the calling component whenever the chat's state changes. */
export function useChat(chat: Chat): void {
  const [, setVersion] = useState(0);
  useEffect(() => chat.subscribe(() => setVersion((version) => version + 1)), [chat]);
}

/** An async action's running state and error message, for forms. */
export function useAction<A extends unknown[]>(
  action: (...args: A) => Promise<unknown>,
): { run: (...args: A) => Promise<void>; busy: boolean; error: string | null } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const run = async (...args: A): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await action(...args);
    } catch (failure) {
      if (mounted.current) setError(describe(failure));
    } finally {
      if (mounted.current) setBusy(false);
    }
  };
  return { run, busy, error };
}

const MESSAGES: Record<string, string> = {
  bad_credentials: 'Wrong username or password.',
  username_taken: 'That username is taken.',
  not_found: 'No such user.',
  rate_limited: 'Too many attempts: wait a moment and try again.',
  too_many_members: 'Too many members for one group.',
  blocked: 'That user does not accept this.',
  unavailable: 'The server is busy: try again.',
};

/** A sentence for an error a person can read: the SDK's errors carry a `code`. */
export function describe(failure: unknown): string {
  if (typeof failure === 'object' && failure !== null) {
    const { code, message } = failure as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && code in MESSAGES) return MESSAGES[code];
    if (typeof message === 'string' && message !== '') return message;
  }
  return 'Something went wrong.';
}
