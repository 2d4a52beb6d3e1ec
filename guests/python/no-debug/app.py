"""`no-debug` -- the example Palisade plugin, in Python.

The same plugin as the Rust crate `guests/no-debug` (src/lib.rs), rule for
rule and message for message:

* One rule, `no-debug.function-debug-env` (category `other`, severity
  medium): a Lambda function (`AWS::Lambda::Function` or
  `AWS::Serverless::Function`) must not deploy with a debug flag switched on
  in its environment (`Environment.Variables`): a string `true`, `1`, `yes`
  or `on` (trimmed, any case), the boolean `true` or a nonzero integer.
  The first such variable of a function gives one finding, placed at the
  resource (`pointer`), with the logical id as `resource`.
* Settings (JSON text): `{"variables": ["DEBUG", ...]}`, the names that count
  as debug flags, matched case-insensitively (ASCII), default `["DEBUG"]`.
  Empty text, `null` and `{}` mean no settings; unknown keys and empty names
  are refused.
* Logs `<N> functions checked, <M> with a debug flag` at debug level and
  hands the Cedar policies the fact `debug_functions` (an integer).

It reads `input.resources`, the deployment as the Cedar rules see it, so it
covers CloudFormation, SAM (with `Globals`), serverless.yml and Terraform
plans alike.

Build it with `./build.sh [--out DIR]` (componentize-py 0.25.1, installed in
a cached venv), which writes `no-debug-py.wasm`, a component of the `plugin`
world of `wit/policy.wit` (`palisade:policy@0.2.0`). The module is named
`app` because componentize-py generates `wit_world` itself; `WitWorld` below
is the class it exports.

Every export catches every exception: an uncaught Python exception traps the
instance (the host reports a crashed plugin), whereas `Err(message)` is the
contract's way of saying that something went wrong.
"""

import itertools
import json
import math
import re

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, types

NAME = "no-debug"
VERSION = "0.1.0"
RULE = "no-debug.function-debug-env"
DEFAULT_VARIABLES = ["DEBUG"]
FUNCTION_TYPES = ("AWS::Lambda::Function", "AWS::Serverless::Function")
ON_VALUES = ("true", "1", "yes", "on")

# What Rust's `str::trim` removes (Unicode White_Space); `str.strip()` with
# no argument removes a slightly different set.
_WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
# Rust's `eq_ignore_ascii_case` / `to_ascii_lowercase`: ASCII letters only.
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _trim(text):
    return text.strip(_WHITE_SPACE)


def _ascii_lower(text):
    return text.translate(_ASCII_LOWER)


class _Members(list):
    """A JSON object as its (key, value) members in document order,
    repeated keys included (as the Rust SDK's `Node::members`)."""

    def get(self, key):
        """The value of `key`, the last one if it is repeated
        (as `Node::get`); None if absent."""
        found = None
        for k, v in self:
            if k == key:
                found = v
        return found


class _BigInt:
    """An integer too large for an i64 (written with more than 20
    characters, so also past Python's int-from-text limit): never a debug
    flag."""


# The Rust SDK reads JSON exactly as `serde_json` does; `json.loads` is
# laxer in four ways, which `_loads` closes: whitespace-only text is the
# `null` document, containers nest at most 127 deep, numbers must be
# finite (no NaN, Infinity or 1e400), strings hold no lone surrogates.
_MAX_DEPTH = 127
_JSON_WHITE_SPACE = re.compile(r"[ \t\n\r]*\Z")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _parse_int(text):
    # An i64 has at most 19 digits and a sign; anything longer cannot fit.
    if len(text) <= 20:
        return int(text)
    if math.isinf(float(text)):
        raise ValueError("number out of range")
    return _BigInt()


def _parse_float(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _depth(text):
    """How deep the containers of `text` nest (strings left out). Checked
    before `json.loads`, whose C parser recurses once per level and would
    overflow the WebAssembly stack (a trap) on a deep enough input."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets)))


def _check_strings(value):
    """Raises ValueError if a string (or key) in `value` holds a lone
    surrogate (`json.loads` joins valid pairs, so any surrogate left is
    lone)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("lone surrogate in a string") from None
        elif isinstance(node, _Members):
            for key, item in node:
                stack.append(key)
                stack.append(item)
        elif isinstance(node, list):
            stack.extend(node)


def _loads(text):
    """JSON text as `serde_json` accepts it; objects as `_Members`.
    Raises ValueError for anything else."""
    if _JSON_WHITE_SPACE.match(text):
        return None
    if _depth(text) > _MAX_DEPTH:
        raise ValueError("recursion limit exceeded")
    value = json.loads(
        text,
        object_pairs_hook=_Members,
        parse_constant=_reject_constant,
        parse_int=_parse_int,
        parse_float=_parse_float,
    )
    if _SURROGATE_ESCAPE.search(text):
        _check_strings(value)
    return value


def _get(node, key):
    return node.get(key) if isinstance(node, _Members) else None


def _describe(value):
    """A JSON value the way serde names an unexpected one."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{'true' if value else 'false'}`"
    if isinstance(value, (int, _BigInt)):
        return f"integer `{value}`" if isinstance(value, int) else "integer"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, _Members):
        return "map"
    return "sequence"


def parse_settings(text):
    """The `variables` setting from the settings' JSON text.

    Raises `ValueError("invalid settings: ...")` for settings that do not
    fit, like the Rust SDK's `settings::parse` (serde, `deny_unknown_fields`).
    """
    text = _trim(text)
    if not text:
        return list(DEFAULT_VARIABLES)
    try:
        value = _loads(text)
    except (ValueError, RecursionError, OverflowError) as err:
        raise ValueError(f"invalid settings: {err}") from None
    if value is None:
        return list(DEFAULT_VARIABLES)
    if not isinstance(value, _Members):
        raise ValueError(
            f"invalid settings: invalid type: {_describe(value)}, expected struct Settings"
        )
    variables = None
    for key, item in value:
        if key != "variables":
            raise ValueError(
                f"invalid settings: unknown field `{key}`, expected `variables`"
            )
        if variables is not None:
            raise ValueError("invalid settings: duplicate field `variables`")
        if not isinstance(item, list) or isinstance(item, _Members):
            raise ValueError(
                f"invalid settings: invalid type: {_describe(item)}, expected a sequence"
            )
        names = []
        for name in item:
            if not isinstance(name, str):
                raise ValueError(
                    f"invalid settings: invalid type: {_describe(name)}, expected a string"
                )
            names.append(name)
        variables = names
    return list(DEFAULT_VARIABLES) if variables is None else variables


def check_settings(variables):
    """What deserializing cannot check; raises ValueError."""
    if any(not _trim(name) for name in variables):
        raise ValueError("setting `variables` must not contain an empty name")


def _is_on(value):
    if isinstance(value, str):
        return _ascii_lower(_trim(value)) in ON_VALUES
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        # Rust reads the number as an i64: one that does not fit is not on.
        return -(2**63) <= value < 2**63 and value != 0
    return False


def debug_flag(variables, names):
    """The first variable named like a debug flag whose value switches it
    on, or None."""
    if not isinstance(variables, _Members):
        return None
    wanted = {_ascii_lower(n) for n in names}
    for name, value in variables:
        if _is_on(value) and _ascii_lower(name) in wanted:
            return name
    return None


def run(input, log):
    """Evaluates `input` (a `types.Input`); `log(message)` logs at debug
    level. Returns a `types.Evaluation`; raises `ValueError` with the error
    message for an input that cannot be evaluated."""
    variables = parse_settings(input.settings)
    # The rule reads the normalized resources only. The document is not
    # parsed: the host sends the one it parsed itself (valid JSON, at most
    # 100 deep), so checking it again would cost the interpreter most of
    # the call and could never fail.
    findings = []
    functions = 0
    flagged = 0
    for resource in input.resources:
        if resource.resource_type not in FUNCTION_TYPES:
            continue
        functions += 1
        try:
            properties = _loads(resource.properties)
        except (ValueError, RecursionError, OverflowError) as err:
            raise ValueError(
                f"the properties of `{resource.logical_id}` are not valid JSON: {err}"
            ) from None
        env_vars = _get(_get(properties, "Environment"), "Variables")
        if env_vars is None:
            continue
        name = debug_flag(env_vars, variables)
        if name is not None:
            flagged += 1
            findings.append(
                types.Finding(
                    rule_id=RULE,
                    message=f"function `{resource.logical_id}` sets {name} in its environment",
                    resource=resource.logical_id,
                    pointer=resource.pointer,
                    severity=None,
                )
            )
    log(f"{functions} functions checked, {flagged} with a debug flag")
    facts = [types.Fact(name="debug_functions", value=types.FactValue_Integer(flagged))]
    return types.Evaluation(findings=findings, facts=facts)


def _internal(err):
    return f"{NAME}: internal error: {type(err).__name__}: {err}"


class WitWorld(wit_world.WitWorld):
    def metadata(self) -> types.Metadata:
        return types.Metadata(
            name=NAME,
            version=VERSION,
            applies_to=[types.InputKind.DEPLOYMENT],
            rules=[
                types.Rule(
                    id=RULE,
                    category=types.Category.OTHER,
                    severity=types.Severity.MEDIUM,
                    title="Function deploys with a debug flag on",
                    remediation=(
                        "Remove the debug variable from the function's environment "
                        "(and from Globals or the provider's environment), "
                        "or set it to false"
                    ),
                    control="no debug builds in production",
                )
            ],
        )

    def validate_settings(self, settings: str) -> None:
        try:
            check_settings(parse_settings(settings))
        except ValueError as err:
            raise Err(str(err)) from None
        except BaseException as err:  # never trap
            raise Err(_internal(err)) from None

    def evaluate(self, input: types.Input) -> types.Evaluation:
        try:
            return run(input, lambda message: host.log(host.Level.DEBUG, message))
        except ValueError as err:
            raise Err(str(err)) from None
        except BaseException as err:  # never trap
            raise Err(_internal(err)) from None
