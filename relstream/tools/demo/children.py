"""The demo's child processes: their command lines, environments and readiness probes.

Each child is a `relstream` command configured only through `RELSTREAM_*` variables, like
in production. Every child gets its own state dir, so each embedded ClickHouse (chdb) path
has exactly one process; the model registry and the Kafka topics are shared. A command
that the installed packages do not offer yet is reported as missing, so the demo can say
which stage it skips instead of failing half way.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from relstream.core.settings import CommonSettings
from relstream.tools.demo.plan import DemoPlan


@dataclass(frozen=True)
class ChildSpec:
    """How to start one child."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    state_dir: Path | None = None


def relstream_argv(*args: str) -> list[str]:
    """A `relstream` command run by this interpreter (no console script needed)."""
    return [sys.executable, "-m", "relstream.cli", *args]


def module_available(module: str) -> bool:
    """True if `module` can be imported (checked without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def available_commands(parser: argparse.ArgumentParser) -> set[str]:
    """The commands `parser` (the `relstream` CLI's) offers, as 'cmd' and 'cmd action'."""
    found: set[str] = set()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for name, sub in action.choices.items():
            found.add(name)
            for inner in sub._actions:
                if isinstance(inner, argparse._SubParsersAction):
                    found.update(f"{name} {child}" for child in inner.choices)
    return found


def base_env(settings: CommonSettings, state_dir: Path) -> dict[str, str]:
    """The parent's environment with the shared services and this child's own state dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELSTREAM_")}
    env.update({
        "RELSTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "RELSTREAM_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "RELSTREAM_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
        "RELSTREAM_KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
        "RELSTREAM_KAFKA_SASL_PASSWORD": settings.kafka_sasl_password.get_secret_value(),
        "RELSTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "RELSTREAM_STATE_DIR": str(state_dir),
        "RELSTREAM_CACHE_DIR": str(settings.cache_dir),
        # Embedded chdb under each child's own state dir: one process per path.
        "RELSTREAM_CLICKHOUSE_URL": settings.clickhouse_url,
        "RELSTREAM_REDIS_URL": settings.redis_url,
        # Two cores shared by five processes: keep every library to one or two threads.
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
    })
    if settings.kafka_ssl_cafile:
        env["RELSTREAM_KAFKA_SSL_CAFILE"] = str(settings.kafka_ssl_cafile)
    return env


@dataclass(frozen=True)
class Layout:
    """Where the demo writes: `<out>/world`, `logs`, `state/<child>`, `registry`, ..."""

    out: Path

    @property
    def world(self) -> Path:
        return self.out / "world"

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    @property
    def registry(self) -> Path:
        return self.out / "registry"

    @property
    def plots(self) -> Path:
        return self.out / "plots"

    @property
    def report(self) -> Path:
        return self.out / "report"

    def state(self, child: str) -> Path:
        return self.out / "state" / child


def streams_engine(settings: CommonSettings) -> str:
    """The stream processor's engine, `batch` or `faust` (`RELSTREAM_STREAMS_ENGINE`)."""
    from streams.processor.settings import ProcessorSettings

    return ProcessorSettings(**settings.model_dump()).streams_engine


def group_ids(settings: CommonSettings) -> dict[str, str]:
    """Consumer groups, prefixed like the topics so two demos on one broker stay apart
    (the stream processor's follows its engine)."""
    p = settings.topic_prefix
    engine = streams_engine(settings)
    streams = f"{p}relstream-streams" + ("-batch" if engine == "batch" else "")
    return {"streams": streams, "teacher": f"{p}teacher-workers",
            "trainer": f"{p}online-trainer"}


def streams_spec(settings: CommonSettings, layout: Layout, plan: DemoPlan,
                 budget_per_minute: float) -> ChildSpec:
    state = layout.state("streams")
    env = base_env(settings, state)
    env.update({
        "RELSTREAM_NEW_ITEM_IMPRESSIONS": str(plan.new_item_impressions),
        "RELSTREAM_NEW_QUERY_HOURS": str(plan.new_query_hours),
        "RELSTREAM_LABEL_BUDGET_PER_MINUTE": str(budget_per_minute),
        "RELSTREAM_PUSH_INTERVAL_S": "2.0",
    })
    return ChildSpec("streams", relstream_argv("streams", "run"), env, state)


def vllm_spec(settings: CommonSettings, layout: Layout, port: int, cpus: str) -> ChildSpec:
    """The teacher's vLLM server (`relstream teacher serve`: the shipped ELLM-rele) with its
    OpenMP threads on `cpus` (the other children share what is left)."""
    state = layout.state("vllm")
    env = base_env(settings, state)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(name)  # vLLM binds its own OpenMP threads to the cores
    env.update({"RELSTREAM_VLLM_PORT": str(port), "RELSTREAM_VLLM_CPUS": cpus})
    for name in ("RELSTREAM_VLLM_PYTHON", "RELSTREAM_TEACHER_MODEL_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return ChildSpec("vllm", relstream_argv("teacher", "serve"), env, state)


def teacher_spec(
    settings: CommonSettings, layout: Layout, plan: DemoPlan, *, openai_url: str | None,
    model_dir: Path | None = None,
) -> ChildSpec:
    """`relstream teacher run`: the LLM behind `openai_url`, or the lexical baseline when
    `openai_url` is None. `model_dir` is the served model (its tokenizer builds prompts)."""
    state = layout.state("teacher")
    env = base_env(settings, state)
    env.update({
        "RELSTREAM_TEACHER_MAX_NEW_TOKENS": str(plan.teacher_max_new_tokens),
        "RELSTREAM_TEACHER_GROUP_ID": group_ids(settings)["teacher"],
    })
    if model_dir is not None:
        env["RELSTREAM_TEACHER_MODEL_DIR"] = str(model_dir)
    argv = relstream_argv("teacher", "run", "--backend", "lexical" if openai_url is None
                          else "openai")
    if openai_url is not None:
        env["RELSTREAM_TEACHER_OPENAI_URL"] = openai_url
    if (layout.world / "catalog.jsonl").is_file():
        # Requests carry their item; the catalog fills those that do not.
        argv += ["--catalog", str(layout.world)]
    return ChildSpec("teacher", argv, env, state)


def trainer_spec(
    settings: CommonSettings, layout: Layout, plan: DemoPlan, model_name: str,
    *, via_relstream: bool,
) -> ChildSpec:
    """`relstream train online`, or its module entry point when not wired into the CLI."""
    state = layout.state("trainer")
    env = base_env(settings, state)
    env.update({
        "RELSTREAM_REGISTRY_DIR": str(layout.registry),
        "RELSTREAM_ONLINE_KIND": "cross_encoder",
        "RELSTREAM_ONLINE_MODEL_NAME": model_name,
        "RELSTREAM_ONLINE_ENCODER": plan.student_encoder,
        "RELSTREAM_ONLINE_LAYERS": str(plan.student_layers),
        "RELSTREAM_ONLINE_LR": str(plan.student_lr),
        "RELSTREAM_ONLINE_EMA_DECAY": str(plan.student_ema_decay),
        "RELSTREAM_ONLINE_REHEARSAL_RECENT": str(plan.student_rehearsal_recent),
        "RELSTREAM_ONLINE_REHEARSAL_RATIO": str(plan.student_rehearsal_ratio),
        "RELSTREAM_ONLINE_MAX_LENGTH": str(plan.max_length),
        "RELSTREAM_ONLINE_INIT": "auto",
        "RELSTREAM_ONLINE_BATCH_SIZE": str(plan.batch_size),
        "RELSTREAM_ONLINE_HOLDOUT_EVERY": str(plan.holdout_every),
        "RELSTREAM_ONLINE_MIN_VALIDATION": str(plan.min_validation),
        "RELSTREAM_ONLINE_GATE_EVERY_LABELS": str(plan.gate_every_labels),
        "RELSTREAM_ONLINE_GATE_EVERY_MINUTES": str(plan.gate_every_minutes),
        "RELSTREAM_ONLINE_THREADS": "1",
        "RELSTREAM_ONLINE_GROUP_ID": group_ids(settings)["trainer"],
        "RELSTREAM_ONLINE_WORLD_DIR": str(layout.world),
        "RELSTREAM_ONLINE_SEED": str(plan.seed),
    })
    argv = (relstream_argv("train", "online") if via_relstream
            else [sys.executable, "-m", "relstream.cli.train_online", "online"])
    return ChildSpec("trainer", argv, env, state)


def server_spec(
    settings: CommonSettings, layout: Layout, port: int, ab_config: Path, model_name: str,
) -> ChildSpec:
    state = layout.state("server")
    env = base_env(settings, state)
    env.update({
        "RELSTREAM_POLL_INTERVAL_S": "2.0",
        "RELSTREAM_ONNX_THREADS": "1",
        "RELSTREAM_METRICS_FLUSH_S": "0.5",
    })
    argv = relstream_argv(
        "serve", "--host", "127.0.0.1", "--port", str(port),
        "--registry", str(layout.registry), "--model", model_name,
        "--catalog", str(layout.world / "catalog.jsonl"), "--ab-config", str(ab_config),
        "--follow")
    return ChildSpec("server", argv, env, state)
