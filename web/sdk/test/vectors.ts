// Reading tests/vectors/*.json (the protocol package's golden vectors) exactly.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };

export interface Vector {
  readonly name: string;
  readonly direction: 'client_to_server' | 'server_to_client';
  readonly description: string;
  readonly reply_to?: string;
  readonly hex: string;
  readonly frame: { [key: string]: Json };
}

/** The repository's tests/vectors, or CHAT_VECTORS_DIR. */
export function vectorsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url)); // web/sdk/build/test
  return process.env['CHAT_VECTORS_DIR'] ?? join(here, '..', '..', '..', '..', 'tests', 'vectors');
}

/**
 * JSON.parse rounds integers past 2^53; these files hold some on purpose.
 * Every integer literal becomes a bigint: quoted first (a number token is
 * never inside a string here, where hex and text follow a quote), then
 * revived from its marker.
 */
export function parseExact(text: string): Json {
  const marked = text.replace(/([:\[,]\s*)(-?\d+)(?=\s*[,\]}])/g, '$1"#int:$2"');
  return JSON.parse(marked, (_key, value: unknown) =>
    typeof value === 'string' && value.startsWith('#int:') ? BigInt(value.slice(5)) : value,
  ) as Json;
}

export function loadVectors(file: string): Vector[] {
  return parseExact(readFileSync(join(vectorsDir(), file), 'utf8')) as unknown as Vector[];
}

export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
