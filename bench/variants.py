"""The speed-ups that should keep accuracy, each measured in-process on the shipped model: torch threads (1, 2),
dynamic int8 quantization of the transformer's nn.Linear layers (minsheng.model.classifier.quantize_int8, as the
service runs it), and the batch size of the length-sorted chunks (Classifier's CHUNK, what the service and
predict_proba use, vs 16 and 32). For each: the encoder+heads rate, one message alone, and (per numeric format,
as served: chunks of CHUNK) the domain macro-F1 on data/domain/dev.csv through the Classifier
(minsheng/training/metrics.py's macro_f1, classes with >= 10 dev examples) and the agreement of its domain decisions
with fp32.

    .venv/bin/python bench/variants.py [--seconds 10]

A variant is adoptable when it is faster and its domain macro-F1 is at most 0.5 point below fp32's. Exits 1 when
dynamic int8, what the service runs, is not (bench/conditions.py). Writes bench/results/variants.json."""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conditions import variants_checks  # noqa: E402
from harness import (  # noqa: E402
    ROOT,
    load_classifier,
    machine,
    messages,
    model_inputs,
    save,
    verdict,
)


def rate(clf, texts, batch: int, seconds: float) -> float:
    import torch

    with torch.inference_mode():
        clf.encode(texts[:batch], batch)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds and n < 100_000:
            clf.encode(texts, batch)
            n += len(texts)
    return round(n / (time.perf_counter() - t0), 2)


def single_ms(clf, texts) -> float:
    import torch

    out = []
    with torch.inference_mode():
        for t in texts:
            s = time.perf_counter()
            clf.encode([t], 1)
            out.append(time.perf_counter() - s)
    return round(float(np.median(out)) * 1000, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    import pandas as pd
    import torch

    from minsheng.model.classifier import CHUNK
    from minsheng.training.metrics import macro_f1

    dev = pd.read_csv(ROOT / "data" / "domain" / "dev.csv", dtype=str, keep_default_na=False)
    dev_msgs = [{"title": t or None, "text": x} for t, x in zip(dev["title"], dev["text"])]
    dev_texts = model_inputs(dev_msgs)
    texts = model_inputs(messages("domain/dev", 320))
    data = {"machine": machine(), "variants": {}, "accuracy": {}}
    decisions = {}
    for quantize in (None, "int8"):
        fmt = quantize or "fp32"
        clf = load_classifier(quantize)
        labels = clf.labels["domain"]
        y = np.array([labels.index(d) for d in dev["domain"]])
        t0 = time.perf_counter()
        with torch.inference_mode():
            pred = clf.predict_proba(dev_texts)["domain"].argmax(1)
        decisions[fmt] = pred
        data["accuracy"][fmt] = {"domain_macro_f1": round(100 * macro_f1(y, pred), 2),
                                 "domain_accuracy": round(100 * float((pred == y).mean()), 2),
                                 "dev_messages": len(y),
                                 "predict_proba_msgs_per_s": round(len(y) / (time.perf_counter() - t0), 2)}
        print(f"{fmt}: {data['accuracy'][fmt]}", flush=True)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for batch in sorted({CHUNK, 16, 32}):
                name = f"{fmt} threads={threads} batch={batch}"
                data["variants"][name] = {"encoder_heads_msgs_per_s": rate(clf, texts, batch, args.seconds)}
                if batch == 32:
                    data["variants"][name]["single_message_ms"] = single_ms(clf, texts[:30])
                print(f"  {name}: {data['variants'][name]}", flush=True)
        torch.set_num_threads(2)
        del clf
        gc.collect()
    base, q = data["accuracy"]["fp32"], data["accuracy"]["int8"]
    q["f1_change_points"] = round(q["domain_macro_f1"] - base["domain_macro_f1"], 2)
    q["same_domain_as_fp32"] = round(100 * float((decisions["int8"] == decisions["fp32"]).mean()), 2)
    v = data["variants"]
    speedup = v["int8 threads=2 batch=32"]["encoder_heads_msgs_per_s"] / v["fp32 threads=2 batch=32"]["encoder_heads_msgs_per_s"]
    data["int8_speedup"] = round(speedup, 2)
    data["checks"] = variants_checks(q["f1_change_points"], data["int8_speedup"])
    data["int8_adoptable"] = all(data["checks"].values())
    path = save("variants", data)
    print(f"int8: {speedup:.2f}x the fp32 rate, domain macro-F1 {q['f1_change_points']:+.2f} points, "
          f"{q['same_domain_as_fp32']}% same decisions -> {'adoptable' if data['int8_adoptable'] else 'not adopted'}")
    print(f"written {path}")
    return verdict(data["checks"])


if __name__ == "__main__":
    sys.exit(main())
