// The app's top: resumes a saved session, else shows log-in; then the chat.
import { useEffect, useState } from 'preact/hooks';
import { AuthScreen } from './auth';
import { ChatScreen } from './chat';
import { Chat } from './state';

export function App() {
  // undefined: still looking for a saved session.
  const [chat, setChat] = useState<Chat | null | undefined>(undefined);
  useEffect(() => {
    void Chat.resume().then(setChat);
  }, []);
  if (chat === undefined) {
    return (
      <p class="placeholder" role="status">
        Connecting…
      </p>
    );
  }
  if (chat === null) return <AuthScreen onSession={setChat} />;
  return <ChatScreen chat={chat} onEnd={() => setChat(null)} />;
}
