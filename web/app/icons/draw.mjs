// Draws the web client's icons: `node web/app/icons/draw.mjs` rewrites the
// PNGs beside it. They are committed (the build only copies them) because a
// PNG's bytes depend on the zlib that deflates it, and the build must give
// the same bytes on every machine.
//
// One drawing, as signed distance functions in a unit square (y down): a
// white speech bubble with three dots on an indigo tile. `icon.svg` is the
// same drawing by hand, for browsers that take vector icons.
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const TILE = [0x3b, 0x5b, 0xdb];
const BUBBLE = [0xff, 0xff, 0xff];

function roundedBox(x, y, cx, cy, halfW, halfH, radius) {
  const qx = Math.abs(x - cx) - halfW + radius;
  const qy = Math.abs(y - cy) - halfH + radius;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
}

function halfPlane(x, y, ax, ay, bx, by) {
  // Distance to the line a→b, negative on its left.
  const nx = by - ay;
  const ny = ax - bx;
  const length = Math.hypot(nx, ny);
  return ((x - ax) * nx + (y - ay) * ny) / length;
}

function triangle(x, y, a, b, c) {
  return Math.max(halfPlane(x, y, ...a, ...b), halfPlane(x, y, ...b, ...c), halfPlane(x, y, ...c, ...a));
}

/** The bubble and its dots around (0.5, 0.5) at `scale` (1: the bubble fills 64% of the width). */
function layers(x, y, scale) {
  const u = (x - 0.5) / scale + 0.5;
  const v = (y - 0.5) / scale + 0.5;
  const body = roundedBox(u, v, 0.5, 0.46, 0.32, 0.22, 0.12);
  const tail = triangle(u, v, [0.3, 0.6], [0.46, 0.6], [0.26, 0.82]);
  const bubble = Math.min(body, tail) * scale;
  const dots = Math.min(...[0.35, 0.5, 0.65].map((cx) => Math.hypot(u - cx, v - 0.46) - 0.045)) * scale;
  return { bubble, dots };
}

function cover(distance, pixel) {
  return Math.min(Math.max(0.5 - distance / pixel, 0), 1);
}

function mix(a, b, t) {
  return a.map((value, i) => Math.round(value + (b[i] - value) * t));
}

function draw(size, { maskable }) {
  const pixel = 1 / size;
  const rows = [];
  for (let py = 0; py < size; py++) {
    const row = Buffer.alloc(1 + size * 4); // filter byte 0: none
    for (let px = 0; px < size; px++) {
      const x = (px + 0.5) * pixel;
      const y = (py + 0.5) * pixel;
      // A maskable icon is full-bleed; the platform cuts its own shape
      // within the central 80% (the safe zone), so the bubble shrinks.
      const tile = maskable ? 1 : cover(roundedBox(x, y, 0.5, 0.5, 0.5, 0.5, 0.22), pixel);
      const { bubble, dots } = layers(x, y, maskable ? 0.78 : 1);
      const white = cover(bubble, pixel) * (1 - cover(dots, pixel));
      const [r, g, b] = mix(TILE, BUBBLE, white);
      row.set([r, g, b, Math.round(255 * tile)], 1 + px * 4);
    }
    rows.push(row);
  }
  return png(size, Buffer.concat(rows));
}

function crc32(bytes) {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, tail]);
}

function png(size, scanlines) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(scanlines, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const here = new URL('.', import.meta.url);
for (const [name, size, maskable] of [
  ['icon-192.png', 192, false],
  ['icon-512.png', 512, false],
  ['maskable-512.png', 512, true],
]) {
  writeFileSync(new URL(name, here), draw(size, { maskable }));
}
