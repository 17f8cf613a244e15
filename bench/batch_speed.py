"""Batch classification, side by side in one run: `minsheng classify` on N real messages (a CSV; its progress bar
shows) against the naive peer's pipeline (bench/naive_peer.py) over the same messages in batch mode.

    .venv/bin/python bench/batch_speed.py [--n 10000]

Writes bench/results/batch_speed.json. A report, no target (issue 20 asks for the figures)."""
from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import ROOT, machine, model_inputs, new_workdir, save  # noqa: E402

SOURCES = ("domain/train", "citizen/train", "domain/dev", "citizen/dev")


def corpus(n: int) -> list[dict[str, str]]:
    """The first n messages of data/'s training and dev files (within the API's limits), cycled if fewer."""
    from harness import messages

    out = [m for name in SOURCES for m in messages(name)]
    return [out[i % len(out)] for i in range(n)]


def minsheng_classify(msgs: list[dict[str, str]]) -> dict:
    workdir = new_workdir("batch")
    src, dst = workdir / "in.csv", workdir / "out.csv"
    with src.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["title", "text"])
        writer.writeheader()
        writer.writerows({"title": m["title"] or "", "text": m["text"]} for m in msgs)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "minsheng.cli", "classify", str(src), str(dst), "--model",
                    str(ROOT / "models" / "default")], cwd=ROOT, check=True)
    seconds = time.perf_counter() - t0
    with dst.open(encoding="utf-8") as f:
        rows = sum(1 for r in csv.DictReader(f) if not r["error"])
    return {"messages": rows, "seconds": round(seconds, 1), "msgs_per_s": round(rows / seconds, 2),
            "includes": "process start and model load, PII masking, encoder + TF-IDF blend, routing, CSV out"}


def peer_batch(msgs: list[dict[str, str]], batch_size: int) -> dict:
    import torch
    from naive_peer import load_peer
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    pipe = load_peer()
    texts = model_inputs(msgs)
    done = 0
    with torch.inference_mode(), tqdm(total=len(texts), desc="peer pipeline", unit="msg") as bar:
        for _ in pipe(iter(texts), batch_size=batch_size):  # an iterator in, results out one by one: progress
            done += 1
            bar.update(1)
    seconds = time.perf_counter() - t0
    return {"messages": done, "seconds": round(seconds, 1), "msgs_per_s": round(done / seconds, 2),
            "batch_size": batch_size, "threads": torch.get_num_threads(),
            "includes": "model load, the domain head only, fp32 (the pipeline as a user would call it)"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--peer-batch-size", type=int, default=8)
    args = parser.parse_args()
    msgs = corpus(args.n)
    data = {"machine": machine(), "n": args.n}
    print(f"batch speed on {args.n} messages, load average {data['machine']['loadavg_at_start']}", flush=True)
    data["minsheng_classify"] = minsheng_classify(msgs)
    print(f"  minsheng classify: {data['minsheng_classify']}", flush=True)
    data["peer_pipeline"] = peer_batch(msgs, args.peer_batch_size)
    print(f"  peer pipeline:     {data['peer_pipeline']}", flush=True)
    data["ratio"] = round(data["minsheng_classify"]["msgs_per_s"] / data["peer_pipeline"]["msgs_per_s"], 2)
    path = save("batch_speed", data)
    print(f"minsheng classify / peer pipeline: {data['ratio']}x; written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
