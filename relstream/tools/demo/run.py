"""`relstream demo`: the whole loop on the embedded stack, from a simulated world to an A/B.

Stages: a `new-brand` world; the local Kafka broker; the stream processor, a teacher
worker and the continuous trainer as supervised children; phase 1 replays the pre-launch
stream until the trainer publishes its first version (the frozen arm pins it); the server
starts with two arms (frozen: version 1, continuous: latest); phase 2 replays the launch
while the traffic driver sends searches of simulated users and feeds their clicks back;
then every child stops, and the A/B report and plots are computed from the server's data.
A stage whose component is missing or fails is skipped with the reason, never waited on.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relstream.core.settings import CommonSettings
from relstream.stack import LocalStack, free_port
from relstream.tools.demo import children as kids
from relstream.tools.demo.plan import MODEL_NAME, DemoError, DemoPlan, DemoResult, say
from relstream.tools.demo.supervisor import Supervisor, SupervisorError, interrupts_as_exceptions
from relstream.tools.demo.world import World, make_world


def group_stable(kafka: Mapping[str, Any], group: str) -> bool:
    """True once the consumer group has members and finished rebalancing."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(**kafka, request_timeout_ms=5000)
    try:
        desc = admin.describe_groups([group]).get(group) or {}
        return bool(desc.get("group_state") == "Stable" and desc.get("members"))
    finally:
        admin.close()


def http_ok(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


class Demo:
    """One run: owns the supervisor, the replay thread and the traffic driver."""

    def __init__(self, settings: CommonSettings, plan: DemoPlan, out: Path,
                 commands: set[str]) -> None:
        self.plan = plan
        self.commands = commands
        self.layout = kids.Layout(out.resolve())
        prefix = settings.topic_prefix or f"demo{uuid.uuid4().hex[:6]}-"
        self.settings = settings.model_copy(update={"topic_prefix": prefix,
                                                    "clickhouse_url": ""})
        self.result = DemoResult(self.layout.out)
        self.supervisor = Supervisor(self.layout.logs)
        self.started_kafka = False
        self.world: World | None = None
        self.traffic: Any = None
        self.progress: Any = None
        self.port = free_port()

    # --- stages ------------------------------------------------------------------------

    def skip(self, stage: str, why: str) -> None:
        self.result.skipped[stage] = why
        say(f"-- SKIPPED {stage}: {why}")

    def prepare_world(self) -> World:
        t0 = time.monotonic()
        world, generated = make_world(self.plan, self.layout.world)
        say(f"== world: {'generated' if generated else 'reused'} {world.dir} in "
            f"{time.monotonic() - t0:.1f} s: new brand {world.new_brand!r} launches at "
            f"{(world.change_at - world.start) / world.seconds:.0%} of the stream; "
            f"{world.pre_events} events before, {world.post_events} after; "
            f"{len(world.new_brand_queries)} new-brand queries, {world.knockoffs} knock-off "
            f"listings launch with it")
        return world

    def start_stack(self) -> None:
        from relstream.core.broker_wait import broker_problem
        from relstream.core.topics import ensure_topics

        stack = LocalStack(self.settings)
        if broker_problem(self.settings.kafka_client_config(), timeout_s=3.0) is None:
            say(f"== kafka: using the broker at {self.settings.kafka_bootstrap}")
        else:
            say("== kafka: starting the local broker (first run downloads it from Maven)")
            status = stack.start_kafka()
            self.started_kafka = True
            say(f"   {status.where} pid {status.pid}")
        ensure_topics(self.settings.kafka_client_config(), self.settings.topic_prefix)
        say(f"   topics prefixed {self.settings.topic_prefix!r}; ClickHouse embedded (chdb), "
            f"one path per child under {self.layout.out / 'state'}")

    def start_child(self, spec: kids.ChildSpec, ready: Any = None, what: str = "",
                    timeout_s: float | None = None) -> bool:
        """Start a child and wait for `ready()`; on failure stop it and report the skip."""
        if spec.state_dir is not None:
            spec.state_dir.mkdir(parents=True, exist_ok=True)
        self.supervisor.start(spec.name, spec.argv, env=spec.env, cwd=spec.state_dir)
        if ready is None:
            say(f"== {spec.name}: started ({what}); log {self.layout.logs / spec.name}.log")
            return True
        try:
            waited = self.supervisor.wait_ready(spec.name, ready,
                                                timeout_s or self.plan.ready_timeout_s)
        except SupervisorError as exc:
            self.supervisor.stop(spec.name)
            self.skip(spec.name, str(exc))
            return False
        say(f"== {spec.name}: ready in {waited:.0f} s ({what}); "
            f"log {self.layout.logs / spec.name}.log")
        return True

    def start_pipeline(self, commands: set[str]) -> dict[str, bool]:
        s, plan, layout = self.settings, self.plan, self.layout
        groups = kids.group_ids(s)
        up = {}
        openai_url, which = self.start_teacher_engine()
        if openai_url and plan.bootstrap_labels:
            self.bootstrap(openai_url)
        budget = (plan.label_budget_per_minute if openai_url
                  else plan.stand_in_budget_per_minute)
        if "streams run" in commands:
            up["streams"] = self.start_child(
                kids.streams_spec(s, layout, plan, budget),
                lambda: group_stable(s.kafka_client_config(), groups["streams"]),
                f"{kids.streams_engine(s)} engine, label budget {budget:.0f}/min")
        else:
            self.skip("streams", "`relstream streams run` is not installed: no features and "
                      "no label requests")
        up["teacher"] = self.start_child(
            kids.teacher_spec(s, layout, plan, openai_url=openai_url),
            lambda: group_stable(s.kafka_client_config(), groups["teacher"]), which)
        trainer_cli = "train online" in commands
        if trainer_cli or kids.module_available("relstream.cli.train_online"):
            up["trainer"] = self.start_child(
                kids.trainer_spec(s, layout, plan, MODEL_NAME, via_relstream=trainer_cli),
                what=f"{plan.student_encoder} cross-encoder, {plan.student_layers} layer(s), "
                f"gate every {plan.gate_every_labels} labels")
        else:
            self.skip("trainer", "the continuous trainer (student_trainer.online) is not "
                      "installed: no student versions, so nothing to serve")
        return up

    def bootstrap(self, openai_url: str) -> None:
        """Version 1 trained offline on teacher labels of the pre-launch history (see
        `relstream.tools.demo.bootstrap`); a failure is said and the trainer makes version 1."""
        from relstream.tools.demo.bootstrap import bootstrap_version_1

        assert self.world is not None
        try:
            self.result.bootstrap = bootstrap_version_1(
                self.world, self.plan, self.layout.registry, MODEL_NAME, openai_url,
                self.settings.cache_dir, say)
        except Exception as exc:  # the loop still runs; its first version is then online
            self.skip("bootstrap", f"version 1 could not be trained offline ({exc}); the "
                      "continuous trainer's first gated version becomes version 1")

    def start_teacher_engine(self) -> tuple[str | None, str]:
        """The teacher's engine: ELLM-rele on vLLM (a running server at the configured URL,
        else one the demo starts), or the lexical baseline when asked for.

        Returns (the OpenAI URL the worker calls, or None for the lexical baseline; what
        the console says about the teacher)."""
        from teacher_worker.settings import TeacherSettings
        from teacher_worker.vllm_server import server_ready

        if self.plan.teacher == "lexical":
            say("-- teacher: the lexical baseline (word overlap, no LLM, never ground truth), "
                "because --teacher lexical was asked for")
            return None, "lexical baseline teacher"
        teacher = TeacherSettings()
        name = teacher.model_dir().name
        note = self.plan.slow_teacher_note()
        if note:
            say(note)
        if server_ready(teacher.teacher_openai_url):
            return teacher.teacher_openai_url, f"ELLM-rele via {teacher.teacher_openai_url}"
        port = free_port(avoid={self.port})  # ours, bound only later
        url = f"http://127.0.0.1:{port}/v1"
        ok = self.start_child(kids.vllm_spec(self.settings, self.layout, port,
                                             self.plan.vllm_cores()),
                              lambda: http_ok(f"{url}/models"),
                              f"vLLM serving {name} at {url}",
                              timeout_s=self.plan.vllm_start_timeout_s)
        if not ok:
            raise DemoError("the teacher's vLLM server did not start (see "
                            f"{self.layout.logs / 'vllm.log'}); `./dev demo --teacher lexical` "
                            "runs the loop on the word-overlap baseline instead")
        return url, f"ELLM-rele ({name}) via vLLM"

    def replay(self, log: Path, speed: float, catalog: bool, phase: str) -> None:
        """Replay one part of the log in a thread while the progress line runs here."""
        from streams.replay import replay_files

        assert self.world is not None
        world = self.world
        errors: list[BaseException] = []

        def work() -> None:
            try:
                replay_files(self.settings, world.catalog if catalog else None, log,
                             speed=speed)
            except BaseException as exc:  # re-raised in the main thread
                errors.append(exc)

        thread = threading.Thread(target=work, name=f"replay-{phase}", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(1.0)
            self.progress.tick(phase, self._traffic_text())
        if errors:
            raise DemoError(f"replay of {log} failed: {errors[0]}") from errors[0]
        self.progress.tick(phase, self._traffic_text(), force=True)

    def _traffic_text(self) -> str:
        if self.traffic is None:
            return ""
        st = self.traffic.stats
        arms = " ".join(f"{a}={n}" for a, n in sorted(st.by_arm.items()))
        return f"requests {st.sent} (new brand {st.new_brand}; {arms})"

    def wait_first_version(self) -> str | None:
        from relstream.core.registry import list_versions

        deadline = time.monotonic() + self.plan.first_version_timeout_s
        trainer = self.supervisor.children.get("trainer")
        while time.monotonic() < deadline:
            versions = list_versions(self.layout.registry, MODEL_NAME)
            if versions:
                return versions[0]
            if trainer is None or not trainer.alive():
                return None
            self.progress.tick("first model")
            time.sleep(1.0)
        versions = list_versions(self.layout.registry, MODEL_NAME)
        return versions[0] if versions else None

    def show_explain(self, base: str) -> None:
        """Print the teacher's latest judgement as `/v1/explain` returns it: the LLM's CoT
        steps and grade distribution for one pair the stream asked it about."""
        import httpx

        from teacher_worker.label_cache import LabelCache

        path = self.layout.state("teacher") / "teacher" / "label-cache.sqlite"
        if not path.is_file():
            return
        cache = LabelCache(path)
        try:
            label = cache.latest()
        finally:
            cache.close()
        if label is None:
            return
        params = {"query": label.query, "item_id": label.item_id}
        deadline = time.monotonic() + 20.0  # the server reads teacher-labels as they come
        while True:
            try:
                reply = httpx.get(f"{base}/v1/explain", timeout=5.0, params=params)
            except httpx.HTTPError as exc:
                say(f"-- /v1/explain did not answer: {exc}")
                return
            if reply.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        if reply.status_code != 200:
            say(f"-- /v1/explain for {label.query!r} / {label.item_id}: {reply.status_code} "
                "(the server has not read that label)")
            return
        body = reply.json()
        probs = " ".join(f"{g}={p:.2f}" for g, p in body["grade_probs"].items())
        say(f"== the teacher ({body['teacher']['model']}) on {body['query']!r} / "
            f"{body['item_id']}, from {base}/v1/explain: grade {body['grade']} ({probs})")
        for step in body.get("steps") or []:
            say(f"   {step}")

    def write_ab_config(self, frozen: str) -> Path:
        config = {"experiment": self.plan.experiment, "salt": f"demo-{self.plan.seed}",
                  "default_arm": "continuous", "arms": [
                      {"name": "frozen", "model": MODEL_NAME, "version": frozen, "share": 0.5},
                      {"name": "continuous", "model": MODEL_NAME, "version": "latest",
                       "share": 0.5}]}
        path = self.layout.out / "ab-config.json"
        path.write_text(json.dumps(config, indent=2))
        return path

    def start_traffic(self) -> None:
        from relstream.tools.demo.traffic import TrafficDriver
        from relstream.tools.loadgen.ab_sim import load_grades, load_searches

        assert self.world is not None
        searches = load_searches(self.world.post_log)
        users = [s.user_id for s in load_searches(self.world.pre_log)]
        self.traffic = TrafficDriver(
            self.settings, f"http://127.0.0.1:{self.port}", searches,
            load_grades(self.world.labels), set(self.world.new_brand_queries), self.clock,
            rps=self.plan.traffic_rps, new_brand_share=self.plan.new_brand_share,
            seed=self.plan.seed, users=users + [s.user_id for s in searches])
        self.traffic.start()

    # --- the run -------------------------------------------------------------------------

    def run(self) -> DemoResult:
        from relstream.tools.demo.progress import Progress
        from relstream.tools.demo.traffic import ReplayClock

        began = time.monotonic()
        self.layout.out.mkdir(parents=True, exist_ok=True)
        (self.layout.out / "plan.json").write_text(json.dumps(self.plan.to_json(), indent=2))
        say(f"relstream demo ({self.plan.mode}): writing to {self.layout.out}")
        self.clock = ReplayClock()
        try:
            with interrupts_as_exceptions():
                self.world = self.prepare_world()
                self.start_stack()
                commands = self.commands
                self.progress = Progress(self.settings, self.layout.registry, MODEL_NAME,
                                         self.supervisor)
                self.start_pipeline(commands)
                self.experiment(commands)
        except KeyboardInterrupt:
            say("\ninterrupted: stopping every child")
            raise
        finally:
            self.shutdown()
            self.result.seconds = time.monotonic() - began
        self.finish()
        self.result.seconds = time.monotonic() - began
        return self.result

    def experiment(self, commands: set[str]) -> None:
        world = self.world
        assert world is not None
        speed1, speed2 = self.plan.speed(world.seconds)
        say(f"== phase 1: replaying {world.pre_events} pre-launch events at {speed1:.0f}x "
            f"(~{self.plan.pre_seconds:.0f} s)")
        self.replay(world.pre_log, speed1, catalog=True, phase="pre-launch")
        frozen = self.wait_first_version()
        if frozen is None:
            self.skip("A/B experiment", "no student version was published (see the trainer "
                      "and teacher logs): nothing to serve. Replaying the launch anyway.")
            self.replay(world.post_log, speed2, catalog=False, phase="launch")
            return
        say(f"== first student version: {MODEL_NAME} v{frozen} (the frozen arm pins it)")
        if "serve" not in commands:
            self.skip("server", "`relstream serve` is not installed")
            self.replay(world.post_log, speed2, catalog=False, phase="launch")
            return
        ab = self.write_ab_config(frozen)
        base = f"http://127.0.0.1:{self.port}"
        ok = self.start_child(kids.server_spec(self.settings, self.layout, self.port, ab,
                                               MODEL_NAME),
                              lambda: http_ok(f"{base}/readyz"),
                              f"{base}, arms frozen=v{frozen} / continuous=latest")
        if not ok:
            self.replay(world.post_log, speed2, catalog=False, phase="launch")
            return
        say(f"== phase 2: the new brand {world.new_brand!r} launches; replaying "
            f"{world.post_events} events at {speed2:.0f}x (~{self.plan.post_seconds:.0f} s) "
            f"while simulated users search (up to {self.plan.traffic_rps:g}/s)")
        self.clock.start(world.change_at, speed2)
        self.start_traffic()
        self.replay(world.post_log, speed2, catalog=False, phase="launch")
        self.show_explain(base)
        self.traffic.stop()
        if self.traffic.error is not None:
            say(f"!! the traffic driver stopped early: {self.traffic.error}")

    def shutdown(self) -> None:
        if self.traffic is not None and self.traffic.is_alive():
            self.traffic.stop()
        if self.supervisor.children:
            say("== stopping children: " + ", ".join(reversed(list(self.supervisor.children))))
        self.result.stopped = self.supervisor.stop_all()
        for name, how in self.result.stopped.items():
            say(f"   {name}: {how}")
        if self.progress is not None:
            self.progress.close()
        if self.started_kafka:
            LocalStack(self.settings).stop("kafka")
            say("   kafka: stopped (the demo started it)")
        self.result.leftovers = self.supervisor.leftovers()
        if self.result.leftovers:
            say(f"!! process groups still alive: {self.result.leftovers}")

    def finish(self) -> None:
        """The A/B report and plots from the server's data (the server has stopped)."""
        from relstream.tools.demo.finish import report_and_plots

        if "server" not in self.supervisor.children:
            self.skip("report", "the server never ran, so there is no A/B data")
            return
        assert self.world is not None
        report_and_plots(layout=self.layout, result=self.result, settings=self.settings,
                         plan=self.plan, world=self.world,
                         traffic=self.traffic.stats if self.traffic is not None else None)


def run_demo(settings: CommonSettings, plan: DemoPlan, out: Path,
             commands: set[str]) -> DemoResult:
    """Run the demo described by `plan`, writing everything under `out`.

    `commands` are the installed `relstream` commands ('cmd' and 'cmd action'), read from
    the CLI's parser by `children.available_commands`: stages whose command is missing
    are skipped with a reason.
    """
    return Demo(settings, plan, out, commands).run()
