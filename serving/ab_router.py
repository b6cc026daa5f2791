"""A/B arms: users bucketed by a stable hash of (salt, user_id) into arms by share.

The bucket is `sha256(salt + "\\x1f" + user_id)` read as a number in [0, 1), so a user
lands in the same arm on every request, every replica and every restart, and changing
the salt reshuffles everyone. Requests without a user go to the default arm.
"""

from __future__ import annotations

import hashlib
import json
import threading
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from serving.api_models import ABConfig, ArmConfig
from serving.errors import ServingError


class ABConfigError(ServingError):
    """An A/B config that cannot be read or is not valid; the message says which field."""


def bucket(user_id: str, salt: str) -> float:
    """A stable number in [0, 1) for (salt, user_id)."""
    digest = hashlib.sha256(f"{salt}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def config_keys(config: ABConfig) -> list[tuple[str, str]]:
    """Every (model, version) the config serves, arms' first stages included, once each."""
    keys: list[tuple[str, str]] = []
    for arm in config.arms:
        keys.append((arm.model, arm.version))
        if arm.cascade is not None:
            keys.append((arm.cascade.model, arm.cascade.version))
    return list(dict.fromkeys(keys))


def single_arm(model: str, version: str = "latest", name: str = "default") -> ABConfig:
    return ABConfig(arms=[ArmConfig(name=name, model=model, version=version, share=1.0)])


def load_config(path: Path) -> ABConfig:
    try:
        return ABConfig.model_validate(json.loads(path.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        raise ABConfigError(f"cannot read A/B config {path}: {exc}") from exc
    except ValidationError as exc:
        raise ABConfigError(f"invalid A/B config {path}: {exc}") from exc


@dataclass(frozen=True)
class _Table:
    config: ABConfig
    bounds: list[float]  # cumulative share upper bounds, last == 1.0
    default: ArmConfig


def _table(config: ABConfig) -> _Table:
    total = sum(a.share for a in config.arms)
    bounds, acc = [], 0.0
    for arm in config.arms:
        acc += arm.share / total
        bounds.append(acc)
    bounds[-1] = 1.0  # no user may fall off the end through rounding
    by_name = {a.name: a for a in config.arms}
    default = by_name[config.default_arm] if config.default_arm else max(
        config.arms, key=lambda a: a.share
    )
    return _Table(config, bounds, default)


class ABRouter:
    """Maps a user to an arm; the config can be replaced atomically at run time."""

    def __init__(self, config: ABConfig) -> None:
        self._table = _table(config)
        self._lock = threading.Lock()

    @property
    def config(self) -> ABConfig:
        return self._table.config

    def set_config(self, config: ABConfig) -> None:
        table = _table(config)
        with self._lock:
            self._table = table

    def arm_for(self, user_id: str | None) -> ArmConfig:
        table = self._table  # one read: a concurrent set_config never mixes two configs
        if not user_id:
            return table.default
        index = bisect_right(table.bounds, bucket(user_id, table.config.salt))
        return table.config.arms[min(index, len(table.config.arms) - 1)]
