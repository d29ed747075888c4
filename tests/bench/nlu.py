"""NLU benchmark: our pipeline against Rasa's default pipeline, measured in one run.

    python -m tests.bench.nlu [--requests 300] [--concurrent-requests 1000] [--keep DIR]

Both pipelines are trained on the same data (data/nlu), served by `rasa run
--enable-api` on loopback, and measured the same way:
- training time (wall clock of `rasa train nlu`);
- /model/parse latency p50 and p95, single-stream and at 10 concurrent requests;
- throughput at 10 concurrent requests (parses per second);
- accuracy and macro-F1 on the held-out set tests/nlu/heldout.yml.
Each figure is printed with its ratio to the default pipeline, and our goals
(2 cores): training <= 3 minutes, parse p50 <= 10 ms single-stream,
>= 150 parses/s at 10 concurrent, and no more than 10% slower than the default.
No figure here is asserted by a test: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from tests.support.processes import ROOT, free_port, start_service
from tests.tools import evaluate_nlu

DEFAULT_CONFIG = {  # `rasa init`'s pipeline (rasa/engine/recipes/config_files/default_config.yml)
    "recipe": "default.v1",
    "language": "en",
    "assistant_id": "bench-default",
    "pipeline": [
        {"name": "WhitespaceTokenizer"},
        {"name": "RegexFeaturizer"},
        {"name": "LexicalSyntacticFeaturizer"},
        {"name": "CountVectorsFeaturizer"},
        {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
        {"name": "DIETClassifier", "epochs": 100, "constrain_similarities": True},
        {"name": "EntitySynonymMapper"},
        {"name": "ResponseSelector", "epochs": 100, "constrain_similarities": True},
        {"name": "FallbackClassifier", "threshold": 0.3, "ambiguity_threshold": 0.1},
    ],
    "policies": [],
}
GOALS = {"train_s": 180.0, "p50_ms": 10.0, "throughput": 150.0, "slower_by": 0.10}


@dataclass
class Figures:
    name: str
    train_s: float = 0.0
    single_p50: float = 0.0
    single_p95: float = 0.0
    conc_p50: float = 0.0
    conc_p95: float = 0.0
    throughput: float = 0.0
    accuracy: float = 0.0
    macro_f1: float = 0.0


def env() -> dict[str, str]:
    return {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "RASA_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(ROOT),
    }


def rasa() -> str:
    return str(Path(sys.executable).parent / "rasa")


def train(config: Path, out: Path) -> tuple[Path, float]:
    started = time.perf_counter()
    subprocess.run(
        [
            rasa(),
            "train",
            "nlu",
            "--config",
            str(config),
            "--nlu",
            "data/nlu",
            "--out",
            str(out),
            "--fixed-model-name",
            "nlu",
            "--quiet",
        ],
        cwd=ROOT,
        env=env(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return out / "nlu.tar.gz", time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure(url: str, texts: list[str], total: int, concurrency: int) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue = [texts[i % len(texts)] for i in range(total)]
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency)) as client:
        for text in texts[:10]:  # warm up
            await client.post(url + "/model/parse", json={"text": text})

        async def worker() -> None:
            while queue:
                text = queue.pop()
                t0 = time.perf_counter()
                response = await client.post(url + "/model/parse", json={"text": text})
                response.raise_for_status()
                latencies.append((time.perf_counter() - t0) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, total / elapsed


def bench_model(
    name: str, model: Path, train_s: float, texts: list[str], args: argparse.Namespace, tmp: Path
) -> Figures:
    figures = Figures(name=name, train_s=train_s)
    port = free_port()
    service = start_service(
        f"rasa-{name}",
        [rasa(), "run", "--enable-api", "--port", str(port), "--model", str(model)],
        port=port,
        health_path="/",
        env=env(),
        log_dir=tmp,
        timeout=240,
    )
    try:
        single, _ = asyncio.run(measure(service.url, texts, args.requests, 1))
        conc, throughput = asyncio.run(measure(service.url, texts, args.concurrent_requests, 10))
    finally:
        service.stop()
    figures.single_p50, figures.single_p95 = percentile(single, 0.5), percentile(single, 0.95)
    figures.conc_p50, figures.conc_p95 = percentile(conc, 0.5), percentile(conc, 0.95)
    figures.throughput = throughput
    summary = evaluate_nlu.evaluate(model, ROOT / "tests" / "nlu" / "heldout.yml").summary()
    figures.accuracy, figures.macro_f1 = summary["accuracy"], summary["macro_f1"]
    return figures


def print_table(ours: Figures, default: Figures) -> None:
    rows = [
        ("training time (s)", "train_s", "{:.0f}", False),
        ("parse p50, single (ms)", "single_p50", "{:.1f}", False),
        ("parse p95, single (ms)", "single_p95", "{:.1f}", False),
        ("parse p50, 10 concurrent (ms)", "conc_p50", "{:.1f}", False),
        ("parse p95, 10 concurrent (ms)", "conc_p95", "{:.1f}", False),
        ("throughput, 10 concurrent (/s)", "throughput", "{:.0f}", True),
        ("held-out accuracy", "accuracy", "{:.3f}", True),
        ("held-out macro-F1", "macro_f1", "{:.3f}", True),
    ]
    print(f"\n{'':34}{'ours':>10}{'default':>10}{'ours/default':>14}")
    for label, key, fmt, _ in rows:
        a, b = getattr(ours, key), getattr(default, key)
        ratio = a / b if b else float("nan")
        print(f"{label:34}{fmt.format(a):>10}{fmt.format(b):>10}{ratio:>14.2f}")
    print("\nGoals (2 cores):")
    checks = [
        ("training <= 3 minutes", ours.train_s <= GOALS["train_s"], f"{ours.train_s:.0f} s"),
        ("parse p50 <= 10 ms single-stream", ours.single_p50 <= GOALS["p50_ms"], f"{ours.single_p50:.1f} ms"),
        (
            ">= 150 parses/s at 10 concurrent",
            ours.throughput >= GOALS["throughput"],
            f"{ours.throughput:.0f}/s",
        ),
        (
            "latency not > 10% above default",
            ours.single_p50 <= default.single_p50 * (1 + GOALS["slower_by"]),
            f"{ours.single_p50 / default.single_p50:.2f}x",
        ),
        (
            "throughput not > 10% below default",
            ours.throughput >= default.throughput * (1 - GOALS["slower_by"]),
            f"{ours.throughput / default.throughput:.2f}x",
        ),
    ]
    for label, met, value in checks:
        print(f"  {label:38} {value:>10}   {'met' if met else 'NOT MET'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="single-stream parses")
    parser.add_argument("--concurrent-requests", type=int, default=1000, help="parses at 10 concurrent")
    parser.add_argument("--keep", type=Path, help="keep the trained models in this folder")
    args = parser.parse_args(argv)
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="nlu-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    default_config = tmp / "default_config.yml"
    default_config.write_text(yaml.safe_dump(DEFAULT_CONFIG, sort_keys=False))
    from rasa.shared.nlu.training_data.loading import load_data

    texts = [m.get("text") for m in load_data(str(ROOT / "tests" / "nlu" / "heldout.yml")).intent_examples]
    print(f"NLU benchmark on {os.cpu_count()} cores, {len(texts)} held-out texts; models in {tmp}")
    results = {}
    for name, config in (("ours", ROOT / "config.yml"), ("default", default_config)):
        print(f"training {name} pipeline ...", flush=True)
        model, seconds = train(config, tmp / name)
        print(f"  trained in {seconds:.0f} s; measuring ...", flush=True)
        results[name] = bench_model(name, model, seconds, texts, args, tmp)
    print_table(results["ours"], results["default"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
