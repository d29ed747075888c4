"""NLU metrics on a held-out file never used for training.

    python -m tests.tools.evaluate_nlu --model models --data tests/nlu/heldout.yml

Prints intent accuracy and macro-F1, the most frequent confusion pairs, the
share of non-council messages rejected (``nlu_fallback`` or
``out_of_scope``) and the share of council messages wrongly rejected, each
against its goal. A prediction of ``nlu_fallback`` counts as a rejection:
right for an ``out_of_scope`` example, wrong for any other.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import latest_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

REJECTIONS = {"nlu_fallback", "out_of_scope"}
GOALS = {"macro_f1": 0.95, "non_council_rejected": 0.90, "council_wrongly_rejected": 0.05}


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    pairs: Counter = field(default_factory=Counter)
    per_intent: dict[str, Counter] = field(default_factory=dict)
    non_council: int = 0
    non_council_rejected: int = 0
    council: int = 0
    council_rejected: int = 0
    errors: list[tuple[str, str, str, float]] = field(default_factory=list)

    def add(self, text: str, truth: str, predicted: str, confidence: float) -> None:
        scored = "out_of_scope" if predicted in REJECTIONS else predicted
        self.total += 1
        self.correct += scored == truth
        for name, key in ((truth, "support"), (scored, "predicted")):
            self.per_intent.setdefault(name, Counter())[key] += 1
        if scored == truth:
            self.per_intent[truth]["tp"] += 1
        else:
            self.pairs[(truth, predicted)] += 1
            self.errors.append((text, truth, predicted, confidence))
        if truth == "out_of_scope":
            self.non_council += 1
            self.non_council_rejected += predicted in REJECTIONS
        else:
            self.council += 1
            self.council_rejected += predicted in REJECTIONS

    def f1(self, intent: str) -> float:
        c = self.per_intent.get(intent, Counter())
        precision = c["tp"] / c["predicted"] if c["predicted"] else 0.0
        recall = c["tp"] / c["support"] if c["support"] else 0.0
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    def summary(self) -> dict[str, float]:
        intents = [i for i, c in self.per_intent.items() if c["support"]]
        return {
            "examples": self.total,
            "accuracy": self.correct / self.total,
            "macro_f1": sum(self.f1(i) for i in intents) / len(intents),
            "non_council_rejected": self.non_council_rejected / max(1, self.non_council),
            "council_wrongly_rejected": self.council_rejected / max(1, self.council),
        }


async def parse_all(model: Path, texts: list[str]) -> list[dict]:
    import structlog
    from rasa.core.agent import Agent

    # Rasa logs every parse at debug level through structlog: keep the output readable.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def evaluate(model: Path, data: Path) -> Report:
    from rasa.shared.nlu.training_data.loading import load_data

    examples = [(m.get("text"), m.get("intent")) for m in load_data(str(data)).intent_examples]
    parsed = asyncio.run(parse_all(model, [t for t, _ in examples]))
    report = Report()
    for (text, truth), result in zip(examples, parsed, strict=True):
        intent = result.get("intent") or {}
        report.add(text, truth, intent.get("name") or "nlu_fallback", float(intent.get("confidence") or 0.0))
    return report


def print_report(report: Report, model: Path, data: Path, show_errors: int) -> bool:
    s = report.summary()
    print(f"NLU evaluation of {model.name} on {data} ({s['examples']} held-out examples)")
    print(f"  intent accuracy                 {s['accuracy']:.3f}")
    ok_f1 = s["macro_f1"] >= GOALS["macro_f1"]
    ok_rej = s["non_council_rejected"] >= GOALS["non_council_rejected"]
    ok_wrong = s["council_wrongly_rejected"] <= GOALS["council_wrongly_rejected"]
    print(
        f"  intent macro-F1                 {s['macro_f1']:.3f}   goal >= 0.95  "
        f"{'met' if ok_f1 else 'NOT MET'}"
    )
    print(
        f"  non-council messages rejected   {s['non_council_rejected']:.1%}   goal >= 90%   "
        f"{'met' if ok_rej else 'NOT MET'}  ({report.non_council_rejected}/{report.non_council})"
    )
    print(
        f"  council messages rejected       {s['council_wrongly_rejected']:.1%}   goal <= 5%    "
        f"{'met' if ok_wrong else 'NOT MET'}  ({report.council_rejected}/{report.council})"
    )
    print("  confusion pairs (true -> predicted: count):")
    for (truth, predicted), count in report.pairs.most_common(12):
        print(f"    {truth} -> {predicted}: {count}")
    print("  lowest F1 by intent:")
    for intent in sorted((i for i, c in report.per_intent.items() if c["support"]), key=report.f1)[:6]:
        print(f"    {intent}: {report.f1(intent):.3f}")
    if show_errors:
        print("  errors:")
        for text, truth, predicted, confidence in report.errors[:show_errors]:
            print(f"    [{truth} -> {predicted} {confidence:.2f}] {text}")
    return ok_f1 and ok_rej and ok_wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models"))
    parser.add_argument("--data", type=Path, default=Path("tests/nlu/heldout.yml"))
    parser.add_argument("--errors", type=int, default=0, help="list this many misclassified examples")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    try:
        model = Path(latest_model(args.model))
    except RuntimeError as error:
        raise SystemExit(str(error)) from None
    report = evaluate(model, args.data)
    met = print_report(report, model, args.data, args.errors)
    if args.json:
        args.json.write_text(json.dumps(report.summary(), indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
