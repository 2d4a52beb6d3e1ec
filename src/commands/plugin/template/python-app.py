"""`{{name}}`: a Palisade policy plugin, in Python.

Its one rule, `{{name}}.function-timeout`, asks every Lambda function to set
its `Timeout` (in the template, SAM `Globals` or serverless.yml): the
platform default ends slow calls late or early by surprise. Replace it with
your own rules; `palisade plugin test .` runs `tests/*.yaml`.

The host calls `metadata` when a bundle loads, `validate_settings` once per
bundle, and `evaluate` once per decision, each in a fresh instance. An
uncaught exception traps the instance (a crashed plugin, which denies):
raise `Err(message)` instead, as below.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, types

RULE = "{{name}}.function-timeout"
FUNCTION_TYPES = ("AWS::Lambda::Function", "AWS::Serverless::Function")


def parse_settings(text):
    """`max_seconds` from the settings (JSON text; empty or `{}`: none)."""
    value = json.loads(text) if text.strip() else None
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ValueError("invalid settings: expected an object")
    for key in value:
        if key != "max_seconds":
            raise ValueError(f"invalid settings: unknown field `{key}`, expected `max_seconds`")
    max_seconds = value.get("max_seconds")
    if max_seconds is not None and (
        not isinstance(max_seconds, int) or isinstance(max_seconds, bool) or max_seconds < 1
    ):
        raise ValueError("setting `max_seconds` must be an integer of at least 1")
    return max_seconds


def check(input, max_seconds):
    findings = []
    checked = 0
    for resource in input.resources:  # the deployment, normalized
        if resource.resource_type not in FUNCTION_TYPES:
            continue
        checked += 1
        properties = json.loads(resource.properties)
        timeout = properties.get("Timeout")
        problem = None
        if timeout is None:
            problem = "sets no timeout"
        elif isinstance(timeout, int) and max_seconds is not None and timeout > max_seconds:
            problem = f"times out after {timeout} s, above {max_seconds} s"
        if problem:
            findings.append(
                types.Finding(
                    rule_id=RULE,
                    message=f"function `{resource.logical_id}` {problem}",
                    resource=resource.logical_id,
                    pointer=resource.pointer,  # placed at the resource's line
                    severity=None,
                )
            )
    host.log(host.Level.DEBUG, f"{checked} functions checked")
    return types.Evaluation(findings=findings, facts=[])


class WitWorld(wit_world.WitWorld):
    def metadata(self) -> types.Metadata:
        return types.Metadata(
            name="{{name}}",
            version="0.1.0",
            applies_to=[types.InputKind.DEPLOYMENT],
            rules=[
                types.Rule(
                    id=RULE,
                    category=types.Category.RESILIENCE,
                    severity=types.Severity.LOW,
                    title="Function without an explicit timeout",
                    remediation="Set `Timeout` on the function (or in SAM Globals / the serverless.yml provider)",
                    control="functions fail fast and predictably",
                )
            ],
        )

    def validate_settings(self, settings: str) -> None:
        try:
            parse_settings(settings)
        except Exception as err:
            raise Err(str(err)) from None

    def evaluate(self, input: types.Input) -> types.Evaluation:
        try:
            return check(input, parse_settings(input.settings))
        except Exception as err:
            raise Err(f"{type(err).__name__}: {err}") from None
