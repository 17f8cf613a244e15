"""The default model that ships with the project loads offline and gets obvious messages right."""
import os
import subprocess
import sys

from minsheng.model.registry import SHIPPED_MODEL

OBVIOUS = [
    ("公司拖欠工资", "我在某建筑公司打工,老板拖欠我们三个月工资一直不发,劳动监察也不管", "劳动和社会保障"),
    ("小区旁边工厂排放废气", "每天晚上工厂排放刺鼻废气,污染严重,居民无法开窗", "环境保护"),
    ("孩子入学问题", "孩子今年六岁,户口在本区,为什么不能在对口小学入学?学位分配不公平", "教育文体"),
    ("出租车司机拒载绕路", "在火车站打出租车,司机拒载,还有的故意绕路多收费", "交通运输"),
    ("超市卖过期食品", "在某超市买到过期食品,商家拒绝退换,请市场监管部门查处", "商贸旅游"),
]


def test_loads_offline_and_tags_obvious_messages():
    # a fresh interpreter with the hub switched off: nothing may be fetched
    code = (
        "from minsheng.model.classifier import Classifier; from minsheng.core.routing import route;"
        "from minsheng.core.labels import load_labels; import json, sys;"
        f"c = Classifier.load({str(SHIPPED_MODEL)!r}); c.check_labels(load_labels());"
        f"ps = c.predict({[(t, x) for t, x, _ in OBVIOUS]!r});"
        f"print(json.dumps([route(p, load_labels(), t, x).domain for p, (t, x, _) in zip(ps, {OBVIOUS!r})], "
        "ensure_ascii=False))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    import json
    assert json.loads(run.stdout.strip().splitlines()[-1]) == [d for _, _, d in OBVIOUS]


def test_shipped_model_is_small_enough_to_ship():
    size = sum(p.stat().st_size for p in SHIPPED_MODEL.iterdir())
    assert size <= 60 * 1024 * 1024, f"{size / 2**20:.1f} MiB"
