"""`SimConfig`: every knob of a simulated world, validated once when it is built."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from relstream.tools.simulator.errors import SimulatorError
from relstream.tools.simulator.families import get_family

Scenario = Literal["steady", "new-brand", "trend-shift"]
SCENARIOS: tuple[str, ...] = get_args(Scenario)


@dataclass(frozen=True)
class SimConfig:
    """One world. The same config (seed included) always gives byte-identical files."""

    out: Path
    seed: int = 0
    items: int = 20_000
    days: float = 3.0
    searches: int | None = None
    """Searches in the log; default 12,000 per simulated day."""
    scenario: Scenario = "steady"
    start: str = "2026-03-02T00:00:00Z"
    change_at_frac: float = 0.5
    """Where in the time range a drift scenario's change happens (0..1)."""
    knockoffs: float = 0.0
    """`new-brand` only: other sellers' listings titled after the launched brand, per
    launched item (`relstream.tools.simulator.knockoffs`); 0 = none."""
    brands: int = 320
    results_per_search: int = 10
    candidate_pool: int = 24
    users: int | None = None
    """Distinct users; default one per five searches."""
    queries: int | None = None
    """Queries generated beyond the bare product types; default 60% of the searches."""
    cot_share: float = 0.1
    """Share of labelled train/validation pairs that get a CoT annotation."""
    split_fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)
    family: int = 0
    """Shop family (`relstream.tools.simulator.families`): 0 is the general marketplace, 1-5 shops
    of other trades with their own taxonomy, words and styles."""

    def __post_init__(self) -> None:
        if isinstance(self.family, bool) or not isinstance(self.family, int):
            raise SimulatorError(f"family={self.family!r}: expected a family id (int)")
        get_family(self.family)  # validates the id
        if self.items < 100:
            raise SimulatorError(f"items={self.items}: need at least 100 for a usable catalog")
        if not 0 < self.days <= 60:
            raise SimulatorError(f"days={self.days}: expected more than 0 and at most 60")
        if self.searches is not None and self.searches < 1:
            raise SimulatorError(f"searches={self.searches}: expected at least 1")
        if self.scenario not in SCENARIOS:
            raise SimulatorError(f"scenario {self.scenario!r} is not one of {SCENARIOS}")
        if not 0.05 <= self.change_at_frac <= 0.95:
            raise SimulatorError(f"change_at_frac={self.change_at_frac}: expected 0.05..0.95")
        if not 0 <= self.knockoffs <= 5:
            raise SimulatorError(f"knockoffs={self.knockoffs}: expected 0..5 per launched item")
        if self.brands < 20:
            raise SimulatorError(f"brands={self.brands}: expected at least 20")
        if not 1 <= self.results_per_search <= self.candidate_pool:
            raise SimulatorError(
                f"results_per_search={self.results_per_search} must be 1..candidate_pool "
                f"({self.candidate_pool})")
        if not 0 <= self.cot_share <= 1:
            raise SimulatorError(f"cot_share={self.cot_share}: expected a share in 0..1")
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1) > 1e-6 or min(
                self.split_fractions) < 0:
            raise SimulatorError(
                f"split_fractions={self.split_fractions}: need three shares summing to 1")
        self.start_ts()  # validates the format

    @classmethod
    def tiny(cls, out: Path, seed: int = 0, **overrides: Any) -> SimConfig:
        """A world for unit tests: 500 items, 300 searches in one day (about a second)."""
        args: dict[str, Any] = {"items": 500, "searches": 300, "days": 1.0, "cot_share": 0.5}
        return cls(out=out, seed=seed, **{**args, **overrides})

    def start_ts(self) -> float:
        try:
            dt = datetime.fromisoformat(self.start.replace("Z", "+00:00"))
        except ValueError as exc:
            raise SimulatorError(f"start={self.start!r} is not an RFC 3339 time") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()

    @property
    def n_searches(self) -> int:
        return self.searches if self.searches is not None else int(12_000 * self.days)

    @property
    def n_users(self) -> int:
        return self.users if self.users is not None else max(20, self.n_searches // 5)

    @property
    def n_queries(self) -> int:
        return self.queries if self.queries is not None else max(100, int(self.n_searches * 0.6))

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("out")
        out["split_fractions"] = list(self.split_fractions)
        if not self.family:
            # family 0 worlds keep the exact scenario.json they had before families existed
            out.pop("family")
        if not self.knockoffs:
            out.pop("knockoffs")  # worlds without knock-offs keep their scenario.json too
        return out
