"""Generator input and output of contract §7.3, the reply validation and the evidence guard (§7.4).

The output schema is enforced by msgspec: unknown keys, wrong enums, out-of-range numbers,
over-long strings and more than six evidence items are all decode errors.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Final, Literal, get_args

import msgspec

StateType = Literal[
    "stuck_loop", "lost_in_codebase", "ai_dependency_trap", "integration_hell", "analysis_paralysis", "normal"
]
RecommendationType = Literal["change_approach", "map_system", "stop_using_ai", "simplify_problem", "execute"]
EvidenceMetric = Literal[
    "lines_added",
    "lines_deleted",
    "churn_ratio",
    "switch_count",
    "rapid_switch_count",
    "duration_minutes",
    "top_file",
]

DOWNGRADED_TEXT: Final = "Keep going — nothing concerning in the recent activity."
DOWNGRADED_MAX_CONFIDENCE: Final = 0.3
TOP_FILES_IN_INPUT: Final = 5
#: Client-supplied paths are data, not instructions: they are JSON-quoted and cut to this length.
MAX_PATH_CHARS_IN_INPUT: Final = 200


class SessionInput(msgspec.Struct, frozen=True):
    started_at: str
    duration_minutes: int


class TodayInput(msgspec.Struct, frozen=True):
    lines_added: int
    lines_deleted: int
    churn_ratio: float | None
    switch_count: int
    rapid_switch_count: int


class TopFile(msgspec.Struct, frozen=True):
    path: str
    count: int


class GeneratorInput(msgspec.Struct, frozen=True):
    """What a generator sees (and what the Gemini prompt embeds as JSON)."""

    triggered_rule: str
    session: SessionInput
    today: TodayInput
    top_file: str | None
    top_files: list[TopFile]


class Evidence(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    metric: EvidenceMetric
    value: int | float | str


class GeneratorOutput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A generator's verdict; decoding a reply into it validates the §7.3 schema."""

    state_type: StateType
    confidence_score: Annotated[float, msgspec.Meta(ge=0, le=1)]
    recommendation_type: RecommendationType
    recommendation_text: Annotated[str, msgspec.Meta(min_length=1, max_length=240)]
    reasoning: Annotated[str, msgspec.Meta(min_length=1, max_length=800)]
    evidence: Annotated[list[Evidence], msgspec.Meta(max_length=6)]


_output_decoder = msgspec.json.Decoder(GeneratorOutput)


class InvalidGeneratorReply(ValueError):
    """The reply is empty, not JSON, or violates the §7.3 schema."""


def decode_output(reply: str | bytes | None) -> GeneratorOutput:
    """Validate a generator reply against the §7.3 output schema (raises :class:`InvalidGeneratorReply`)."""
    if reply is None or (isinstance(reply, str | bytes) and not reply.strip()):
        raise InvalidGeneratorReply("empty reply")
    try:
        return _output_decoder.decode(reply)
    except msgspec.DecodeError as exc:  # covers non-JSON and schema violations alike
        raise InvalidGeneratorReply(str(exc)) from exc


#: The §7.3 output schema exactly as the contract states it (for documentation and tests).
OUTPUT_JSON_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": [
        "state_type",
        "confidence_score",
        "recommendation_type",
        "recommendation_text",
        "reasoning",
        "evidence",
    ],
    "properties": {
        "state_type": {"enum": list(get_args(StateType))},
        "confidence_score": {"type": "number", "minimum": 0, "maximum": 1},
        "recommendation_type": {"enum": list(get_args(RecommendationType))},
        "recommendation_text": {"type": "string", "minLength": 1, "maxLength": 240},
        "reasoning": {"type": "string", "minLength": 1, "maxLength": 800},
        "evidence": {
            "type": "array",
            "maxItems": 6,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["metric", "value"],
                "properties": {
                    "metric": {"enum": list(get_args(EvidenceMetric))},
                    "value": {"type": ["number", "string"]},
                },
            },
        },
    },
}


def round_half_up(value: float | int, places: int = 2) -> Decimal:
    """``value`` rounded half-up on its shortest decimal form (0.455 → 0.46, not binary 0.45)."""
    quantum = Decimal(1).scaleb(-places)
    return Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def number_text(value: float | int) -> str:
    """A number's text form: shortest round-trip decimal, no exponent, no trailing ``.0``."""
    if isinstance(value, int):
        return str(value)
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def evidence_candidates(payload: GeneratorInput) -> dict[str, float | int | str | None]:
    """The values an evidence item may cite, by metric name (§7.4)."""
    return {
        "lines_added": payload.today.lines_added or 0,
        "lines_deleted": payload.today.lines_deleted or 0,
        "switch_count": payload.today.switch_count or 0,
        "rapid_switch_count": payload.today.rapid_switch_count or 0,
        "churn_ratio": payload.today.churn_ratio,
        "duration_minutes": payload.session.duration_minutes,
        "top_file": payload.top_file,
    }


def evidence_matches(candidate: float | int | str | None, value: float | int | str) -> bool:
    """One evidence item against its input value, by the exact rules of §7.4."""
    if candidate is None:
        return False
    if isinstance(candidate, int | float) and isinstance(value, int | float):
        return round_half_up(candidate) == round_half_up(value)
    left = candidate if isinstance(candidate, str) else number_text(candidate)
    right = value if isinstance(value, str) else number_text(value)
    return left == right


def evidence_mismatches(payload: GeneratorInput, output: GeneratorOutput) -> list[Evidence]:
    """The evidence items that do not match the input (empty: the guard passes)."""
    candidates = evidence_candidates(payload)
    return [item for item in output.evidence if not evidence_matches(candidates[item.metric], item.value)]


def downgrade(output: GeneratorOutput) -> GeneratorOutput:
    """The guard's downgrade: a ``normal`` verdict that keeps only the reasoning."""
    return GeneratorOutput(
        state_type="normal",
        confidence_score=min(output.confidence_score, DOWNGRADED_MAX_CONFIDENCE),
        recommendation_type="execute",
        recommendation_text=DOWNGRADED_TEXT,
        reasoning=output.reasoning,
        evidence=[],
    )


def guard_evidence(payload: GeneratorInput, output: GeneratorOutput) -> tuple[GeneratorOutput, bool]:
    """Apply the evidence guard; returns the (possibly downgraded) output and whether it was downgraded."""
    if evidence_mismatches(payload, output):
        return downgrade(output), True
    return output, False
