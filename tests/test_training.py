"""The training loop end to end on a tiny random BERT and a tiny slice of the real data."""
import csv
import json

import numpy as np
import pytest

from minsheng.model.classifier import GROUP_HEAD, Calibration, Classifier
from minsheng.model.encoder import load_tokenizer, token_ids
from minsheng.model.registry import SHIPPED_MODEL
from minsheng.training.data import file_sha256
from minsheng.training.metrics import GROUP_WEIGHT_GRID
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
    # the Teddy rows' domains get a head of their own, saved and loaded with the model
    teddy = sorted({clf.labels["domain"].index(d) for d in _column(root / "data/domain/train.csv", "domain")})
    assert clf.calibration.group == teddy and len(teddy) >= 2
    assert clf.encoder.heads[GROUP_HEAD].out_features == len(teddy)
    assert clf.calibration.group_weight in GROUP_WEIGHT_GRID

    preds = clf.predict([("噪音扰民", "楼下工地夜间施工"), (None, "请问社保卡怎么补办")])
    for p in preds:
        for task, labels in clf.labels.items():
            assert list(p.scores[task]) == labels
            assert sum(p.scores[task].values()) == pytest.approx(1.0, abs=1e-5)
    vectors = clf.embed(["路灯不亮", "路灯坏了", "拖欠工资"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def _column(path, name):
    with open(path, encoding="utf-8") as f:
        return [row[name] for row in csv.DictReader(f)]


def test_the_group_head_re_divides_only_the_groups_share():
    p_domain = np.array([[0.5, 0.2, 0.2, 0.1]])  # the group: domains 1 and 3 (0.3 between them)
    p_group = np.array([[0.1, 0.9]])
    cal = Calibration(blend={"domain": 1.0, GROUP_HEAD: 1.0}, group=[1, 3], group_weight=0.5)
    mixed = cal.mix("domain", {"domain": p_domain, GROUP_HEAD: p_group}, {"domain": p_domain, GROUP_HEAD: p_group})
    # the group keeps its 0.3 and the others their share; inside it, half as before, half as the group head says
    assert mixed[0] == pytest.approx([0.5, 0.3 * (0.5 * 2 / 3 + 0.5 * 0.1), 0.2, 0.3 * (0.5 * 1 / 3 + 0.5 * 0.9)])
    cal.group_weight = 0.0
    assert cal.mix("domain", {"domain": p_domain, GROUP_HEAD: p_group}, {"domain": p_domain, GROUP_HEAD: p_group})[0] \
        == pytest.approx(p_domain[0])


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
