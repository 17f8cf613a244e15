"""Deployment without git: `minsheng bento` packs the model that serves, and models move between machines with
BentoML's own export / import."""
import json
import os
import subprocess
import sys

import pytest

from minsheng.model.registry import SHIPPED_MODEL

SHIPPED_TAG = "minsheng-classifier:" + json.loads((SHIPPED_MODEL / "minsheng.json").read_text())["version"]


def run(home, *args, module="minsheng.cli"):
    env = {**os.environ, "BENTOML_HOME": str(home), "MINSHENG_DATA_DIR": str(home / "var")}
    env.pop("MINSHENG_MODEL", None)
    env.pop("MINSHENG_DEFAULT_MODEL", None)
    out = subprocess.run([sys.executable, "-m", module, *args], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("bentoml-home")


def test_the_bento_packs_the_model_that_serves_as_its_default(home):
    assert f"serving {SHIPPED_TAG}" in run(home, "bento")  # no promotion yet: the shipped model
    listed = run(home, "list", "minsheng", "-o", "json", module="bentoml")
    (bento,) = json.loads(listed)
    info = json.loads(run(home, "get", bento["tag"], "-o", "json", module="bentoml"))
    assert [m["tag"] for m in info["models"]] == [SHIPPED_TAG]
    assert {"name": "MINSHENG_DEFAULT_MODEL", "value": SHIPPED_TAG} in [{k: e[k] for k in ("name", "value")}
                                                                for e in info["envs"]]


def test_a_model_moves_to_another_store_by_export_and_import(home, tmp_path):
    run(home, "models", "import")  # the shipped model, into the first store
    archive = tmp_path / "model.bentomodel"
    run(home, "models", "export", SHIPPED_TAG, str(archive), module="bentoml")
    other = tmp_path / "other-home"
    run(other, "models", "import", str(archive), module="bentoml")
    assert SHIPPED_TAG in run(other, "models", "list")
