"""Re-runs every bench in turn, then renders the documents from their results: what `make bench` does.

    .venv/bin/python bench/run_all.py [--only variants,speed,batch_speed,load,load-300s,faults,similar_cases,hot_issues,urgent,reply_quality]

Each bench runs in its own process, its output streaming through; one that fails (exit != 0: its acceptance
condition failed, or it crashed) does not stop the others. Each writes bench/results/<name>.json stamped with the
model version and git commit it measured (harness.provenance). Then bench/report.py renders bench/README.md,
bench/similar_cases.md and bench/hot_issues.md from bench/results/*.json, and bench/results/run_all.json records
each step's exit code and duration. Exits 1 when any step failed.

About an hour on 2 cores; the first run with a new model adds ~55 minutes of embedding (similar_cases.py,
hot_issues.py; cached in build/bench/ after that)."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402
from harness import ROOT, save  # noqa: E402

STEPS: dict[str, list[str]] = {  # name: the script and its arguments, in the order they run
    "variants": ["bench/variants.py"],
    "speed": ["bench/speed.py"],
    "batch_speed": ["bench/batch_speed.py"],
    "load": ["bench/load.py"],
    "load-300s": ["bench/load.py", "--seconds", "300", "--name", "load-300s"],
    "faults": ["bench/faults.py"],
    "similar_cases": ["bench/similar_cases.py"],
    "hot_issues": ["bench/hot_issues.py"],
    "urgent": ["bench/urgent.py"],
    "reply_quality": ["bench/reply_quality.py"],
}


def run_steps(steps: dict[str, list[str]]) -> list[dict]:
    """Runs each step with this Python, one after the other, showing where it is; returns each step's exit code
    and duration."""
    done: list[dict] = []
    started = time.monotonic()
    for i, (name, args) in enumerate(steps.items(), 1):
        print(f"\n=== [{i}/{len(steps)}] {name}: {' '.join(args)} (at {time.monotonic() - started:.0f} s) ===",
              flush=True)
        t = time.monotonic()
        rc = subprocess.run([sys.executable, *args], cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}).returncode
        done.append({"name": name, "exit_code": rc, "seconds": round(time.monotonic() - t, 1)})
        print(f"=== [{i}/{len(steps)}] {name}: {'PASS' if rc == 0 else f'FAIL (exit {rc})'} in "
              f"{done[-1]['seconds']:.0f} s ===", flush=True)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated subset of the steps")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        parser.error(f"unknown step(s) {unknown}; the steps: {', '.join(STEPS)}")
    started = time.strftime("%Y-%m-%d %H:%M:%S %z")
    steps = run_steps({n: STEPS[n] for n in names})
    save("run_all", {"started": started, "steps": steps})
    failed = [s["name"] for s in steps if s["exit_code"] != 0] + (["report"] if report.main() else [])
    print("\n" + "\n".join(f"  {'PASS' if s['exit_code'] == 0 else 'FAIL'}  {s['name']} ({s['seconds']:.0f} s)"
                           for s in steps))
    print(f"failed: {', '.join(failed)}" if failed else "all passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
