// `no-debug`, the example Palisade plugin, in JavaScript: the component's
// entry point for the `plugin` world of `wit/policy.wit`
// (`palisade:policy@0.2.0`). The rule itself is in `lib.js`; README.md says
// what it does and how to build it.
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
