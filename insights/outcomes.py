"""The outcome rules: which requests a conversation held, and how each one ended.

Input: the Rasa events of one conversation (one session of one sender), in
order. Output: its demand events (every user message), its requests and one
outcome for each request and for the conversation.

Requests
--------
A request is a run of messages for one intent or journey. Every user event is a
demand event except those a back-office system injects through Rasa's
``trigger_intent`` API (``EXTERNAL_…`` intents, text ``EXTERNAL: …``).

* A message whose intent is a service intent (the demand map says value,
  failure or marker), ``out_of_scope`` or ``nlu_fallback`` starts a new
  request, except that
  - while a journey's form is active, a message of the journey's own intent
    or a ``nlu_fallback`` (a garbled answer) belongs to the journey;
  - the same intent again while its request is still open (no outcome
    marker, not stopped) continues that request;
  - every ``nlu_fallback`` outside a form is a request of its own.
* Any other message (``inform``, ``affirm``, ``deny``, ``thank``, ``stop``…)
  belongs to the journey whose form is active, else to the latest request if
  it is still open, else to no request (small talk: "hello", or "thanks" after
  a finished request).
* A form belongs to the request that was current when it was activated. When
  it is activated again after an interruption, its request is current again,
  so answers after the detour count for the journey.

Outcome of a request (the first rule that applies)
--------------------------------------------------
1. An explicit marker: the ``outcome`` slot set by an action,
   ``{"outcome": ..., "intent": ..., "step": ..., "system": ...}``. It applies to
   the latest request of its ``intent`` (else the request of the latest
   message). The last marker of a request wins (a retry that succeeds after a
   failure is completed).
2. ``nlu_fallback`` -> ``not_understood``.
3. ``out_of_scope`` -> ``unsupported``, with the topic from the
   ``unsupported_topic`` slot (set by ``action_out_of_scope``), else from the
   demand map's words, else none.
4. ``action_stop`` ran while the request was current or its form active ->
   ``cancelled`` (at the form's step if there was one).
5. Its form was still active when the conversation ended (the resident moved
   on or the session expired) -> ``abandoned`` at the last ``requested_slot``
   (else the form's name).
6. The assistant never replied after the request's latest message ->
   ``integration_failed`` with system ``assistant`` (an action that failed:
   Rasa carries on without a reply).
7. ``request_human`` (a marker intent) answered -> ``handed_over``.
8. Otherwise, answered -> ``informed``: a question answered, or a transaction
   the assistant only signposted. Nothing is ``completed`` without a marker.

Outcome of the conversation: that of the request it ended with (the latest
activity); a conversation with no request ("hello", then nothing) is
``abandoned`` at step ``no_request``.

Service of a request: from the demand map; for intents that serve any
service (``check_request_status``, ``make_complaint``, ``cancel_booking``) the
prefix of a reference the resident gave (``GW-…`` is waste), else the service
of the conversation's previous request, else as mapped (``any``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from insights.demand_map import DemandMap
from insights.records import OUTCOMES, MessageRecord, RequestRecord

FALLBACK = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
NO_REQUEST = "no_request"
#: Intents Rasa's trigger_intent API injects for back-office events: not demand.
EXTERNAL = "EXTERNAL_"
#: Services an intent can belong to any of, told apart by reference or context.
MULTI_SERVICE = frozenset({"any", "bookings"})
#: Reference prefixes (data/README.md) -> service.
REFERENCE_SERVICES = {
    "BK": "leisure",
    "LB": "libraries",
    "GW": "waste",
    "MB": "waste",
    "CT": "council_tax",
    "HO": "contact",
    "CB": "contact",
}
#: Services that say nothing about which council service a chase is about.
NOT_A_SERVICE = frozenset({"general", "unknown", "unsupported", "contact", *MULTI_SERVICE})


@dataclass
class _Request:
    seq: int
    intent: str
    started: float
    ended: float
    channel: str
    confidence: float | None
    texts: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    messages: int = 0
    answered: bool = False
    stopped: bool = False
    stopped_at: str | None = None
    form: str | None = None
    form_active: bool = False
    requested_slot: str | None = None
    topic_slot: str | None = None
    marker: Mapping[str, Any] | None = None

    @property
    def open(self) -> bool:
        return self.marker is None and not self.stopped


@dataclass(frozen=True)
class Decided:
    messages: tuple[MessageRecord, ...]
    requests: tuple[RequestRecord, ...]
    outcome: str
    step: str | None
    channel: str
    started: float
    ended: float


def decide(events: Sequence[Mapping[str, Any]], demand_map: DemandMap) -> Decided | None:
    """The demand events, requests and outcomes of one conversation; ``None`` if nobody spoke."""
    walk = _Walk(demand_map)
    for event in events:
        walk.step(event)
    if not walk.messages:
        return None
    requests = tuple(_record(r, demand_map, walk.requests[:i]) for i, r in enumerate(walk.requests))
    last = max(requests, key=lambda r: (r.ended, r.seq)) if requests else None
    times = [float(e["timestamp"]) for e in events if isinstance(e.get("timestamp"), (int, float))]
    times = times or [m.ts for m in walk.messages]
    return Decided(
        messages=tuple(walk.messages),
        requests=requests,
        outcome=last.outcome if last else "abandoned",
        step=last.step if last else NO_REQUEST,
        channel=walk.channel or "unknown",
        started=min(times),
        ended=max(times),
    )


class _Walk:
    """One pass over a conversation's events, gathering the evidence for the rules."""

    def __init__(self, demand_map: DemandMap) -> None:
        self.dm = demand_map
        self.requests: list[_Request] = []
        self.messages: list[MessageRecord] = []
        self.channel: str | None = None
        self.current: _Request | None = None  # the request of the latest message
        self.form_owner: dict[str, _Request] = {}
        self.active_form: str | None = None

    def owner(self) -> _Request | None:
        return self.form_owner.get(self.active_form) if self.active_form else None

    def step(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        ts = event.get("timestamp")
        ts = float(ts) if isinstance(ts, (int, float)) else None
        if kind == "user":
            self.user(event, ts)
        elif kind == "bot" and self.current is not None:
            self.current.answered = True
            self.current.ended = ts or self.current.ended
        elif kind == "action" and event.get("name") == "action_stop":
            target = self.owner() or self.current
            if target is not None and target.open:
                target.stopped = True
                target.stopped_at = target.requested_slot if target.form_active else None
        elif kind == "slot":
            self.slot(str(event.get("name")), event.get("value"))
        elif kind == "active_loop":
            self.form(event.get("name"))

    def user(self, event: Mapping[str, Any], ts: float | None) -> None:
        parse = event.get("parse_data") or {}
        intent = (parse.get("intent") or {}).get("name") or FALLBACK
        if intent.startswith(EXTERNAL) or str(event.get("text") or "").startswith("EXTERNAL: "):
            return  # a back-office system talking (e.g. a payment finished), not the resident
        confidence = (parse.get("intent") or {}).get("confidence")
        entities = [e for e in parse.get("entities") or [] if isinstance(e, Mapping) and e.get("entity")]
        self.channel = self.channel or event.get("input_channel") or None
        when = ts if ts is not None else (self.messages[-1].ts if self.messages else 0.0)
        target = self.target(intent, when, confidence)
        if target is not None:
            target.messages += 1
            target.answered = False
            target.ended = when
            text = event.get("text") or ""
            if text and not text.startswith("/"):
                target.texts.append(text)
            target.references += [str(e.get("value")) for e in entities if e["entity"] == "booking_reference"]
        self.current = target or self.current
        self.messages.append(
            MessageRecord(
                ts=when,
                intent=intent,
                confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
                entity_types=",".join(sorted({str(e["entity"]) for e in entities})) or None,
                request_seq=target.seq if target is not None else None,
            )
        )

    def target(self, intent: str, ts: float, confidence: float | None) -> _Request | None:
        owner = self.owner()
        starts_request = intent in (FALLBACK, OUT_OF_SCOPE) or self.dm.is_service_intent(intent)
        if not starts_request:
            return owner or (self.current if self.current is not None and self.current.open else None)
        if owner is not None and intent in (owner.intent, FALLBACK):
            return owner
        if (
            intent != FALLBACK
            and self.current is not None
            and self.current.intent == intent
            and self.current.open
        ):
            return self.current
        request = _Request(
            seq=len(self.requests),
            intent=intent,
            started=ts,
            ended=ts,
            channel=self.channel or "unknown",
            confidence=confidence,
        )
        self.requests.append(request)
        return request

    def slot(self, name: str, value: Any) -> None:
        if name == "outcome":
            if isinstance(value, Mapping) and value.get("outcome") in OUTCOMES:
                target = self.latest_of(value.get("intent")) or self.current
                if target is not None:
                    target.marker = value
        elif name == "requested_slot":
            target = self.owner()
            if target is not None and value:
                target.requested_slot = str(value)
        elif name == "unsupported_topic" and value and self.current is not None:
            self.current.topic_slot = str(value)

    def latest_of(self, intent: Any) -> _Request | None:
        return next((r for r in reversed(self.requests) if r.intent == intent), None) if intent else None

    def form(self, name: Any) -> None:
        if not name:
            owner = self.owner()
            if owner is not None:
                owner.form_active = False
            self.active_form = None
            return
        name = str(name)
        owner = self.form_owner.get(name)
        if owner is None:
            owner = self.current
            if owner is None:  # a form started by a rule before any request: it is the request
                return
            self.form_owner[name] = owner
            owner.form = name
        else:
            self.current = owner  # back to the journey after a detour
        owner.form_active = True
        self.active_form = name


def _outcome(r: _Request, dm: DemandMap) -> tuple[str, str | None, str | None, str | None]:
    """(outcome, step, topic, system) by the rules in the module docstring."""
    if r.marker is not None:
        marker = r.marker
        return (str(marker["outcome"]), _str(marker.get("step")), None, _str(marker.get("system")))
    if r.intent == FALLBACK:
        return "not_understood", None, None, None
    if r.intent == OUT_OF_SCOPE:
        topic = r.topic_slot or next((t.key for t in _topics(dm, r.texts)), None)
        return "unsupported", None, topic, None
    if r.stopped:
        return "cancelled", r.stopped_at, None, None
    if r.form_active:
        return "abandoned", r.requested_slot or r.form, None, None
    if not r.answered:
        return "integration_failed", None, None, "assistant"
    if dm.info(r.intent).demand == "marker":
        return "handed_over", None, None, None
    return "informed", None, None, None


def _topics(dm: DemandMap, texts: Iterable[str]) -> Iterable[Any]:
    for text in texts:
        topic = dm.unsupported_topic(text)
        if topic is not None:
            yield topic


def _service(r: _Request, dm: DemandMap, earlier: Sequence[_Request]) -> str:
    service = dm.info(r.intent).service
    if service not in MULTI_SERVICE:
        return service
    for reference in r.references:
        prefix = reference.strip().upper()[:2]
        if prefix in REFERENCE_SERVICES:
            return REFERENCE_SERVICES[prefix]
    for previous in reversed(earlier):
        previous_service = dm.info(previous.intent).service
        if previous_service not in NOT_A_SERVICE:
            return previous_service
    return service


def _record(r: _Request, dm: DemandMap, earlier: Sequence[_Request]) -> RequestRecord:
    info = dm.info(r.intent)
    outcome, step, topic, system = _outcome(r, dm)
    # What was asked: the first message, and for a failed integration all of them (for follow-up).
    texts = r.texts if outcome == "integration_failed" else r.texts[:1]
    return RequestRecord(
        seq=r.seq,
        started=r.started,
        ended=r.ended,
        channel=r.channel,
        intent=r.intent,
        service=_service(r, dm, earlier),
        category=info.category,
        demand=info.demand,
        outcome=outcome,
        step=step,
        topic=topic,
        system=system,
        messages=r.messages,
        confidence=float(r.confidence) if isinstance(r.confidence, (int, float)) else None,
        text=" / ".join(texts) or None,
    )


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
