"""Conformance of an event (any JSON value) to the Decision Event Schema 0.3.0.

Written from the specification (`schema/decision-event.schema.json`, JSON Schema draft 2020-12,
and `docs/properties.md` of `governance-evidence/decision-event-schema`): the required groups
and fields, the type of every property DES defines, its enums, patterns and ranges, the three
conditional rules of its `allOf`, and `date-time` formats (an annotation in the JSON Schema,
checked here because DES describes them as ISO 8601 / RFC 3339 timestamps). Extensions
(properties DES does not define) are allowed, as `additionalProperties: true` says.

`des_violations` never raises: a malformed event gives violations, each naming its rule and path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["DES_RULES", "Violation", "des_violations"]

_SEMVER = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
_LOGIC_CORE = ("rule_based", "ml_inference", "hybrid", "policy_evaluation", "human_decision")
_LOGIC_NS = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

# The rules, by name: what a violation of each means (the README lists them).
DES_RULES = {
    "type": "a property has the wrong JSON type",
    "required": "a required group or field is missing",
    "pattern": "a string does not match the pattern DES gives",
    "enum": "a value is not one of those DES allows",
    "range": "a number is outside the range DES allows",
    "format": "a timestamp is not an RFC 3339 date-time",
    "logic_type": "logic_type is neither a core type nor a namespaced 'ns:type'",
    "override_complete": "override_occurred is true but the override record is incomplete",
    "human_attribution": "a human_decision lacks override_actor or override_rationale",
    "tier_risk": "a sampled or full event lacks decision_quality_indicators.decision_risk_level",
}


@dataclass(frozen=True)
class Violation:
    """One broken rule: its name (a key of DES_RULES), where, and what is wrong."""

    rule: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [des:{self.rule}]"


Check = Callable[[Any, str, list[Violation]], None]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _typed(*allowed: str) -> Check:
    """A check that the value has one of the JSON types (an integer is also a number)."""
    accepted = set(allowed) | ({"integer"} if "number" in allowed else set())

    def check(value: Any, path: str, out: list[Violation]) -> None:
        kind = _json_type(value)
        if kind not in accepted:
            out.append(Violation("type", path, f"is {kind}, must be {' or '.join(allowed)}"))

    return check


STRING, OBJECT, ARRAY, BOOLEAN = (
    _typed("string"),
    _typed("object"),
    _typed("array"),
    _typed("boolean"),
)
NULLABLE_STRING = _typed("string", "null")


def _all(*checks: Check) -> Check:
    def check(value: Any, path: str, out: list[Violation]) -> None:
        for one in checks:
            before = len(out)
            one(value, path, out)
            if len(out) > before:
                return  # a wrong type makes the further checks of the value meaningless

    return check


def _date_time(nullable: bool = False) -> Check:
    def check(value: Any, path: str, out: list[Violation]) -> None:
        if value is None and nullable:
            return
        if not isinstance(value, str):
            kind = _json_type(value)
            out.append(Violation("type", path, f"is {kind}, must be a date-time string"))
            return
        if not _RFC3339.match(value):
            out.append(Violation("format", path, f"{value!r} is not an RFC 3339 date-time"))
            return
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            out.append(Violation("format", path, f"{value!r} is not a valid date-time"))

    return check


def _number_in(low: float, high: float | None, nullable: bool = False) -> Check:
    kind_check = _typed("number", "null") if nullable else _typed("number")

    def check(value: Any, path: str, out: list[Violation]) -> None:
        before = len(out)
        kind_check(value, path, out)
        if len(out) > before or value is None:
            return
        if value < low or (high is not None and value > high):
            bound = f"[{low}, {high}]" if high is not None else f">= {low}"
            out.append(Violation("range", path, f"{value} is outside {bound}"))

    return check


def _enum(*values: str) -> Check:
    def check(value: Any, path: str, out: list[Violation]) -> None:
        if value not in values:
            out.append(Violation("enum", path, f"{value!r} is not one of {', '.join(values)}"))

    return check


def _array_of(item: Check) -> Check:
    def check(value: Any, path: str, out: list[Violation]) -> None:
        if not isinstance(value, list):
            out.append(Violation("type", path, f"is {_json_type(value)}, must be array"))
            return
        for index, element in enumerate(value):
            item(element, f"{path}[{index}]", out)

    return check


def _object(properties: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """An object: its required keys, and each property DES defines checked where present."""

    def check(value: Any, path: str, out: list[Violation]) -> None:
        if not isinstance(value, dict):
            out.append(Violation("type", path, f"is {_json_type(value)}, must be object"))
            return
        for name in required:
            if name not in value:
                out.append(Violation("required", f"{path}.{name}", "is required"))
        for name, prop in properties.items():
            if name in value:
                prop(value[name], f"{path}.{name}", out)

    return check


STRINGS = _array_of(STRING)
_NOTE = {"_recoverability_note": STRING}
_CONTRACT = _object(
    {k: STRING for k in ("protocol", "schema_version", "sla", "data_contract", "failure_mode")}
)


def _logic_type(value: Any, path: str, out: list[Violation]) -> None:
    # oneOf: the core enum, or a string matching the namespace pattern (never both).
    if value in _LOGIC_CORE or (isinstance(value, str) and _LOGIC_NS.match(value)):
        return
    out.append(
        Violation(
            "logic_type", path, f"{value!r} is not one of {', '.join(_LOGIC_CORE)} nor 'ns:type'"
        )
    )


def _any(value: Any, path: str, out: list[Violation]) -> None:
    """DES leaves the type of outputs open."""


GROUPS: dict[str, Check] = {
    "decision_context": _object(
        {
            "decision_id": STRING,
            "decision_type": STRING,
            "trigger": STRING,
            "inputs": _array_of(
                _object(
                    {k: STRING for k in ("input_id", "input_type", "input_source", "input_version")}
                )
            ),
            "environment": OBJECT,
            "available_inputs": STRINGS,
            "alternatives_considered": STRINGS,
            "constraints_operative": STRINGS,
            **_NOTE,
        },
        required=("decision_id", "decision_type"),
    ),
    "decision_logic": _object(
        {
            "logic_type": _logic_type,
            "output": _any,
            "rule_path": _array_of(
                _object({k: STRING for k in ("rule_id", "rule_version", "rule_result")})
            ),
            "model_inference": _object(
                {
                    "model_id": STRING,
                    "model_version": STRING,
                    "feature_vector_hash": STRING,
                    "confidence": _number_in(0, 1, nullable=True),
                }
            ),
            "policy_evaluation": _object(
                {k: STRING for k in ("policy_id", "policy_version", "policy_engine")}
            ),
            "combination_method": STRING,
            "output_alternatives": ARRAY,
            "rule_version": STRING,
            "parameters": OBJECT,
            "thresholds": OBJECT,
            **_NOTE,
        },
        required=("logic_type", "output"),
    ),
    "decision_boundary": _object(
        {
            "upstream_decisions": _array_of(
                _object(
                    {
                        "decision_id": STRING,
                        "system_id": STRING,
                        "coupling_type": STRING,
                        "boundary_contract": _CONTRACT,
                    }
                )
            ),
            "downstream_consumers": _array_of(
                _object(
                    {
                        "system_id": STRING,
                        "contract_version": STRING,
                        "boundary_contract": _CONTRACT,
                    }
                )
            ),
            "contributing_subsystems": STRINGS,
            "external_dependencies": STRINGS,
            **_NOTE,
        }
    ),
    "decision_quality_indicators": _object(
        {
            "confidence_score": _number_in(0, 1, nullable=True),
            "confidence_components": _array_of(OBJECT),
            "data_quality": OBJECT,
            "decision_risk_level": _all(STRING, _enum("low", "medium", "high", "critical")),
            "threshold_alerts": STRINGS,
            "uncertainty_flags": STRINGS,
            "ground_truth_available": BOOLEAN,
            **_NOTE,
        }
    ),
    "human_override_record": _object(
        {
            "override_occurred": BOOLEAN,
            "override_type": STRING,
            "override_actor": _object(
                {k: STRING for k in ("actor_id", "actor_role", "authorization_level")}
            ),
            "original_output": _any,
            "overridden_output": _any,
            "override_rationale": STRING,
            "override_timestamp": _date_time(),
            "time_to_override": STRING,
            "override_decision": NULLABLE_STRING,
            "independence_assessment": NULLABLE_STRING,
            "basis_for_deviation": NULLABLE_STRING,
            **_NOTE,
        },
        required=("override_occurred",),
    ),
    "temporal_metadata": _object(
        {
            "event_timestamp": _date_time(),
            "processing_duration_ms": _number_in(0, None),
            "sequence_number": _all(_typed("integer"), _number_in(0, None)),
            "hash_chain": _object(
                {"previous_hash": NULLABLE_STRING, "current_hash": STRING, "algorithm": STRING},
                required=("current_hash", "algorithm"),
            ),
            "evidence_tier": _all(STRING, _enum("lightweight", "sampled", "full")),
            "retention_policy": _object({"minimum_retention": STRING, "classification": STRING}),
            "digital_signature": _object(
                {
                    k: STRING
                    for k in ("signer_id", "signature_value", "algorithm", "certificate_ref")
                }
            ),
            "decision_timestamp": _date_time(),
            "evidence_availability_timestamp": _date_time(nullable=True),
            "ground_truth_arrival_timestamp": _date_time(nullable=True),
            **_NOTE,
        },
        required=("event_timestamp", "sequence_number", "hash_chain", "evidence_tier"),
    ),
}
_REQUIRED = ("schema_version", "decision_context", "decision_logic", "human_override_record",
             "temporal_metadata")  # fmt: skip


def _conditionals(event: dict[str, Any], out: list[Violation]) -> None:
    """The three `allOf` rules: override fields, human attribution, risk level for tier 2+."""
    record = event.get("human_override_record")
    logic = event.get("decision_logic")
    record = record if isinstance(record, dict) else {}
    if record.get("override_occurred") is True:
        for name in ("original_output", "overridden_output", "override_timestamp",
                     "override_actor", "override_rationale"):  # fmt: skip
            if name not in record:
                out.append(
                    Violation(
                        "override_complete",
                        f"human_override_record.{name}",
                        "is required when override_occurred is true",
                    )
                )
    if isinstance(logic, dict) and logic.get("logic_type") == "human_decision":
        for name in ("override_occurred", "override_actor", "override_rationale"):
            if name not in record:
                out.append(
                    Violation(
                        "human_attribution",
                        f"human_override_record.{name}",
                        "is required when logic_type is human_decision",
                    )
                )
    temporal = event.get("temporal_metadata")
    if isinstance(temporal, dict) and temporal.get("evidence_tier") in ("sampled", "full"):
        quality = event.get("decision_quality_indicators")
        if not isinstance(quality, dict) or "decision_risk_level" not in quality:
            out.append(
                Violation(
                    "tier_risk",
                    "decision_quality_indicators.decision_risk_level",
                    f"is required at evidence tier {temporal['evidence_tier']!r}",
                )
            )


def des_violations(event: Any) -> list[Violation]:
    """Every way the event breaks DES 0.3.0 (empty when it conforms); never raises."""
    out: list[Violation] = []
    if not isinstance(event, dict):
        return [Violation("type", "$", f"is {_json_type(event)}, must be object")]
    for name in _REQUIRED:
        if name not in event:
            out.append(Violation("required", name, "is required"))
    if "schema_version" in event:
        version = event["schema_version"]
        if not isinstance(version, str):
            out.append(
                Violation("type", "schema_version", f"is {_json_type(version)}, must be string")
            )
        elif not _SEMVER.match(version):
            out.append(
                Violation("pattern", "schema_version", f"{version!r} is not MAJOR.MINOR.PATCH")
            )
    for name, check in GROUPS.items():
        if name in event:
            check(event[name], name, out)
    _conditionals(event, out)
    return out
