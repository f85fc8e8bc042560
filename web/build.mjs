// Builds the web client (web/app) into the directory the node serves:
//
//     node web/build.mjs            # into web/dist (committed)
//     node web/build.mjs --out DIR  # anywhere else (the test compares the two)
//
// The layout the node's cache rule relies on: everything under assets/ is
// named by its content (app-<hash>.js, app-<hash>.css) and cached forever;
// index.html, sw.js, manifest.webmanifest and icons/ are revalidated. The
// output depends on the sources alone (no time, no absolute path, no
// source map), so a build of the committed sources gives the committed bytes.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const web = dirname(fileURLToPath(import.meta.url));
const app = join(web, 'app');

// Chromium, Firefox and Safari of the last two years: module scripts,
// top-level await, private fields, Array.prototype.at.
const TARGET = ['chrome110', 'firefox115', 'safari16.4'];

function outputDirectory(argv) {
  const at = argv.indexOf('--out');
  if (at === -1) return join(web, 'dist');
  if (argv[at + 1] === undefined) throw new Error('--out needs a directory');
  return argv[at + 1];
}

function contentHash(bytes) {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

async function bundle(entry, options) {
  const result = await esbuild.build({
    absWorkingDir: web,
    entryPoints: [join(app, entry)],
    bundle: true,
    minify: true,
    write: false,
    outdir: 'out',
    target: TARGET,
    legalComments: 'eof',
    charset: 'utf8',
    logLevel: 'warning',
    ...options,
  });
  return result.outputFiles;
}

function only(files, extension) {
  const matching = files.filter((file) => file.path.endsWith(extension));
  if (matching.length !== 1) throw new Error(`expected one ${extension} output, got ${matching.length}`);
  return matching[0].contents;
}

async function build(out) {
  const script = only(await bundle('src/main.tsx', { format: 'esm', jsx: 'automatic', jsxImportSource: 'preact' }), '.js');
  const style = only(await bundle('src/app.css', {}), '.css');
  const assets = {
    script: `assets/app-${contentHash(script)}.js`,
    style: `assets/app-${contentHash(style)}.css`,
  };
  const icons = readdirSync(join(app, 'icons'))
    .filter((name) => /\.(png|svg)$/.test(name))
    .sort();
  // The service worker names the files it keeps for offline start, so a new
  // bundle is a new sw.js: the browser installs it and drops the old cache.
  const shell = ['/', `/${assets.script}`, `/${assets.style}`, '/manifest.webmanifest', ...icons.map((name) => `/icons/${name}`)];
  const worker = only(
    await bundle('src/sw.ts', {
      format: 'iife',
      define: { SHELL: JSON.stringify(shell), SHELL_VERSION: JSON.stringify(contentHash(shell.join('\n'))) },
    }),
    '.js',
  );
  const page = readFileSync(join(app, 'index.html'), 'utf8')
    .replace('{{script}}', `/${assets.script}`)
    .replace('{{style}}', `/${assets.style}`);

  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'assets'), { recursive: true });
  mkdirSync(join(out, 'icons'));
  writeFileSync(join(out, assets.script), script);
  writeFileSync(join(out, assets.style), style);
  writeFileSync(join(out, 'sw.js'), worker);
  writeFileSync(join(out, 'index.html'), page);
  copyFileSync(join(app, 'manifest.webmanifest'), join(out, 'manifest.webmanifest'));
  for (const name of icons) copyFileSync(join(app, 'icons', name), join(out, 'icons', name));
}

await build(outputDirectory(process.argv.slice(2)));
