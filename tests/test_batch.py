"""`minsheng classify IN OUT` with the shipped model: every row kept, bad rows flagged, bad files refused."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from minsheng.core.labels import load_labels
from minsheng.model.classifier import Classifier
from minsheng.model.registry import SHIPPED_MODEL
from minsheng.serving.batch import OUTPUT_FIELDS, classify_file

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shipped():
    return Classifier.load(SHIPPED_MODEL)


def test_csv_rows_tagged_and_bad_rows_flagged(tmp_path, shipped):
    src = tmp_path / "in.csv"
    src.write_bytes(
        "id,title,text,note\n"
        "1,拖欠工资,公司拖欠我们三个月工资不发,keep-me\n"
        "2,,   ,blank\n".encode()
        + b"3,bad,\xff\xfe broken bytes,enc\n"
        + "4,,孩子今年上小学,学位怎么申请?,x\n".encode()
        + "5,煤气泄漏,楼道里全是煤气味,gas\n".encode())
    counts = classify_file(src, tmp_path / "out.csv", shipped, load_labels())
    with (tmp_path / "out.csv").open(encoding="utf-8", errors="surrogateescape") as f:
        rows = list(csv.DictReader(f))
    assert counts == {"rows": 5, "errors": 2}
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5"]  # order and every row kept
    assert rows[0]["note"] == "keep-me" and set(OUTPUT_FIELDS) <= set(rows[0])
    assert rows[1]["error"] == "text is empty" and rows[1]["domain"] == ""
    assert rows[2]["error"] == "text is not valid UTF-8"
    for r in (rows[0], rows[3]):
        assert r["error"] == "" and r["domain"] in load_labels().domains
        assert 0 <= float(r["domain_confidence"]) <= 1
        assert len(json.loads(r["domain_top3"])) == 3
        assert r["needs_review"] in ("0", "1") and r["department"]
    assert (rows[4]["urgent"], rows[4]["urgent_cues"]) == ("1", "燃气泄漏")
    assert (rows[0]["urgent"], rows[0]["urgent_cues"]) == ("0", "")


def test_jsonl_with_a_broken_line(tmp_path, shipped):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "路灯坏了很久没人修", "ticket": 7}\n{not json\n{"text": 12}\n', encoding="utf-8")
    classify_file(src, tmp_path / "out.jsonl", shipped, load_labels())
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3
    assert rows[0]["ticket"] == 7 and rows[0]["error"] == "" and rows[0]["sentiment"]
    assert rows[1]["error"].startswith("line 2 is not valid JSON")
    assert rows[2]["error"] == "text is not a string"


def test_missing_text_column_is_a_clear_error(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("title,body\n标题,内容\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "minsheng.cli", "classify", str(src), str(tmp_path / "o.csv"),
                          "--model", str(SHIPPED_MODEL)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 2
    assert "no 'text' column" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "o.csv").exists()
