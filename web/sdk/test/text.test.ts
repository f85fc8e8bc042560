import assert from 'node:assert/strict';
import { test } from 'node:test';

import { codePoints, decodeUtf8, replaceLoneSurrogates, Utf8Error, wellFormed } from '../src/text.js';

const CASES: [string, string][] = [
  ['', ''],
  ['plain', 'plain'],
  ['😀', '😀'],
  ['\ud800', '\ufffd'],
  ['\udc00', '\ufffd'],
  ['a\ud83dz', 'a\ufffdz'],
  ['\ude00\ud83d', '\ufffd\ufffd'],
  ['😀\ud83d', '😀\ufffd'],
  ['\ud83d\ud83d\ude00', '\ufffd😀'],
];

test('lone surrogates become U+FFFD, pairs stay: natively and in the fallback alike', () => {
  assert.equal(typeof (''.toWellFormed as unknown), 'function', 'Node 20 has toWellFormed');
  for (const [input, expected] of CASES) {
    assert.equal(wellFormed(input), expected, JSON.stringify(input));
    assert.equal(replaceLoneSurrogates(input), expected, JSON.stringify(input));
    assert.equal(replaceLoneSurrogates(input), input.toWellFormed(), JSON.stringify(input));
  }
});

test('lengths count code points, as the node counts them', () => {
  assert.equal(codePoints('abc'), 3);
  assert.equal(codePoints('😀'), 1);
  assert.equal(codePoints('😀'.repeat(100_000)), 100_000);
  assert.equal(codePoints('a😀b'), 3);
});

test('UTF-8 decodes strictly: what Node decodes the same, what is not UTF-8 refused', () => {
  for (const text of ['', 'ascii', 'é', '€', '😀', 'mixed é€😀 text', '\u07ff\u0800\uffff', '\u{10ffff}']) {
    assert.equal(decodeUtf8(Buffer.from(text, 'utf8')), text);
  }
  const big = 'x😀é'.repeat(20_000); // past the chunk size
  assert.equal(decodeUtf8(Buffer.from(big, 'utf8')), big);
  const invalid = {
    'a lone surrogate, CESU style': 'eda080',
    'an overlong slash': 'c0af',
    'an overlong NUL in three bytes': 'e08080',
    'past U+10FFFF': 'f4908080',
    'a bare continuation byte': '80',
    'a truncated sequence': 'e282',
    'a bad continuation': 'e228a1',
    '0xff': 'ff',
  };
  for (const [what, hex] of Object.entries(invalid)) {
    assert.throws(() => decodeUtf8(Buffer.from(hex, 'hex')), Utf8Error, what);
  }
});
