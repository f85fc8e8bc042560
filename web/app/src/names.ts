// Usernames of the user ids this browser has met.
//
// The protocol names users by id everywhere and answers only the other way
// (`lookup`: username → id), so the app keeps what it learned: its own
// name at log-in, and every name it looked up (a new direct chat, a group's
// members). Someone never looked up shows as "user" and the end of their id
// until then; opening a direct chat with them by name teaches it.

export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export class Names {
  private readonly known: Map<string, string>;

  constructor(
    private readonly storage: KeyValue,
    private readonly key: string,
  ) {
    this.known = new Map(Names.parse(storage.getItem(key)));
  }

  private static parse(text: string | null): [string, string][] {
    try {
      const entries: unknown = JSON.parse(text ?? '[]');
      if (!Array.isArray(entries)) return [];
      return entries.filter(
        (entry): entry is [string, string] =>
          Array.isArray(entry) && typeof entry[0] === 'string' && typeof entry[1] === 'string',
      );
    } catch {
      return [];
    }
  }

  learn(user: string, username: string): void {
    if (this.known.get(user) === username) return;
    this.known.set(user, username);
    this.storage.setItem(this.key, JSON.stringify([...this.known]));
  }

  has(user: string): boolean {
    return this.known.has(user);
  }

  of(user: string): string {
    return this.known.get(user) ?? `user ${user.slice(-4)}`;
  }
}
