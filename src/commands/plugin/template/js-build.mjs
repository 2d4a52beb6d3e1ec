// Builds src/plugin.js into the WebAssembly component dist/{{file}}.wasm
// with the ComponentizeJS JavaScript API. `./build.sh` installs the pinned
// packages and runs this.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { componentize } from '@bytecodealliance/componentize-js';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
// ComponentizeJS reads relative imports from the working directory.
process.chdir(src);
const { component } = await componentize({
  sourcePath: join(src, 'plugin.js'),
  witPath: join(here, 'wit'),
  worldName: 'plugin',
  // No WASI in the engine: the component imports only palisade:policy.
  disableFeatures: ['stdio', 'random', 'clocks', 'http', 'fetch-event'],
});
await mkdir(join(here, 'dist'), { recursive: true });
await writeFile(join(here, 'dist', '{{file}}.wasm'), component);
console.error('build.mjs: dist/{{file}}.wasm');
