"""`rasa data validate`, failing on any warning not explained in tests/validate_allowlist.yml."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = ROOT / "tests" / "validate_allowlist.yml"
WARNING = re.compile(r"UserWarning: (.*)$")


def main() -> int:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", RASA_TELEMETRY_ENABLED="false", NO_COLOR="1")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "rasa"),
            "data",
            "validate",
            "--config",
            "config.yml",
            "--domain",
            "bot/domain",
            "--data",
            "data/nlu",
            "data/rules",
            "data/stories",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    allowed = yaml.safe_load(ALLOWLIST.read_text()) or []
    warnings = [
        re.sub(r"\x1b\[[0-9;]*m", "", m.group(1)).strip()
        for m in map(WARNING.search, output.splitlines())
        if m
    ]
    unexplained = [w for w in warnings if not any(re.search(re.escape(a["pattern"]), w) for a in allowed)]
    for w in warnings:
        print(("  explained   " if w not in unexplained else "  UNEXPLAINED ") + w)
    if result.returncode != 0:
        print(output[-3000:])
        print(f"rasa data validate failed (exit {result.returncode})")
        return 1
    if unexplained:
        print(
            f"rasa data validate: {len(unexplained)} unexplained warning(s); "
            f"explain them in {ALLOWLIST.name} or fix them"
        )
        return 1
    print(f"rasa data validate: passed ({len(warnings)} warning(s), all explained)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
