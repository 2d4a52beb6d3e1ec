// `{{name}}`: a Palisade policy plugin, in JavaScript.
//
// Its one rule, `{{name}}.function-timeout`, asks every Lambda function to
// set its `Timeout` (in the template, SAM `Globals` or serverless.yml): the
// platform default ends slow calls late or early by surprise. Replace it
// with your own rules; `palisade plugin test .` runs `tests/*.yaml`.
//
// The host calls `metadata` when a bundle loads, `validateSettings` once per
// bundle, and `evaluate` once per decision, each in a fresh instance. An
// exception that leaves an export traps the instance (a crashed plugin,
// which denies): return `{ tag: 'err', val: message }` instead, as below.

import { log } from 'palisade:policy/host@0.2.0';

const RULE = '{{name}}.function-timeout';
const FUNCTION_TYPES = ['AWS::Lambda::Function', 'AWS::Serverless::Function'];

function parseSettings(text) {
  const value = text.trim() ? JSON.parse(text) : null;
  const settings = value === null ? {} : value;
  if (typeof settings !== 'object' || Array.isArray(settings)) {
    throw new Error('invalid settings: expected an object');
  }
  for (const key of Object.keys(settings)) {
    if (key !== 'max_seconds') {
      throw new Error(`invalid settings: unknown field \`${key}\`, expected \`max_seconds\``);
    }
  }
  const max = settings.max_seconds;
  if (max !== undefined && max !== null && !(Number.isInteger(max) && max >= 1)) {
    throw new Error('setting `max_seconds` must be an integer of at least 1');
  }
  return max ?? null;
}

function check(input, maxSeconds) {
  const findings = [];
  let checked = 0;
  for (const resource of input.resources) { // the deployment, normalized
    if (!FUNCTION_TYPES.includes(resource.resourceType)) continue;
    checked += 1;
    const timeout = JSON.parse(resource.properties).Timeout;
    let problem = null;
    if (timeout === undefined) {
      problem = 'sets no timeout';
    } else if (Number.isInteger(timeout) && maxSeconds !== null && timeout > maxSeconds) {
      problem = `times out after ${timeout} s, above ${maxSeconds} s`;
    }
    if (problem) {
      findings.push({
        ruleId: RULE,
        message: `function \`${resource.logicalId}\` ${problem}`,
        resource: resource.logicalId,
        pointer: resource.pointer, // placed at the resource's line
        severity: undefined,
      });
    }
  }
  log('debug', `${checked} functions checked`);
  return { findings, facts: [] };
}

export function metadata() {
  return {
    name: '{{name}}',
    version: '0.1.0',
    appliesTo: ['deployment'],
    rules: [{
      id: RULE,
      category: 'resilience',
      severity: 'low',
      title: 'Function without an explicit timeout',
      remediation: 'Set `Timeout` on the function (or in SAM Globals / the serverless.yml provider)',
      control: 'functions fail fast and predictably',
    }],
  };
}

export function validateSettings(settings) {
  try {
    parseSettings(settings);
    return { tag: 'ok', val: undefined };
  } catch (err) {
    return { tag: 'err', val: String(err?.message ?? err) };
  }
}

export function evaluate(input) {
  try {
    return { tag: 'ok', val: check(input, parseSettings(input.settings)) };
  } catch (err) {
    return { tag: 'err', val: String(err?.message ?? err) };
  }
}
