// What a notification says: for a Web Push (in the service worker) and for a
// message that arrives while the page is hidden (in the page). Both are
// text-only: the Notifications API never renders markup.

/** A Web Push payload: `{channel, seq, unread}` (docs: the push section of the protocol). */
export interface Push {
  channel: string | null;
  seq: string | null;
  unread: number | null;
}

export interface Notice {
  title: string;
  options: NotificationOptions;
}

const PREVIEW_CHARS = 140;

/**
 * Reads a push payload, keeping ids exact: a channel id is above 2^53, and
 * JSON.parse would round it to the nearest double, so ids are taken from
 * the text as digits (quoted or not). Anything unreadable gives nulls.
 */
export function readPush(text: string): Push {
  const id = (key: string): string | null => new RegExp(`"${key}"\\s*:\\s*"?(\\d{1,19})"?`).exec(text)?.[1] ?? null;
  const unread = id('unread');
  return { channel: id('channel'), seq: id('seq'), unread: unread === null ? null : Number(unread) };
}

export function pushNotice(push: Push): Notice {
  const unread = push.unread ?? 0;
  return {
    title: 'New message',
    options: {
      body: unread > 1 ? `${unread} unread messages` : 'You have a new message',
      tag: `channel-${push.channel}`,
      icon: '/icons/icon-192.png',
      data: { channel: push.channel },
    },
  };
}

export function messageNotice(channel: string, title: string, sender: string, body: string): Notice {
  const points = Array.from(body);
  const preview = points.length > PREVIEW_CHARS ? `${points.slice(0, PREVIEW_CHARS).join('')}…` : body;
  return {
    title,
    options: {
      body: title === sender ? preview : `${sender}: ${preview}`,
      tag: `channel-${channel}`,
      icon: '/icons/icon-192.png',
      data: { channel },
    },
  };
}
