"""Feast store configuration built from relstream settings, and opening/applying the repo.

The repo lives under `<state_dir>/feature_repo`: registry file, SQLite online store (or
Redis when `redis_url` is set), the file offline store's parquet files, and a generated
`feature_store.yaml` so the `feast` CLI can inspect the same repo.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import Field

from feature_store.errors import FeatureStoreError
from relstream.core.settings import CommonSettings, redact_url

log = logging.getLogger(__name__)


class FeatureStoreSettings(CommonSettings):
    """Feature-store settings; all `RELSTREAM_*` like the shared ones."""

    feast_project: str = Field(
        "relstream", description="Feast project name (letters, digits, underscores)."
    )
    feature_repo: Path | None = Field(
        None, description="Feast repo directory; empty means <state_dir>/feature_repo."
    )
    feast_redis_direct: bool = Field(
        True, description="On plain Redis, write rows in Feast's hash layout directly "
        "(feature_store/redis_rows.py, ~4x the proto path); false: through Feast's own "
        "online_write_batch, e.g. for a Feast whose layout differs from the pinned one."
    )


def repo_dir(settings: CommonSettings) -> Path:
    explicit = getattr(settings, "feature_repo", None)
    return Path(explicit) if explicit else settings.state_dir / "feature_repo"


def redis_connection_string(url: str) -> str:
    """`redis://host:port/db` → Feast's `host:port,db=N` form."""
    parsed = urlparse(url if "://" in url else f"redis://{url}")
    if parsed.scheme not in ("redis", "rediss"):
        raise FeatureStoreError(
            f"redis_url {redact_url(url)!r} must start with redis:// or rediss://")
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    db = (parsed.path or "/0").lstrip("/") or "0"
    if not db.isdigit():
        raise FeatureStoreError(
            f"redis_url {redact_url(url)!r}: database {db!r} is not a number")
    parts = [f"{host}:{port}", f"db={db}"]
    if parsed.password:
        parts.append(f"password={parsed.password}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return ",".join(parts)


def online_store_config(settings: CommonSettings) -> dict[str, Any]:
    if settings.redis_url:
        return {"type": "redis",
                "connection_string": redis_connection_string(settings.redis_url)}
    return {"type": "sqlite", "path": str(repo_dir(settings) / "online.db")}


def repo_config_dict(settings: CommonSettings) -> dict[str, Any]:
    """The `feature_store.yaml` content for these settings."""
    root = repo_dir(settings)
    return {
        "project": getattr(settings, "feast_project", "relstream"),
        "provider": "local",
        "registry": str(root / "registry.db"),
        "online_store": online_store_config(settings),
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def repo_config(settings: CommonSettings) -> Any:
    """A Feast `RepoConfig` for these settings (imports feast: ~10 s the first time)."""
    from feast.repo_config import RepoConfig

    cfg = repo_config_dict(settings)
    return RepoConfig(repo_path=repo_dir(settings), **cfg)


def open_store(settings: CommonSettings) -> Any:
    """A `feast.FeatureStore` on the repo; call `apply_repo` once before reading."""
    from feast import FeatureStore

    root = repo_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    try:
        return FeatureStore(repo_path=str(root), config=repo_config(settings))
    except Exception as exc:  # feast raises many unrelated types for a bad config
        raise FeatureStoreError(f"cannot open the Feast repo at {root}: {exc}") from exc


def apply_repo(settings: CommonSettings, store: Any | None = None) -> Any:
    """Register every entity, view, push source and service; idempotent. Returns the store."""
    import yaml

    from feature_store.definitions import VIEWS, build_objects
    from feature_store.offline import ensure_batch_dirs

    root = repo_dir(settings)
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "feature_store.yaml").write_text(yaml.safe_dump(repo_config_dict(settings)))
    store = store or open_store(settings)
    defs = build_objects(root / "data")
    ensure_batch_dirs(root / "data", VIEWS)
    try:
        store.apply(defs.objects)
    except Exception as exc:
        raise FeatureStoreError(f"feast apply failed in {root}: {exc}") from exc
    log.info("feast repo applied at %s (%s online store)", root,
             online_store_config(settings)["type"])
    return store
