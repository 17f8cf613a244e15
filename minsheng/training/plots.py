"""Figures for the evaluation report: people read a plot faster than a table."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402

# a CJK font if the machine has one (Debian: fonts-wqy-microhei), else labels fall back to boxes
_CJK = [f.name for f in font_manager.fontManager.ttflist if "WenQuanYi" in f.name or "Noto Sans CJK" in f.name]
plt.rcParams["font.sans-serif"] = _CJK[:1] + plt.rcParams["font.sans-serif"]
plt.rcParams["axes.unicode_minus"] = False


def confusion(matrix: np.ndarray, labels: list[str], title: str, path: Path) -> None:
    """Row-normalised (recall) colours, raw counts written in the cells."""
    size = max(5.0, 0.55 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    rows = matrix.sum(1, keepdims=True).clip(min=1)
    ax.imshow(matrix / rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] / rows[i, 0] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reliability(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, float]], path: Path) -> None:
    """curves: name -> (bin confidence, bin accuracy, bin count, ECE)."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    for name, (conf, acc, count, ece) in curves.items():
        keep = count > 0
        ax.plot(conf[keep], acc[keep], "o-", label=f"{name} (ECE {ece:.3f})")
    ax.set_xlabel("confidence of the predicted domain")
    ax.set_ylabel("accuracy")
    ax.set_title("Domain reliability (dev)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def coverage(curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], threshold: float, path: Path) -> None:
    """curves: name -> (thresholds, coverage, accuracy on the covered part)."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (_, cov, acc) in curves.items():
        ax.plot(cov, acc, label=name)
        t, c, a = curves[name]
        i = int(np.argmin(np.abs(t - threshold)))
        ax.plot(c[i], a[i], "o", color=ax.lines[-1].get_color())
        ax.annotate(f"{threshold:.2f}: {c[i]:.0%} routed, {a[i]:.1%} right", (c[i], a[i]),
                    textcoords="offset points", xytext=(-150, -14), fontsize=8)
    ax.set_xlabel("coverage (share routed to a department, the rest to triage)")
    ax.set_ylabel("domain accuracy of the routed share")
    ax.set_title("Abstain threshold: coverage vs accuracy (dev)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
