// Builds src/plugin.js into the component no-debug-js.wasm with the
// ComponentizeJS JavaScript API (the `jco componentize` CLI is not used: it
// fails here with a preopen error, os error 44).
//
//   node build.mjs [--out DIR]     (DIR defaults to this directory)
//
// build.sh installs the pinned packages first and then runs this.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { componentize, version } from '@bytecodealliance/componentize-js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');

let outDir = here;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out' && i + 1 < args.length) {
    outDir = args[++i];
  } else if (args[i].startsWith('--out=')) {
    outDir = args[i].slice('--out='.length);
  } else {
    console.error(`build.mjs: unknown argument '${args[i]}' (usage: node build.mjs [--out DIR])`);
    process.exit(2);
  }
}
// Resolve against the caller's directory before moving.
outDir = resolve(outDir);

// ComponentizeJS maps the source's directory to `/` inside the engine while
// it pre-initializes the module (relative imports are read from there), and
// uses the working directory for that when the source is inside it.
const src = join(here, 'src');
process.chdir(src);

const { component, imports } = await componentize({
  sourcePath: join(src, 'plugin.js'),
  witPath: join(repo, 'wit'),
  worldName: 'plugin',
  // No WASI features in the engine: no console, clocks, randomness or
  // fetch. The component then imports nothing but the world's own host
  // interface (plus what the engine still needs, if anything).
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});

await mkdir(outDir, { recursive: true });
const out = join(outDir, 'no-debug-js.wasm');
await writeFile(out, component);
console.error(
  `build.mjs: ComponentizeJS ${version}: ${out} (${component.length} bytes); ` +
    `imports used by the JS: ${JSON.stringify(imports)}`,
);
