// Builds the console into dist/: one script, one stylesheet, the page and its icon. File names
// carry no content hash and the output is deterministic, so a rebuild of unchanged sources gives
// an identical tree (CI checks `git diff --exit-code dist`). alert-server embeds dist/ (see
// src/console.rs there, whose ASSETS list must name every file written here).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

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
console.log('console built into dist/');
