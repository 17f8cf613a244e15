"""The naive peer: what a user would otherwise write. The same encoder (models/default) wrapped as a Hugging Face
sequence-classification model, a `transformers` text-classification pipeline, and a minimal threaded HTTP
server that runs one pipeline call per request. No batching across requests, no TF-IDF blend, no spaCy, no
database: the peer does strictly less work per message than minsheng's /classify (the strict peer).

With --same-answer it gives what /classify gives, as a user would write it: one pipeline per head (domain,
sentiment, appeal, urgent: four fine-tuned models, each its own encoder pass) and the same spaCy/jieba analysis
(PII, keywords, places) per request.

    python bench/naive_peer.py --port 8999 [--same-answer]   # POST / {"title", "text"} -> the pipelines' labels
"""
from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    BertConfig,
    PreTrainedModel,
    pipeline,
)
from transformers.modeling_outputs import SequenceClassifierOutput

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class MeanPoolForSequenceClassification(PreTrainedModel):
    """minsheng's encoder with one of its heads, as an AutoModelForSequenceClassification-like model: the same
    mean pooling and linear head, so the same forward cost and the same logits."""

    config_class = BertConfig
    base_model_prefix = "encoder"

    def __init__(self, config):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config)
        self.head = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, **_):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return SequenceClassifierOutput(logits=self.head(pooled))


def load_peer(path: Path = ROOT / "models" / "default", head: str = "domain"):
    meta = json.loads((path / "minsheng.json").read_text(encoding="utf-8"))
    classes = meta["labels"][head]
    config = AutoConfig.from_pretrained(str(path), num_labels=len(classes),
                                        id2label=dict(enumerate(classes)),
                                        label2id={d: i for i, d in enumerate(classes)})
    model = MeanPoolForSequenceClassification(config)
    state = load_file(str(path / "model.safetensors"))
    mapped = {k: v.float() for k, v in state.items() if k.startswith("encoder.")}
    mapped.update({"head.weight": state[f"heads.{head}.weight"].float(), "head.bias": state[f"heads.{head}.bias"].float()})
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    missing = [k for k in missing if "position_ids" not in k]
    assert not missing and not unexpected, (missing, unexpected)
    model.eval()
    transformers.logging.set_verbosity_error()  # "not supported for text-classification": it works
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    return pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1,
                    truncation=True, max_length=meta.get("max_length", 128))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--same-answer", action="store_true",
                        help="a pipeline per head and the spaCy/jieba analysis: what /classify answers")
    args = parser.parse_args()
    from minsheng.core.labels import TASKS
    from minsheng.core.nlp import get_analyzer
    from minsheng.core.text import (
        model_input,  # the same model input as minsheng (title。text)
    )

    pipes = {head: load_peer(head=head) for head in (TASKS if args.same_answer else ("domain",))}
    analyzer = get_analyzer() if args.same_answer else None

    def answer(body: dict) -> dict:
        text = model_input(body.get("title"), body["text"])
        with torch.inference_mode():
            out = {head: clf(text)[0] for head, clf in pipes.items()}
        if analyzer is not None:
            out["analysis"] = analyzer.analyze(body["text"]).to_dict()
        return out

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the load generator

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            data = json.dumps(answer(body), ensure_ascii=False).encode("utf-8")
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802  readiness
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    ThreadingHTTPServer.request_queue_size = 128  # socketserver's default backlog of 5 drops connects at 32 clients
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"naive peer on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
