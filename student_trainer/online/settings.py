"""Settings of the continuous trainer (`relstream train online`), read once from the env.

Every field is `RELSTREAM_<FIELD>`, e.g. `RELSTREAM_ONLINE_GATE_EVERY_LABELS=500`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from student_trainer.config import TrainerSettings


class OnlineSettings(TrainerSettings):
    """Where the trainer reads and writes, its cadence and its hyperparameters."""

    online_kind: Literal["cross_encoder", "two_tower"] = Field(
        "cross_encoder", description="Which student this trainer keeps training.")
    online_model_name: str = Field(
        "", description="Registry name of the model; empty means the student kind.")
    online_encoder: Literal["minilm", "tiny"] = Field(
        "minilm", description="Encoder when starting from the base: MiniLM or a tiny random "
        "BERT (tests, smoke runs).")
    online_layers: int = Field(3, ge=1, le=6, description="MiniLM layers kept.")
    online_max_length: int = Field(64, ge=8, le=512, description="Tokens per text.")
    online_init: Literal["auto", "base", "published"] = Field(
        "auto", description="Start from the latest published version (published), the base "
        "encoder (base), or the published one if there is any (auto). A checkpoint, when "
        "present, always wins: it is the trainer's own state.")
    online_loss: Literal["hard", "score", "cot", "full", "score+rank", "full+rank"] = Field(
        "full", description="MKD loss preset (see student_trainer.config.LossWeights).")
    online_lr: float = Field(5e-5, gt=0, description="Encoder learning rate.")
    online_head_lr: float = Field(1e-3, gt=0, description="Heads' learning rate.")
    online_batch_size: int = Field(16, ge=1, description="New labels per optimiser step.")
    online_replay_ratio: float = Field(
        1.0, ge=0, description="Replayed labels per new label in each step (1.0: half/half).")
    online_ema_decay: float = Field(
        0.0, ge=0.0, lt=1.0, description="Exponential moving average of the weights, used "
        "for scoring (prequential), gating and export; 0 uses the raw weights. Smooths the "
        "step-to-step drift that small online batches cause.")
    online_buffer_size: int = Field(5000, ge=1, description="Replay buffer capacity (labels).")
    online_buffer_policy: Literal["reservoir", "recency"] = Field(
        "reservoir", description="Uniform reservoir over the stream, or recency-weighted.")
    online_rehearsal_recent: int = Field(
        0, ge=0, description="Rehearsal while no new label waits: each idle poll becomes one "
        "optimiser step on labels drawn from the newest this-many trained labels "
        "(recency-weighted) plus as many from the replay buffer; 0 = off (the trainer waits "
        "for labels). The teacher is the slow part, so the trainer is idle most of the time; "
        "rehearsal spends that time on what the stream just taught.")
    online_rehearsal_ratio: float = Field(
        2.0, gt=0, description="Most rehearsal steps per step on new labels (a credit that "
        "each new-label step adds to, capped at 4 steps' worth), so a quiet stream does not "
        "have its last labels rehearsed for ever.")
    online_holdout_every: int = Field(
        10, ge=2, description="One pair in this many (by a hash of the pair) is held out for "
        "the validation set and never trained on.")
    online_validation_size: int = Field(
        500, ge=1, description="Cap of the validation set (a reservoir of held-out labels).")
    online_min_validation: int = Field(
        50, ge=1, description="Fewest validation labels a gate needs to compare versions.")
    online_gate_every_labels: int = Field(
        1000, ge=1, description="Consider a candidate after this many trained labels ...")
    online_gate_every_minutes: float = Field(
        10.0, gt=0, description="... or after this many minutes with new labels.")
    online_tolerance: float = Field(
        0.02, ge=0, description="A candidate is published unless its validation soft-CE is "
        "worse than the published version's by more than this.")
    online_checkpoint_every_labels: int = Field(
        256, ge=1, description="Checkpoint after this many consumed labels (and after gates).")
    online_checkpoint_path: Path | None = Field(
        None, description="Checkpoint file; empty means <state_dir>/online/<model>.ckpt.")
    online_group_id: str = Field(
        "", description="Kafka group used to commit offsets for monitoring; empty means "
        "online-trainer-<model>. The checkpoint, not the group, is the source of truth.")
    online_poll_max: int = Field(256, ge=1, description="Records per poll.")
    online_progress_interval_s: float = Field(
        30.0, gt=0, description="Seconds between the trainer's progress lines in its log "
        "(labels seen, steps, loss, labels and time to the next gate); never per step.")
    online_threads: int = Field(2, ge=1, description="torch CPU threads.")
    online_seed: int = Field(0, description="Seed of the student init, buffer and sampling.")
    online_world_dir: Path | None = Field(
        None, description="A world with ground truth (labels.jsonl; a simulated world's "
        "scenario.json adds the new-brand queries and change time): the prequential "
        "evaluator also scores against it. Never used for training.")
    online_prequential_table: str = Field(
        "online_prequential", description="ClickHouse table of prequential points.")
    online_gate_table: str = Field(
        "online_gate", description="ClickHouse table of gate decisions.")

    def model_name(self) -> str:
        return self.online_model_name or self.online_kind

    def checkpoint_path(self) -> Path:
        return self.online_checkpoint_path or (
            self.state_dir / "online" / f"{self.model_name()}.ckpt")

    def group_id(self) -> str:
        return self.online_group_id or f"online-trainer-{self.model_name()}"
