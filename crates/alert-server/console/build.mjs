// Builds the console into dist/: one script, one stylesheet, the page and its icon. File names
// carry no content hash and the output is deterministic, so a rebuild of unchanged sources gives
// an identical tree (CI checks `git diff --exit-code dist`). alert-server embeds dist/ (see
// src/console.rs there, whose ASSETS list must name every file written here).
//
// It also writes dist/inputs.sha256, the sha256 of every input of the build (every file under
// src/, package-lock.json, build.mjs, tsconfig.json; sorted by path, in `sha256sum` format): the
// tests cannot run npm, so xtask's tidy test recomputes this record and fails when the sources
// changed since dist/ was built. The record is not served (console.rs leaves it out).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const here = new URL('.', import.meta.url).pathname;
rmSync(`${here}dist`, { recursive: true, force: true });
mkdirSync(`${here}dist/assets`, { recursive: true });

await build({
  entryPoints: { app: `${here}src/main.ts` },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'none',
  outdir: `${here}dist/assets`,
  logLevel: 'warning',
});
await build({
  entryPoints: { app: `${here}src/styles.css` },
  bundle: true,
  minify: true,
  legalComments: 'none',
  outdir: `${here}dist/assets`,
  logLevel: 'warning',
});
copyFileSync(`${here}src/index.html`, `${here}dist/index.html`);
copyFileSync(`${here}src/favicon.svg`, `${here}dist/assets/favicon.svg`);

// The build's inputs, relative to this directory with `/`, sorted by code unit (byte order for
// these ASCII names, as the tidy test sorts them).
const inputs = ['build.mjs', 'package-lock.json', 'tsconfig.json'];
const walk = (dir) => {
  for (const entry of readdirSync(`${here}${dir}`, { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) walk(path);
    else inputs.push(path);
  }
};
walk('src');
inputs.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const sha256 = (path) => createHash('sha256').update(readFileSync(`${here}${path}`)).digest('hex');
writeFileSync(
  `${here}dist/inputs.sha256`,
  inputs.map((path) => `${sha256(path)}  ${path}\n`).join(''),
);
console.log('console built into dist/');
