// The rule of the `no-debug` plugin, without any component glue, so that it
// can be run and tested under plain Node.js (`plugin.js` is the component's
// entry point and says what the plugin does).
//
// It behaves as the Rust plugin (`guests/no-debug/src/lib.rs`) with the Rust
// SDK underneath it: JSON is read as `serde_json` reads it (strict RFC 8259,
// containers at most 127 deep, whitespace-only text is `null`, no lone
// surrogates, no infinite numbers), object members are kept in document
// order with repeated keys (`get` takes the last one), and a number is an
// integer only when written without a fraction or exponent.

export const NAME = 'no-debug';
export const VERSION = '0.1.0';
export const RULE = 'no-debug.function-debug-env';
export const DEFAULT_VARIABLES = Object.freeze(['DEBUG']);
const FUNCTION_TYPES = ['AWS::Lambda::Function', 'AWS::Serverless::Function'];
const ON_VALUES = ['true', '1', 'yes', 'on'];
const MAX_DEPTH = 127;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

export const METADATA = Object.freeze({
  name: NAME,
  version: VERSION,
  appliesTo: ['deployment'],
  rules: [
    {
      id: RULE,
      category: 'other',
      severity: 'medium',
      title: 'Function deploys with a debug flag on',
      remediation:
        "Remove the debug variable from the function's environment (and from " +
        "Globals or the provider's environment), or set it to false",
      control: 'no debug builds in production',
    },
  ],
});

/** An error whose message is the plugin's `err` result. */
export class PluginError extends Error {}

// What Rust's `str::trim` removes (Unicode White_Space); String#trim also
// removes U+FEFF, which Rust keeps.
const TRIM =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

export function trim(text) {
  return text.replace(TRIM, '');
}

/** Rust's `to_ascii_lowercase`: ASCII letters only. */
export function asciiLower(text) {
  return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function wellFormed(text) {
  return typeof text.isWellFormed === 'function'
    ? text.isWellFormed()
    : !LONE_SURROGATE.test(text);
}

// ---------------------------------------------------------------- JSON ---

/** A JSON object: its members as [key, value] pairs in document order. */
export class Members {
  constructor(pairs) {
    this.pairs = pairs;
  }

  /** The value of `key` (the last one if repeated), or undefined. */
  get(key) {
    let found;
    for (const [k, v] of this.pairs) {
      if (k === key) found = v;
    }
    return found;
  }
}

/** A JSON number, as written. `int` is the value as a BigInt when it is an
 * integer that fits an i64 (Rust's `as_i64`), else null. */
export class JsonNumber {
  constructor(text, int) {
    this.text = text;
    this.int = int;
  }
}

const WS = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
const LITERAL = /true|false|null/y;

function position(text, at) {
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - before.lastIndexOf('\n');
  return `at line ${line} column ${column}`;
}

/**
 * Parses JSON text into plain values: strings, booleans, null, arrays,
 * `Members` for objects and `JsonNumber` for numbers. Throws a
 * `SyntaxError` (message with line and column) for invalid JSON.
 */
export function parseJson(text) {
  let at = 0;
  const fail = (what) => {
    throw new SyntaxError(`${what} ${position(text, at)}`);
  };
  const skip = () => {
    WS.lastIndex = at;
    WS.test(text);
    at = WS.lastIndex;
  };
  const match = (re) => {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m) at = re.lastIndex;
    return m;
  };
  const scalar = () => {
    const c = text[at];
    if (c === '"') {
      const start = at;
      if (!match(STRING)) fail('invalid string');
      const s = JSON.parse(text.slice(start, at));
      if (!wellFormed(s)) {
        at = start;
        fail('lone surrogate in string');
      }
      return s;
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      const start = at;
      const m = match(NUMBER);
      if (!m) fail('invalid number');
      const raw = m[0];
      let int = null;
      if (m[1] === undefined && m[2] === undefined) {
        const n = BigInt(raw);
        if (n >= I64_MIN && n <= I64_MAX) int = n;
      }
      if (int === null && !Number.isFinite(Number(raw))) {
        at = start;
        fail('number out of range');
      }
      return new JsonNumber(raw, int);
    }
    const m = match(LITERAL);
    if (!m) fail('expected value');
    return m[0] === 'true' ? true : m[0] === 'false' ? false : null;
  };

  // An explicit stack of open containers: no recursion, so no stack to
  // overflow whatever the input.
  const stack = [];
  skip();
  if (at === text.length) return null; // whitespace only: `null`
  let result;
  let done = false;
  while (!done) {
    skip();
    let value;
    const c = text[at];
    if (c === '{' || c === '[') {
      if (stack.length >= MAX_DEPTH) fail('recursion limit exceeded');
      at++;
      skip();
      const object = c === '{';
      const frame = { object, items: [], key: null };
      if (text[at] === (object ? '}' : ']')) {
        at++;
        value = object ? new Members([]) : [];
      } else {
        if (object) {
          if (text[at] !== '"') fail('key must be a string');
          frame.key = scalar();
          skip();
          if (text[at] !== ':') fail('expected `:`');
          at++;
        }
        stack.push(frame);
        continue;
      }
    } else {
      value = scalar();
    }
    // Close every container that `value` completes.
    for (;;) {
      const frame = stack[stack.length - 1];
      if (!frame) {
        result = value;
        done = true;
        break;
      }
      frame.items.push(frame.object ? [frame.key, value] : value);
      skip();
      const close = frame.object ? '}' : ']';
      if (text[at] === ',') {
        at++;
        if (frame.object) {
          skip();
          if (text[at] !== '"') fail('key must be a string');
          frame.key = scalar();
          skip();
          if (text[at] !== ':') fail('expected `:`');
          at++;
        }
        break;
      }
      if (text[at] !== close) fail(`expected \`,\` or \`${close}\``);
      at++;
      stack.pop();
      value = frame.object ? new Members(frame.items) : frame.items;
    }
  }
  skip();
  if (at !== text.length) fail('trailing characters');
  return result;
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * `Environment.Variables` of a function's properties (JSON text) as
 * `parseJson` would give it (undefined if absent). Throws a `SyntaxError`
 * for invalid JSON.
 *
 * `parseJson` is exact but slow in an interpreter, so the common case takes
 * the native `JSON.parse`, which gives the same answer when the text has no
 * escapes and the variables have no number values, no integer-like names
 * and no name written twice (`"NAME"` occurs once in the whole text). The
 * checks `parseJson` makes (depth, finite numbers, lone surrogates) are
 * left out: the host sends properties it serialized itself, which pass
 * them all, and they cost a third of the call in the interpreter.
 */
export function functionVariables(text) {
  if (!text.includes('\\')) {
    const root = JSON.parse(text);
    const env = isObject(root) && Object.hasOwn(root, 'Environment') ? root.Environment : undefined;
    const vars = isObject(env) && Object.hasOwn(env, 'Variables') ? env.Variables : undefined;
    if (!isObject(vars)) return vars; // absent, or members() is empty
    const names = Object.keys(vars);
    const simple = names.every((name) => {
      if (/^[0-9]+$/.test(name) || typeof vars[name] === 'number') return false;
      const quoted = `"${name}"`;
      return text.indexOf(quoted, text.indexOf(quoted) + 1) === -1;
    });
    if (simple) return new Members(names.map((name) => [name, vars[name]]));
  }
  const root = parseJson(text);
  return get(get(root, 'Environment'), 'Variables');
}

// ------------------------------------------------------------ settings ---

/** The JSON value the way serde names an unexpected one. */
function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return `boolean \`${value}\``;
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (value instanceof JsonNumber) {
    return value.int !== null
      ? `integer \`${value.text}\``
      : `floating point \`${value.text}\``;
  }
  if (value instanceof Members) return 'map';
  return 'sequence';
}

/**
 * The `variables` setting from the settings' JSON text, as the Rust SDK's
 * `settings::parse` reads it (serde, `deny_unknown_fields`). Empty text,
 * `null` and `{}` mean no settings. Throws `PluginError` with a message
 * starting `invalid settings: `.
 */
export function parseSettings(text) {
  const invalid = (message) => new PluginError(`invalid settings: ${message}`);
  const trimmed = trim(text);
  if (trimmed === '') return [...DEFAULT_VARIABLES];
  let value;
  try {
    value = parseJson(trimmed);
  } catch (err) {
    throw invalid(err.message);
  }
  if (value === null) return [...DEFAULT_VARIABLES];
  if (!(value instanceof Members)) {
    throw invalid(`invalid type: ${describe(value)}, expected struct Settings`);
  }
  let variables = null;
  for (const [key, item] of value.pairs) {
    if (key !== 'variables') {
      throw invalid(`unknown field \`${key}\`, expected \`variables\``);
    }
    if (variables !== null) throw invalid('duplicate field `variables`');
    if (!Array.isArray(item)) {
      throw invalid(`invalid type: ${describe(item)}, expected a sequence`);
    }
    for (const name of item) {
      if (typeof name !== 'string') {
        throw invalid(`invalid type: ${describe(name)}, expected a string`);
      }
    }
    variables = [...item];
  }
  return variables ?? [...DEFAULT_VARIABLES];
}

/** What deserializing cannot check. Throws `PluginError`. */
export function checkSettings(variables) {
  if (variables.some((name) => trim(name) === '')) {
    throw new PluginError('setting `variables` must not contain an empty name');
  }
}

// ---------------------------------------------------------------- rule ---

function isOn(value) {
  if (typeof value === 'string') return ON_VALUES.includes(asciiLower(trim(value)));
  if (typeof value === 'boolean') return value;
  if (value instanceof JsonNumber) return value.int !== null && value.int !== 0n;
  return false;
}

/** The first variable named like a debug flag whose value switches it on,
 * or null. */
export function debugFlag(variables, names) {
  if (!(variables instanceof Members)) return null;
  const wanted = new Set(names.map(asciiLower));
  for (const [name, value] of variables.pairs) {
    if (isOn(value) && wanted.has(asciiLower(name))) return name;
  }
  return null;
}

function get(node, key) {
  return node instanceof Members ? node.get(key) : undefined;
}

/**
 * Evaluates one input (the WIT `input` record as the component bindings
 * give it: `resources[i].resourceType`, `.logicalId`, `.properties`,
 * `.pointer`). `log(message)` logs at debug level. Returns the WIT
 * `evaluation` record; throws `PluginError` for an input that cannot be
 * evaluated.
 */
export function evaluate(input, log) {
  const variables = parseSettings(input.settings);
  // The rule reads the normalized resources only. The document is not
  // parsed: the host sends the one it parsed itself (valid JSON, at most
  // 100 deep), so checking it again would cost the interpreter most of the
  // call and could never fail.
  const findings = [];
  let functions = 0;
  let flagged = 0;
  for (const resource of input.resources) {
    if (!FUNCTION_TYPES.includes(resource.resourceType)) continue;
    functions++;
    let envVars;
    try {
      envVars = functionVariables(resource.properties);
    } catch (err) {
      throw new PluginError(
        `the properties of \`${resource.logicalId}\` are not valid JSON: ${err.message}`,
      );
    }
    if (envVars === undefined) continue;
    const name = debugFlag(envVars, variables);
    if (name !== null) {
      flagged++;
      findings.push({
        ruleId: RULE,
        message: `function \`${resource.logicalId}\` sets ${name} in its environment`,
        resource: resource.logicalId,
        pointer: resource.pointer,
        severity: undefined,
      });
    }
  }
  log(`${functions} functions checked, ${flagged} with a debug flag`);
  return {
    findings,
    facts: [{ name: 'debug_functions', value: { tag: 'integer', val: BigInt(flagged) } }],
  };
}
