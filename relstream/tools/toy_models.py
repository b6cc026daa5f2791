"""Hand-built ONNX students in the registry format, for tests, benchmarks and A/B drills.

No torch: graphs are written with `onnx.helper`. A toy cross-encoder's logits are
`overlap · [8, 2, -2, -8] + [-4, -1, 1, 4]` (scaled by `overlap_weight`) plus a random
bag-of-embeddings head (scaled by `noise_weight`), where `overlap` is the share of the
query's distinct words found in the item text. With `overlap_weight=0` it is a random
model; with `overlap_weight=1` it ranks like word matching, which is genuinely better on
catalog-style data. A toy two-tower has random towers and a random head.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from relstream.core.manifest import ModelManifest
from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
OPSET = 17
MAX_LENGTH = 64
_WORD = re.compile(r"\w+")


def vocabulary(texts: Iterable[str], size: int = 4000) -> list[str]:
    """The most frequent lower-cased words of `texts`, after the special tokens."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in _WORD.findall(text.lower()):
            counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts, key=lambda w: (-counts[w], w))[: size - len(SPECIALS)]
    return [*SPECIALS, *ranked]


def build_tokenizer(vocab: list[str]) -> Tokenizer:
    """A BERT-shaped word-level tokenizer: `[CLS] a [SEP] b [SEP]` with type ids."""
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    return tok


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def _ids_input(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])


def _mean_pool(prefix: str, ids: str, mask: str, emb: str) -> list[onnx.NodeProto]:
    """Nodes computing `<prefix>pooled` = masked mean of emb[ids] over the sequence."""
    p = prefix
    return [
        helper.make_node("Gather", [emb, ids], [f"{p}tok"]),
        helper.make_node("Cast", [mask], [f"{p}maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", [f"{p}maskf", "axis2"], [f"{p}mask3"]),
        helper.make_node("Mul", [f"{p}tok", f"{p}mask3"], [f"{p}masked"]),
        helper.make_node("ReduceSum", [f"{p}masked", "axis1"], [f"{p}sum"], keepdims=0),
        helper.make_node("ReduceSum", [f"{p}mask3", "axis1"], [f"{p}count"], keepdims=0),
        helper.make_node("Max", [f"{p}count", "one"], [f"{p}safe"]),
        helper.make_node("Div", [f"{p}sum", f"{p}safe"], [f"{p}pooled"]),
    ]


def _consts() -> list[onnx.TensorProto]:
    return [_init("axis1", np.array([1], np.int64)), _init("axis2", np.array([2], np.int64)),
            _init("one", np.array(1.0, np.float32))]


def cross_encoder_graph(
    vocab_size: int, seed: int, overlap_weight: float = 0.0, noise_weight: float = 1.0,
    dim: int = 16,
) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    content = np.ones(vocab_size, np.float32)
    content[: len(SPECIALS)] = 0.0
    inits = [
        *_consts(),
        _init("emb", rng.normal(0, 1, (vocab_size, dim)).astype(np.float32)),
        _init("w_noise", (rng.normal(0, 1, (dim, 4)) * noise_weight).astype(np.float32)),
        _init("content", content),
        _init("w_overlap", np.array([[8, 2, -2, -8]], np.float32) * overlap_weight),
        _init("b_overlap", np.array([-4, -1, 1, 4], np.float32) * overlap_weight),
        _init("eps", np.array(1e-6, np.float32)),
    ]
    nodes = [
        *_mean_pool("n_", "input_ids", "attention_mask", "emb"),
        helper.make_node("MatMul", ["n_pooled", "w_noise"], ["noise_logits"]),
        # Bags of distinct words on each side of [SEP]: one-hot, masked, max over positions.
        helper.make_node("Cast", ["token_type_ids"], ["typef"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["attention_mask"], ["attf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["attf", "typef"], ["item_m"]),
        helper.make_node("Sub", ["attf", "item_m"], ["query_m"]),
        helper.make_node("OneHot", ["input_ids", "depth", "onehot_values"], ["onehot"], axis=-1),
        helper.make_node("Unsqueeze", ["query_m", "axis2"], ["query_m3"]),
        helper.make_node("Unsqueeze", ["item_m", "axis2"], ["item_m3"]),
        helper.make_node("Mul", ["onehot", "query_m3"], ["q_hot"]),
        helper.make_node("Mul", ["onehot", "item_m3"], ["i_hot"]),
        helper.make_node("ReduceMax", ["q_hot"], ["q_bag0"], axes=[1], keepdims=0),
        helper.make_node("ReduceMax", ["i_hot"], ["i_bag"], axes=[1], keepdims=0),
        helper.make_node("Mul", ["q_bag0", "content"], ["q_bag"]),
        helper.make_node("Mul", ["q_bag", "i_bag"], ["both"]),
        helper.make_node("ReduceSum", ["both", "axis1"], ["inter"], keepdims=1),
        helper.make_node("ReduceSum", ["q_bag", "axis1"], ["q_n"], keepdims=1),
        helper.make_node("Add", ["q_n", "eps"], ["q_n_safe"]),
        helper.make_node("Div", ["inter", "q_n_safe"], ["overlap"]),
        helper.make_node("MatMul", ["overlap", "w_overlap"], ["ov_w"]),
        helper.make_node("Add", ["ov_w", "b_overlap"], ["overlap_logits"]),
        helper.make_node("Add", ["overlap_logits", "noise_logits"], ["logits"]),
    ]
    inits += [_init("depth", np.array(vocab_size, np.int64)),
              _init("onehot_values", np.array([0.0, 1.0], np.float32))]
    graph = helper.make_graph(
        nodes, "toy_cross_encoder",
        [_ids_input("input_ids"), _ids_input("attention_mask"), _ids_input("token_type_ids")],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])], inits,
    )
    return _model(graph)


def tower_graph(vocab_size: int, seed: int, dim: int = 16) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits = [*_consts(), _init("emb", rng.normal(0, 1, (vocab_size, dim)).astype(np.float32))]
    graph = helper.make_graph(
        [*_mean_pool("t_", "input_ids", "attention_mask", "emb"),
         helper.make_node("Identity", ["t_pooled"], ["embedding"])],
        "toy_tower", [_ids_input("input_ids"), _ids_input("attention_mask")],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])], inits,
    )
    return _model(graph)


def head_graph(seed: int, dim: int = 16) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    emb: list[str | int | None] = ["batch", dim]
    graph = helper.make_graph(
        [helper.make_node("Mul", ["query_embedding", "item_embedding"], ["prod"]),
         helper.make_node("MatMul", ["prod", "w"], ["logits"])],
        "toy_head",
        [helper.make_tensor_value_info("query_embedding", TensorProto.FLOAT, emb),
         helper.make_tensor_value_info("item_embedding", TensorProto.FLOAT, emb)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
        [_init("w", rng.normal(0, 1, (dim, 4)).astype(np.float32))],
    )
    return _model(graph)


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8  # readable by every onnxruntime since 1.10
    onnx.checker.check_model(model)
    return model


def stage_toy_model(
    out_dir: Path, kind: str = "cross_encoder", seed: int = 0, *, vocab: list[str] | None = None,
    overlap_weight: float = 0.0, noise_weight: float = 1.0,
    int8_gate: dict[str, object] | None = None,
) -> Path:
    """Write graphs, `tokenizer/tokenizer.json` and a staging manifest into `out_dir`.

    With `int8_gate` the version also ships `*.int8.onnx` twins (the same graphs with
    another noise seed, standing in for quantized ones: scores differ, so a test can tell
    which ran) and records the gate as given (`serving.precision` reads it).
    """
    vocab = vocab or vocabulary(["toy vocabulary"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer").mkdir(exist_ok=True)
    build_tokenizer(vocab).save(str(out_dir / "tokenizer" / "tokenizer.json"))
    if kind == "cross_encoder":
        onnx.save(cross_encoder_graph(len(vocab), seed, overlap_weight, noise_weight),
                  str(out_dir / "model.onnx"))
        graphs = {"scorer": "model.onnx"}
        inputs = {"scorer": ["input_ids", "attention_mask", "token_type_ids"]}
    elif kind == "two_tower":
        graphs = {"query_tower": "query_tower.onnx", "item_tower": "item_tower.onnx",
                  "head": "head.onnx"}
        onnx.save(tower_graph(len(vocab), seed), str(out_dir / graphs["query_tower"]))
        onnx.save(tower_graph(len(vocab), seed + 1), str(out_dir / graphs["item_tower"]))
        onnx.save(head_graph(seed + 2), str(out_dir / graphs["head"]))
        inputs = {"query_tower": ["input_ids", "attention_mask"],
                  "item_tower": ["input_ids", "attention_mask"],
                  "head": ["query_embedding", "item_embedding"]}
    else:
        raise ValueError(f"kind {kind!r} is not 'cross_encoder' or 'two_tower'")
    manifest = ModelManifest(
        kind=kind, graphs=graphs, inputs=inputs, max_length=MAX_LENGTH,
        score_weights=DEFAULT_SCORE_WEIGHTS,
        config={"toy": True, "seed": seed, "overlap_weight": overlap_weight,
                "noise_weight": noise_weight},
    )
    if int8_gate is not None:
        twin = seed + 100
        quantized = {role: file.replace(".onnx", ".int8.onnx") for role, file in graphs.items()}
        if kind == "cross_encoder":
            onnx.save(cross_encoder_graph(len(vocab), twin, overlap_weight, noise_weight),
                      str(out_dir / quantized["scorer"]))
        else:
            onnx.save(tower_graph(len(vocab), twin), str(out_dir / quantized["query_tower"]))
            onnx.save(tower_graph(len(vocab), twin + 1), str(out_dir / quantized["item_tower"]))
            onnx.save(head_graph(twin + 2), str(out_dir / quantized["head"]))
        manifest = manifest.replace(quantized_graphs=quantized, int8_gate=int8_gate)
    manifest.write(out_dir)
    return out_dir


def publish_toy_model(
    root: Path, name: str, kind: str = "cross_encoder", seed: int = 0, **kwargs: object
) -> str:
    """Stage a toy model and publish it to the registry at `root`; returns its version."""
    from relstream.core.registry import publish

    with tempfile.TemporaryDirectory() as tmp:
        stage_toy_model(Path(tmp) / "stage", kind, seed, **kwargs)  # type: ignore[arg-type]
        return publish(root, Path(tmp) / "stage", name)
