"""``ingest_batch``: one telemetry request from raw body bytes to a 202 (contract §3.6).

Steps, in the contract's order: decode the envelope (400/413 on structural problems), check the
JWT caller still exists (404), validate every event (§4.6 checks 1–8), claim and widen sessions in
one DB transaction (check 9), build the Arrow tables column-wise, write them to the lake writer's
spool, and answer once the caller has waited for their fsync. The body is decoded with module-level
msgspec decoders: ``events`` once as raw byte slices (kept verbatim in the ``raw`` column) and once
as plain Python values for validation.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.orm import Session, sessionmaker

from devflow.kernel import instruments
from devflow.kernel.clock import Clock, epoch_us, utc_now
from devflow.kernel.errors import InvalidJSON, NotFound, TooLarge, ValidationFailed
from devflow.kernel.ids import uuid7
from devflow.kernel.jsontext import MalformedJSON, normalise_json_text
from devflow.lake.spool.writer import Append, LakeWriter
from devflow.telemetry.arrow import fingerprint, quarantine_table, spool_events_columns, typed_struct
from devflow.telemetry.privacy import KEEP, redact_events, redact_raw
from devflow.telemetry.schema import EVENTS_DIR, QUARANTINE_DIR
from devflow.telemetry.sessions import SessionCache, UserGone, claim_sessions, session_spans
from devflow.telemetry.validation import validate_events

MAX_EVENTS = 10_000
MAX_LISTED_REJECTIONS = 100
OWNERSHIP_CONFLICT = "session_ownership_conflict"


class _Envelope(msgspec.Struct):
    """The top level: only ``events`` matters; ``workspace``/``machine_timestamp``/``session`` are
    optional and feed nothing, so they are not even decoded."""

    events: msgspec.Raw = msgspec.Raw()


# Tells the fingerprint whether msgspec's fast canonical encoder is exact for this request: it is
# unless the events hold a float (msgspec spells some floats differently from Python's json).
_floats = threading.local()


def _note_float(text: str) -> float:
    _floats.seen = True
    return float(text)


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_syntax_decoder = msgspec.json.Decoder(msgspec.Raw)
_events_decoder = msgspec.json.Decoder(list[Any], float_hook=_note_float)
_raw_events_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_response_encoder = msgspec.json.Encoder()


class RejectedEvent(msgspec.Struct):
    """One rejected event: its index in ``events`` and the reason of §4.6."""

    index: int
    reason: str


class IngestResponse(msgspec.Struct, omit_defaults=False):
    """The 202 body: ``rejected`` lists the first 100 rejections; ``rejected_count`` counts all."""

    message: str
    accepted_count: int
    rejected_count: int
    rejected: list[RejectedEvent]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent the batch; ``via_jwt`` callers must still exist (404 otherwise)."""

    user_id: uuid.UUID
    via_jwt: bool


def decode_events(body: bytes | None) -> tuple[list[Any], list[msgspec.Raw], bool]:
    """Checks 2–5 of §3.6 on the body: the events as values and as raw JSON slices, and whether any
    float was seen. ``None`` means the body is absent (no JSON content type, or 0 bytes)."""
    if body is None:
        raise ValidationFailed("body must be a JSON object")
    try:
        body = normalise_json_text(body)
    except MalformedJSON as exc:
        raise InvalidJSON() from exc
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.ValidationError as exc:
        try:
            _syntax_decoder.decode(body)  # a non-object prefix is reported only if the JSON is valid
        except (msgspec.DecodeError, RecursionError):
            raise InvalidJSON() from exc
        raise ValidationFailed("body must be a JSON object") from exc
    except (msgspec.DecodeError, RecursionError) as exc:
        raise InvalidJSON() from exc
    raw_events = envelope.events
    if not raw_events:
        raise ValidationFailed("events must be a non-empty array")
    _floats.seen = False
    try:
        events = _events_decoder.decode(raw_events)
    except msgspec.ValidationError as exc:
        raise ValidationFailed("events must be a non-empty array") from exc
    if not events:
        raise ValidationFailed("events must be a non-empty array")
    if len(events) > MAX_EVENTS:
        raise TooLarge(message=f"events must contain at most {MAX_EVENTS} items")
    raws = _raw_events_decoder.decode(raw_events)
    return events, raws, bool(getattr(_floats, "seen", True))


def _quarantined(raw: bytes, privacy: str) -> bytes:
    return raw if privacy == KEEP else redact_raw(raw)


def ingest_batch(
    db: sessionmaker[Session],
    writer: LakeWriter,
    caller: Caller,
    body: bytes | None,
    sessions: SessionCache | None = None,
    clock: Clock = utc_now,
    privacy: str = KEEP,
    hash_key: bytes = b"",
) -> tuple[int, bytes]:
    """Process one ``POST /telemetry`` body: (the lake writer's ticket, the encoded 202 body).

    The rows are written to the spool but the 202 may be sent only once they are durable:
    ``writer.sync(ticket)`` or ``await writer.wait_durable(ticket)`` first (the route waits on the
    event loop, so no thread is held during the fsync). Raises the contract's 400/404/413 errors,
    and :class:`~devflow.lake.storage.LakeUnavailable` when the lake cannot take the batch.
    """
    received_at = clock()
    events, raws, saw_float = decode_events(body)
    received_us = epoch_us(received_at)
    batch = validate_events(events, received_us)

    spans = session_spans(batch.session_ids, batch.timestamps_us)
    try:
        conflicts = claim_sessions(
            db, caller.user_id, spans, check_user_exists=caller.via_jwt, cache=sessions
        )
    except UserGone:
        raise NotFound("User not found") from None

    rejected = batch.rejected
    keep: list[int] = list(range(len(batch.indexes)))
    if conflicts:
        keep = [i for i, sid in enumerate(batch.session_ids) if sid not in conflicts]
        rejected = sorted(
            rejected
            + [
                (batch.indexes[i], OWNERSHIP_CONFLICT)
                for i, sid in enumerate(batch.session_ids)
                if sid in conflicts
            ]
        )

    user_id = str(caller.user_id)
    batch_id = str(uuid7())
    accepted_events = batch.events if not conflicts else [batch.events[i] for i in keep]
    indexes = batch.indexes if not conflicts else [batch.indexes[i] for i in keep]
    appends: list[Append] = []
    # Path privacy before anything is stored or fingerprinted (see devflow.telemetry.privacy).
    accepted_raws = redact_events(accepted_events, [bytes(raws[i]) for i in indexes], privacy, hash_key)
    if accepted_events:
        events_rows = spool_events_columns(
            user_id=user_id,
            received_at=received_at,
            batch_id=batch_id,
            batch_indexes=indexes,
            session_ids=batch.session_ids if not conflicts else [batch.session_ids[i] for i in keep],
            kinds=[e["type"] for e in accepted_events],
            timestamps_us=batch.timestamps_us if not conflicts else [batch.timestamps_us[i] for i in keep],
            fingerprints=[fingerprint(e, may_contain_floats=saw_float) for e in accepted_events],
            raws=accepted_raws,
        )
        # The typed columns travel in memory next to the spooled rows (the flush parses nothing).
        appends.append(Append(EVENTS_DIR, events_rows, memo=typed_struct(accepted_events)))
    if rejected:
        quarantine = quarantine_table(
            user_id=user_id,
            received_at=received_at,
            batch_id=batch_id,
            batch_indexes=[index for index, _ in rejected],
            reasons=[reason for _, reason in rejected],
            raws=[
                bytes(raws[index]) if privacy == KEEP else redact_raw(bytes(raws[index]))
                for index, _ in rejected
            ],
        )
        appends.append(Append(QUARANTINE_DIR, quarantine))
    ticket = writer.write(*appends)
    instruments.count_events(len(accepted_events), (reason for _, reason in rejected))
    return ticket, _response_encoder.encode(
        IngestResponse(
            message="Telemetry accepted",
            accepted_count=len(accepted_events),
            rejected_count=len(rejected),
            rejected=[
                RejectedEvent(index=index, reason=reason)
                for index, reason in rejected[:MAX_LISTED_REJECTIONS]
            ],
        )
    )
