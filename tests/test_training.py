"""The training loop end to end on a tiny random BERT and a tiny slice of the real data."""
import json

import numpy as np
import pytest

from minsheng.model.classifier import Classifier
from minsheng.model.encoder import load_tokenizer, token_ids
from minsheng.model.registry import SHIPPED_MODEL
from minsheng.training.data import file_sha256
from minsheng.training.train import TrainConfig, class_weights, train


def test_train_save_load_predict(tiny):
    root, base = tiny
    extra = root / "corrections.jsonl"
    extra.write_text(json.dumps({"title": "路灯坏了", "text": "小区门口路灯不亮一个月", "domain": "城乡建设",
                                 "urgent": 0}, ensure_ascii=False) + "\n", encoding="utf-8")
    cfg = TrainConfig(output=str(root / "model"), base_model=str(base), data_dir=str(root / "data"),
                      extra=[str(extra)], epochs=1, batch_size=16, max_length=64, reviews=30, lr=1e-3)
    clf = Classifier.load(train(cfg))

    meta = clf.meta
    assert meta["data_hashes"]["domain:train.csv"] == file_sha256(root / "data/domain/train.csv")
    assert meta["data_hashes"]["extra0:corrections.jsonl"] == file_sha256(extra)
    assert meta["train_config"]["seed"] == cfg.seed and meta["base_model"] == "tiny-bert"
    # 60 domain + 60 citizen (up-sampled) + 30 reviews + 1 correction (up-sampled)
    assert meta["train_rows"] == 60 + 60 * cfg.citizen_repeat + 30 + cfg.extra_repeat
    assert all(t > 0 for t in clf.calibration.temperature.values())

    preds = clf.predict([("噪音扰民", "楼下工地夜间施工"), (None, "请问社保卡怎么补办")])
    for p in preds:
        for task, labels in clf.labels.items():
            assert list(p.scores[task]) == labels
            assert sum(p.scores[task].values()) == pytest.approx(1.0, abs=1e-5)
    vectors = clf.embed(["路灯不亮", "路灯坏了", "拖欠工资"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_max_length_beyond_the_base_models_positions_is_capped(tiny):
    """The default 256 tokens on a base model with 128 positions: trains and reads long messages at 128."""
    root, base = tiny
    cfg = TrainConfig(output=str(root / "capped"), base_model=str(base), data_dir=str(root / "data"), epochs=1,
                      batch_size=16, reviews=10, limit=40)
    assert cfg.max_length > 128
    clf = Classifier.load(train(cfg))
    assert clf.max_length == clf.meta["train_config"]["max_length"] == 128
    (pred,) = clf.predict([(None, "小区路灯不亮，" * 200)])
    assert sum(pred.scores["domain"].values()) == pytest.approx(1.0, abs=1e-5)


def test_unknown_label_in_extra_data_is_refused(tiny):
    root, base = tiny
    bad = root / "bad.csv"
    bad.write_text("title,text,domain\n标题,内容,不存在的领域\n", encoding="utf-8")
    cfg = TrainConfig(output=str(root / "never"), base_model=str(base), data_dir=str(root / "data"),
                      extra=[str(bad)], epochs=1)
    with pytest.raises(ValueError, match="不存在的领域"):
        train(cfg)
    assert not (root / "never").exists()


def test_class_weights_favour_rare_classes_and_ignore_absent_ones():
    w = class_weights([0] * 90 + [1] * 10 + [-100] * 5, 3, power=0.5)
    assert float(w[1]) == pytest.approx(3 * float(w[0]))  # (90/10)^0.5
    assert float(w[2]) == 0.0


def test_long_message_keeps_its_head_and_its_tail():
    tokenizer = load_tokenizer(SHIPPED_MODEL)
    text = "标题开头" + "中间内容" * 200 + "恳请尽快处理"
    ids = token_ids(tokenizer, [text, "短消息"], max_length=64)
    long_ids, short_ids = ids
    assert len(long_ids) == 64 and short_ids == tokenizer("短消息")["input_ids"]
    decoded = tokenizer.decode(long_ids, skip_special_tokens=True).replace(" ", "")
    assert decoded.startswith("标题开头") and decoded.endswith("恳请尽快处理")
