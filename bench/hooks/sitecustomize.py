"""Bench-only hook (on PYTHONPATH only when bench/speed.py --quantize int8 starts the service): makes the
service's Classifier.load apply dynamic int8 quantization when MINSHENG_QUANTIZE=int8, to measure the proposed
change before it is made in minsheng/classifier.py. Does nothing when Classifier.load already reads
MINSHENG_QUANTIZE itself."""
import os

if os.environ.get("MINSHENG_QUANTIZE") == "int8":
    import inspect
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ for harness.quantize_int8
    from minsheng.classifier import Classifier

    if "MINSHENG_QUANTIZE" not in inspect.getsource(sys.modules[Classifier.__module__]):
        _load = Classifier.load.__func__

        def _load_int8(cls, path, *args, **kwargs):
            from harness import quantize_int8

            clf = quantize_int8(_load(cls, path, *args, **kwargs))
            clf.meta = {**clf.meta, "quantized": "int8 (bench hook)"}
            return clf

        Classifier.load = classmethod(_load_int8)
