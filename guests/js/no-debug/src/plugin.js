// `no-debug` -- the example Palisade plugin, in JavaScript.
//
// The same plugin as the Rust crate `guests/no-debug` (src/lib.rs), rule for
// rule and message for message (test/compare.mjs holds them to the same
// cases):
//
// * One rule, `no-debug.function-debug-env` (category `other`, severity
//   medium): a Lambda function (`AWS::Lambda::Function` or
//   `AWS::Serverless::Function`) must not deploy with a debug flag switched
//   on in its environment (`Environment.Variables`): a string `true`, `1`,
//   `yes` or `on` (trimmed, any case), the boolean `true` or a nonzero
//   integer. The first such variable of a function gives one finding, placed
//   at the resource (`pointer`), with the logical id as `resource`.
// * Settings (JSON text): `{"variables": ["DEBUG", ...]}`, the names that
//   count as debug flags, matched case-insensitively (ASCII), default
//   `["DEBUG"]`. Empty text, `null` and `{}` mean no settings; unknown keys
//   and empty names are refused.
// * Logs `<N> functions checked, <M> with a debug flag` at debug level and
//   hands the Cedar policies the fact `debug_functions` (an integer).
//
// This file is the component's entry point for the `plugin` world of
// `wit/policy.wit` (`palisade:policy@0.2.0`); the rule itself is in
// `lib.js`, which runs under plain Node.js too. Build with `./build.sh
// [--out DIR]` (ComponentizeJS 0.23.0, pinned in package-lock.json), which
// writes `no-debug-js.wasm`.
//
// The exports never throw. With ComponentizeJS a JavaScript exception that
// leaves an export traps the instance (the host then reports a crashed
// plugin), so every export catches everything and returns the `result`
// explicitly, as `{ tag: 'ok', val }` or `{ tag: 'err', val: message }`.

import { log } from 'palisade:policy/host@0.2.0';

import * as rule from './lib.js';

function failure(err) {
  if (err instanceof rule.PluginError) return err.message;
  let detail;
  try {
    detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    detail = 'unknown error';
  }
  return `${rule.NAME}: internal error: ${detail}`;
}

export function metadata() {
  return rule.METADATA;
}

export function validateSettings(settings) {
  try {
    rule.checkSettings(rule.parseSettings(settings));
    return { tag: 'ok', val: undefined };
  } catch (err) {
    return { tag: 'err', val: failure(err) };
  }
}

export function evaluate(input) {
  try {
    return { tag: 'ok', val: rule.evaluate(input, (message) => log('debug', message)) };
  } catch (err) {
    return { tag: 'err', val: failure(err) };
  }
}
