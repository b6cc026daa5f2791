"""Connection settings shared by every service, read once from `RELSTREAM_*` variables.

Each long-running service builds one settings object at its entry point (its own class,
subclassing `CommonSettings`) and passes it down; nothing deeper reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_cache_dir() -> Path:
    """Downloads (Maven jars, converted models) live outside any clone so CI reuses them."""
    return Path.home() / ".cache" / "relstream"


class CommonSettings(BaseSettings):
    """Where the shared services are. Every field can be set as `RELSTREAM_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="RELSTREAM_", extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma separated."
    )
    topic_prefix: str = Field(
        "", description="Prefix for every topic name, so several deployments share a broker."
    )
    clickhouse_url: str = Field(
        "",
        description="ClickHouse DSN. Empty means embedded chdb under <state_dir>/clickhouse; "
        "a server looks like http://user:pass@host:8123/db.",
    )
    redis_url: str = Field(
        "", description="Redis URL for the Feast online store; empty means SQLite."
    )
    state_dir: Path = Field(
        default_factory=lambda: default_cache_dir() / "state",
        description="Runtime state of the local stack: broker data, pid files, chdb, registry.",
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="Downloads kept across runs: Maven artifacts, converted models.",
    )

    def chdb_dsn(self) -> str:
        """The DSN clickhouse-connect should use: the configured URL or embedded chdb."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{self.state_dir / 'clickhouse'}"
