"""Request and response bodies of the serving API (`shared/contracts/serving-api.md`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from relstream.core.schemas import MODEL_NAME_PATTERN, CatalogItem, CotSteps, TeacherInfo

ARM_VERSION_PATTERN = r"^(latest|[0-9]{1,18})$"
"""What an arm may serve: `latest` or one published (decimal) version."""


class ScoreRequest(BaseModel):
    """`POST /v1/score`: a query and either `item_ids` (looked up) or inline `items`.

    Limits (item count, query length) are checked by the app, which knows the
    configured maxima and answers 413 for them.
    """

    model_config = ConfigDict(extra="ignore")

    query: str = Field(description="Raw query text.")
    item_ids: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, description="Items to score, looked up in the catalog."
    )
    items: list[CatalogItem] | None = Field(
        None, description="Catalog objects scored without a look-up (instead of item_ids)."
    )
    user_id: str | None = Field(None, description="A/B bucketing key; absent: default arm.")
    request_id: str | None = Field(None, description="Generated when absent.")
    rescore_k: int | None = Field(
        None, ge=1, description="On a cascade arm: how many of the first stage's best items "
        "the cross-encoder rescores (default: the arm's rescore_k). Ignored elsewhere.",
    )

    @model_validator(mode="after")
    def _one_item_list(self) -> ScoreRequest:
        if self.item_ids is None and self.items is None:
            raise ValueError("item_ids: field required (or give items instead)")
        if self.item_ids is not None and self.items is not None:
            raise ValueError("item_ids and items: give one of them, not both")
        if not self.query.strip():
            raise ValueError("query: must not be empty")
        if len(self.item_ids if self.item_ids is not None else self.items or []) == 0:
            raise ValueError("item_ids: at least one item is required")
        return self


class ModelRef(BaseModel):
    name: str
    version: str


class ScoreResponse(BaseModel):
    request_id: str
    arm: str
    model: ModelRef
    scores: list[float | None] = Field(
        description="scores[k] is the relevance of item k in [0, 1], or null if unknown."
    )
    errors: list[str] = Field(default_factory=list)
    first_stage: ModelRef | None = Field(
        None, description="On a cascade arm, the two-tower that ranked the items before "
        "`model` rescored the top k; absent otherwise.",
    )


class ExplainResponse(BaseModel):
    query: str
    item_id: str
    grade: str
    grade_probs: dict[str, float]
    steps: list[str] = Field(description="The CoT steps as text lines, in order.")
    teacher: TeacherInfo
    cot: CotSteps | None = Field(None, description="The parsed steps (optional extra).")


class CascadeConfig(BaseModel):
    """An arm's first stage: a two-tower ranks every item, the arm's model rescores the top k."""

    model_config = ConfigDict(extra="forbid")

    model: Annotated[str, Field(min_length=1, max_length=64)] = "two_tower"
    version: Annotated[str, Field(min_length=1, max_length=20)] = "latest"
    rescore_k: Annotated[int, Field(ge=1)] = 20


class ArmConfig(BaseModel):
    """One A/B arm: the model it serves and its share of users."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=64)]
    model: Annotated[str, Field(pattern=MODEL_NAME_PATTERN)]
    version: Annotated[str, Field(pattern=ARM_VERSION_PATTERN)] = "latest"
    # Finite and bounded: an infinite share passed `ge=0` and made every bucket bound NaN.
    share: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
    cascade: CascadeConfig | None = Field(
        None, description="Rank with a two-tower first and rescore only its top k with this "
        "arm's model; absent: the arm's model scores every item.",
    )


class ABConfig(BaseModel):
    """Arms, their shares (normalised to sum 1), the salt and the default arm."""

    model_config = ConfigDict(extra="forbid")

    experiment: str = Field("default", max_length=128,
                            description="Name; also written with every request.")
    salt: str = Field("relstream", max_length=256,
                      description="Bucketing salt: change it to reshuffle users.")
    arms: list[ArmConfig]
    default_arm: str | None = Field(None, description="Arm for requests without user_id.")

    @model_validator(mode="after")
    def _valid(self) -> ABConfig:
        names = [a.name for a in self.arms]
        if not names:
            raise ValueError("arms: at least one arm is required")
        if len(set(names)) != len(names):
            raise ValueError(f"arms: names must be unique, got {names}")
        if sum(a.share for a in self.arms) <= 0:
            raise ValueError("arms: shares must add up to more than 0")
        if self.default_arm is not None and self.default_arm not in names:
            raise ValueError(f"default_arm: {self.default_arm!r} is not one of {names}")
        return self
