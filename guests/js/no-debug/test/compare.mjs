// Holds the `no-debug` components to the same cases: runs each case through
// the reference component (the Rust plugin) and every other component given,
// and compares what they return and log.
//
//   node test/compare.mjs [REFERENCE.wasm OTHER.wasm...]
//
// Default: guests/dist/no-debug.wasm against this directory's
// no-debug-js.wasm and guests/python/no-debug/no-debug-py.wasm (those that
// exist). Run build.sh first (it installs jco, used here to transpile the
// components so that Node.js can run them; WASI imports of the reference
// are served by @bytecodealliance/preview2-shim).
//
// A result passes when it is the reference's exactly, or when both are
// errors that agree up to the first `:` (the JSON parsers' messages and
// positions differ in wording). Known, deliberate differences are counted as
// skipped. Ends with `N passed, N failed, N skipped`; exit status 1 if any
// failed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// componentize-py components use the extended-const proposal, which Node.js
// 20 only enables behind a flag.
const FLAG = '--experimental-wasm-extended-const';
const major = Number(process.versions.node.split('.')[0]);
if (major < 22 && !process.execArgv.includes(FLAG)) {
  const child = spawnSync(process.execPath, [FLAG, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
  });
  process.exit(child.status ?? 1);
}

const { transpile } = await import('@bytecodealliance/jco');
const shim = await import('@bytecodealliance/preview2-shim');

const here = dirname(fileURLToPath(import.meta.url));
const guests = resolve(here, '../../..');
let paths = process.argv.slice(2);
if (paths.length === 0) {
  paths = [
    join(guests, 'dist/no-debug.wasm'),
    join(guests, 'js/no-debug/no-debug-js.wasm'),
    join(guests, 'python/no-debug/no-debug-py.wasm'),
  ].filter((p, i) => i === 0 || existsSync(p));
}
if (paths.length < 2) {
  console.error('compare.mjs: nothing to compare (build the components first)');
  process.exit(2);
}

const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
const work = await mkdtemp(join(tmpdir(), 'no-debug-compare-'));

async function load(path, index) {
  const { files } = await transpile(await readFile(path), {
    name: 'plugin',
    instantiation: 'async',
    quiet: true,
    noTypescript: true,
  });
  const dir = join(work, String(index));
  for (const [name, bytes] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), bytes);
  }
  const { instantiate } = await import(pathToFileURL(join(dir, 'plugin.js')).href);
  const logs = [];
  const host = { log: (level, message) => logs.push([level, message]) };
  const imports = new Proxy(
    {},
    {
      get(_, key) {
        if (typeof key !== 'string') return undefined;
        if (key.startsWith('palisade:policy/host')) return host;
        if (key.startsWith('palisade:policy/types')) return {};
        const m = /^wasi:([a-z-]+)\/([a-z-]+)/.exec(key);
        return m ? shim[m[1]]?.[camel(m[2])] : undefined;
      },
    },
  );
  const root = await instantiate(
    async (name) => WebAssembly.compile(await readFile(join(dir, name))),
    imports,
  );
  return { name: basename(path), root, logs };
}

const deep = (n) => '['.repeat(n) + ']'.repeat(n);
const fn = (props, id = 'Fn', type = 'AWS::Lambda::Function') => ({
  resourceType: type,
  logicalId: id,
  properties: props,
  pointer: `/Resources/${id}`,
});
const env = (vars) => JSON.stringify({ Environment: { Variables: vars } });
const input = (resources, settings = '', document = '{}') => ({
  kind: 'deployment',
  document,
  settings,
  now: '2024-01-01T00:00:00Z',
  resources,
});
const variables = (json) => `{"Environment":{"Variables":${json}}}`;

// Inputs the host cannot produce, which the interpreted plugins do not
// check again (the Rust SDK does, as serde_json reads).
const HOST_NEVER_SENDS = ['evaluate document:', 'evaluate properties:'];

// Deliberate differences: the case's label and why.
const KNOWN = {
  'settings []':
    'serde reads a struct from a JSON array too (`[]` = all defaults); the host sends an object',
  'settings [["X"]]': 'serde reads a struct from a JSON array too; the host sends an object',
  // ComponentizeJS decodes every string argument with a TextDecoder that
  // drops a leading byte order mark: the JS plugin never sees one.
  'settings \ufeff{}': 'the JS plugin does not see a leading U+FEFF',
  'evaluate document: leading BOM': 'the JS plugin does not see a leading U+FEFF',
  'evaluate properties: leading BOM': 'the JS plugin does not see a leading U+FEFF',
  'evaluate logical id: leading BOM': 'the JS plugin does not see a leading U+FEFF',
};

const settingsCases = [
  '', '  ', 'null', ' null ', '{}', '{ }', `{${' '.repeat(20)}}`, '{"variables":[]}',
  '{"variables":["X","y"]}', '{"variables":[""]}', '{"variables":["  "]}',
  '{"variables":["\u3000"]}', '{"variables":["\ufeffX"]}', '{"foo":1}',
  '{"variables":["A"],"foo":1}', '{"foo":1,"variables":[1]}', '{"variables":null}',
  '{"variables":"DEBUG"}', '{"variables":[1]}', '{"variables":[true]}', '{"variables":[1.5]}',
  '{"variables":[{}]}', '{"variables":[[]]}', '{"variables":["A"],"variables":["B"]}', '[1]',
  '[]', '[["X"]]', '"x"', '1', 'true', '{', 'nul', '{"variables":["\\ud800"]}',
  '{"variables":["a"]} x', 'NaN', '\ufeff{}', `{"variables":${deep(100000)}}`,
];

const on = [
  'true', 'TRUE', ' yes ', 'On', '1', '0', 'false', 'no', '', ' 1\t', '\u00a0on\u3000',
  '\ufeffon', 'yes!', 'ｔrue', 'TRUE\u0085', 'y', '01',
];
const numbers = [
  'true', 'false', '1', '0', '-1', '2', '1.0', '1e3', '0.0', '-0', '9223372036854775807',
  '9223372036854775808', '-9223372036854775808', '-9223372036854775809',
  '18446744073709551616', '123456789012345678901234567890', 'null', '[]', '{}', '["1"]',
  `1${'0'.repeat(300)}`,
];
const evalCases = [
  ['basic', input([fn(env({ DEBUG: '1' }))])],
  ['string values', input(on.map((v, i) => fn(env({ DEBUG: v }), `F${i}`)))],
  ['other values', input(numbers.map((v, i) => fn(variables(`{"DEBUG":${v}}`), `N${i}`)))],
  ['infinite number', input([fn(variables('{"DEBUG":1E400}'))])],
  ['infinite integer', input([fn(variables(`{"DEBUG":1${'0'.repeat(400)}}`))])],
  ['names', input([
    fn(env({ debug: '1' }), 'a'), fn(env({ Debug: 'yes' }), 'b'), fn(env({ DEBUGX: '1' }), 'c'),
    fn(env({ ' DEBUG': '1' }), 'd'), fn(env({ DEBUG: 'no', debug: 'yes' }), 'e'),
  ])],
  ['ascii-only case', input(
    [fn(env({ 'STRAßE': '1' }), 'a'), fn(env({ 'İ': '1' }), 'b'), fn(env({ 'K': '1' }), 'c')],
    '{"variables":["strasse","i","\u212a"]}',
  )],
  ['first match', input(
    [fn(env({ VERBOSE: '1', DEBUG: '1' }), 'a'), fn(env({ DEBUG: '0', VERBOSE: 'on' }), 'b')],
    '{"variables":["debug","verbose"]}',
  )],
  ['integer-like names keep document order', input(
    [fn(variables('{"X":"1","7":"1"}'), 'a')], '{"variables":["7","x"]}',
  )],
  ['repeated keys', input([
    fn(variables('{"DEBUG":"1","DEBUG":"0"}'), 'a'),
    fn(variables('{"DEBUG":"0","DEBUG":"1"}'), 'b'),
    fn('{"Environment":{"Variables":{"DEBUG":"1"}},"Environment":{}}', 'c'),
    fn('{"Environment":{},"Environment":{"Variables":{"DEBUG":"1"}}}', 'd'),
    fn(variables('{"DEBUG":"0","DEBU\\u0047":"1"}'), 'e'),
  ])],
  ['escapes and look-alikes', input([
    fn('{"Tags":{"x":"DEBUG"},"Environment":{"Variables":{"DEBUG":"on","A":true}}}', 'a'),
    fn(variables('{"A":true,"DEBUG":false,"B":{"DEBUG":1}}'), 'b'),
    fn(variables('{"A":"\\u0031","DEBUG":"\\u0031"}'), 'c'),
    fn(variables('{"__proto__":"1"}'), 'd'),
    fn(variables('{"DEBUG":"\\ud83d\\ude00"}'), 'e'),
    fn(variables('{"DEBUG":"\\\\ud800"}'), 'f'),
    fn(variables(`{"DEBUG":"${'['.repeat(300)}"}`), 'g'),
  ], '{"variables":["debug","__proto__"]}')],
  ['resource types', input([
    fn(env({ DEBUG: '1' }), 'a', 'AWS::Serverless::Function'),
    fn(env({ DEBUG: '1' }), 'b', 'AWS::Lambda::Version'),
    fn(env({ DEBUG: '1' }), 'c', 'aws::lambda::function'),
    fn(env({ DEBUG: '1' }), 'd', 'AWS::Lambda::Function '),
    fn('{', 'e', 'AWS::S3::Bucket'),
  ])],
  ['shapes', input([
    fn('{}', 'a'), fn('{"Environment":null}', 'b'), fn('{"Environment":[]}', 'c'),
    fn('{"Environment":{"Variables":[]}}', 'd'), fn('{"Environment":{"Variables":"DEBUG=1"}}', 'e'),
    fn('[]', 'f'), fn('"x"', 'g'), fn('null', 'h'), fn('', 'i'), fn('  \n', 'j'),
    fn('{"Environment":{"Variables":{}}}', 'k'), fn('{"Environment":{"Variables":null}}', 'l'),
  ])],
  ['no resources', input([])],
  ['settings apply', input([fn(env({ DEBUG: '1', TRACE: 'yes' }))], '{"variables":["trace"]}')],
  ['invalid settings', input([fn(env({ DEBUG: '1' }))], '{"x":1}')],
  ['empty name is not re-checked', input([fn(env({ DEBUG: '1' }))], '{"variables":[""]}')],
  ['many functions', input(Array.from({ length: 300 }, (_, i) => fn(env({ DEBUG: i % 2 ? '1' : '0' }), `F${i}`)))],
  ['properties: invalid', input([fn('{', 'a')])],
  ['properties: NaN', input([fn(variables('{"DEBUG":NaN}'), 'a')])],
  ['properties: trailing characters', input([fn('{} x', 'a')])],
  ['properties: trailing comma', input([fn('{"a":1,}', 'a')])],
  ['properties: lone surrogate', input([fn(variables('{"DEBUG":"\\udc00"}'), 'a')])],
  ['properties: control character', input([fn('{"a":"\u0001"}', 'a')])],
  ['properties: leading zero', input([fn('{"a":01}', 'a')])],
  ['properties: 127 deep', input([fn(`{"a":${deep(126)}}`, 'a')])],
  ['properties: 128 deep', input([fn(`{"a":${deep(127)}}`, 'a')])],
  ['properties: 100000 deep', input([fn(`{"a":${deep(100000)}}`, 'a')])],
  ['document: invalid', input([fn(env({ DEBUG: '1' }))], '', '{')],
  ['document: empty', input([fn(env({ DEBUG: '1' }))], '', '')],
  ['document: whitespace', input([fn(env({ DEBUG: '1' }))], '', ' \n')],
  ['document: 127 deep', input([], '', deep(127))],
  ['document: 128 deep', input([], '', deep(128))],
  ['document: 100000 deep', input([], '', deep(100000))],
  ['document: infinite number', input([], '', '[1e400]')],
  ['document: lone surrogate', input([], '', '["\\ud800"]')],
  ['document: escaped backslash', input([], '', '["\\\\ud800"]')],
  ['document: leading BOM', input([], '', '\ufeff{}')],
  ['properties: leading BOM', input([fn(`\ufeff${env({ DEBUG: '1' })}`)])],
  ['logical id: leading BOM', input([fn(env({ DEBUG: '1' }), '\ufeffFn')])],
  ['document: BOM inside', input([], '', '[1,\ufeff2]')],
  ...['\u00a0', '\u2028', '\u3000', '\u000b', '\u000c', '\u0085', '\ufeff'].flatMap((c) => [
    [`document: U+${c.codePointAt(0).toString(16)} between tokens`, input([], '', `{${c}}`)],
    [`properties: U+${c.codePointAt(0).toString(16)} between tokens`, input([fn(`{${c}}`)])],
  ]),
];

const show = (v) => JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x));

function call(impl, f) {
  impl.logs.length = 0;
  let out;
  try {
    out = `ok ${show(f(impl.root))}`;
  } catch (err) {
    out = err && 'payload' in err ? `err ${err.payload}` : `TRAP ${err}`;
  }
  return `${out} logs ${show(impl.logs)}`;
}

const agree = (a, b) =>
  a === b || (a.startsWith('err ') && b.startsWith('err ') && a.split(':')[0] === b.split(':')[0]);

const impls = [];
for (const [i, path] of paths.entries()) impls.push(await load(path, i));
const [reference, ...others] = impls;

let passed = 0;
let failed = 0;
let skipped = 0;
function check(label, f) {
  const want = call(reference, f);
  for (const impl of others) {
    const got = call(impl, f);
    if (agree(want, got)) {
      passed++;
    } else if (KNOWN[label] || HOST_NEVER_SENDS.some((p) => label.startsWith(p))) {
      skipped++;
      const why =
        KNOWN[label] ??
        'the host never sends this: it serializes what it parsed (valid JSON, at most 100 deep, finite, well-formed)';
      console.log(`skip ${impl.name}: ${label} (${why})`);
    } else {
      failed++;
      console.log(`FAIL ${impl.name}: ${label}`);
      console.log(`  ${reference.name}: ${want.slice(0, 600)}`);
      console.log(`  ${impl.name}: ${got.slice(0, 600)}`);
    }
  }
}

check('metadata', (root) => root.metadata());
for (const s of settingsCases) check(`settings ${s}`, (root) => root.validateSettings(s));
for (const [label, inp] of evalCases) check(`evaluate ${label}`, (root) => root.evaluate(inp));

await rm(work, { recursive: true, force: true });
console.log(`compared ${others.map((i) => i.name).join(', ')} with ${reference.name}`);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
