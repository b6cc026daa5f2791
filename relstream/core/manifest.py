"""The manifest of a registry version (`<root>/<name>/<version>/manifest.json`): one type.

`ModelManifest` is what the exporter writes (`to_dict` / `write`), what the registry
checks when it publishes and verifies a version, and what serving and the trainer read
(`read`, `from_dict`). It imports only pydantic and the standard library, so the scoring
path never pulls in torch.

Keys: name, version, kind ("cross_encoder" | "two_tower"), graphs (role → file), inputs
(graph role → ONNX input names), max_length, score_weights (grade → weight; score =
Σ w_g·softmax(logits)_g), files (relative path → sha256 of every file but the manifest),
metrics, config, parent_version, created_at, training_window; exported versions add
outputs, embedding_dim, parity_max_abs_diff and, with INT8, quantized_graphs,
quantization and int8_gate. The file format is the JSON it always was: a key that was
absent stays absent when a manifest is read and written again (`to_dict` writes only the
keys that were given), and keys this type does not know are kept and written back.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError, model_validator

from relstream.core.errors import RelstreamError
from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS, GRADES

MANIFEST = "manifest.json"
Kind = Literal["cross_encoder", "two_tower"]
GRAPH_ROLES: dict[Kind, tuple[str, ...]] = {
    "cross_encoder": ("scorer",), "two_tower": ("query_tower", "item_tower", "head")}
"""The graphs each kind needs; `graphs` may name more, never fewer."""


class RegistryError(RelstreamError):
    """A registry operation failed: bad staging dir, missing version, corrupt file."""


class ModelLoadError(RegistryError):
    """A model version could not be read, verified or loaded; the old model stays."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inside(directory: Path, relpath: str) -> Path:
    """`directory / relpath`, or `RegistryError` if that resolves outside `directory`.

    Manifests name files by relative path; an absolute path, a `..` or a symlink must not
    lead a reader (serving, the trainer) to a file outside the version directory.
    """
    base = Path(directory).resolve()
    target = (base / relpath).resolve()
    if not target.is_relative_to(base):
        raise RegistryError(f"path {relpath!r} leaves the version directory {directory}")
    return target


def file_hashes(directory: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under `directory` but the manifest: `files`."""
    directory = Path(directory)
    return {
        p.relative_to(directory).as_posix(): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.relative_to(directory).as_posix() != MANIFEST
    }


def manifest_sha256(version_dir: Path) -> str:
    """The fingerprint a `ModelUpdate` event carries: sha256 of the manifest file."""
    return sha256_file(Path(version_dir) / MANIFEST)


def _problems(exc: ValidationError) -> str:
    """Pydantic's errors as one line: `max_length: Field required; kind: Input should ...`."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'manifest'}: "
        f"{err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    )


class ModelManifest(BaseModel):
    """A version's manifest. Required: what a staged version must say (kind, graphs,
    inputs, max_length, score_weights); `registry.publish` fills in name, version, files,
    created_at and parent_version. Unknown keys are kept (`model_extra`).

    Frozen: derive a changed manifest with `replace`. `directory` is where it was read
    from (never written to the file, never taken from it).
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    kind: Kind
    graphs: dict[str, str]
    inputs: dict[str, list[str]]
    max_length: int
    score_weights: dict[str, float]
    name: str = ""
    version: str = ""
    files: dict[str, str] = {}
    metrics: dict[str, Any] = {}
    config: dict[str, Any] = {}
    parent_version: str | None = None
    created_at: str | None = None
    training_window: Any = None
    outputs: dict[str, list[str]] | None = None
    embedding_dim: int | None = None
    parity_max_abs_diff: float | None = None
    quantized_graphs: dict[str, str] | None = None
    """INT8 twins of `graphs` (role → file); serving runs them only if `int8_gate` passes."""
    quantization: dict[str, Any] | None = None
    int8_gate: dict[str, Any] | None = None
    """fp32 and INT8 validation AUCs (`student_trainer.int8_gate.gate_record`).
    `serving.precision` checks each number: one missing or not finite means fp32."""

    _directory: Path | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _graphs_of_the_kind(self) -> ModelManifest:
        missing = [g for g in GRAPH_ROLES[self.kind] if g not in self.graphs]
        if missing:
            raise ValueError(f"a {self.kind} needs graphs {GRAPH_ROLES[self.kind]}, "
                             f"missing {missing}")
        return self

    # --- reading and writing: the one parser and the one writer -----------------------

    @classmethod
    def from_dict(cls, data: Any, directory: Path | None = None, *,
                  source: str = "manifest") -> ModelManifest:
        """Validate a parsed manifest, or `RegistryError` naming `source` and every problem."""
        if not isinstance(data, dict):
            raise RegistryError(f"{source} is not a JSON object")
        try:
            manifest = cls.model_validate(data)
        except ValidationError as exc:
            raise RegistryError(f"{source}: {_problems(exc)}") from exc
        manifest._directory = Path(directory) if directory is not None else None
        return manifest

    @classmethod
    def read(cls, version_dir: Path) -> ModelManifest:
        """Parse `<version_dir>/manifest.json`, or `RegistryError` naming what is wrong.

        A manifest without name or version (hand-made) takes them from the directory,
        which in a registry is `<root>/<name>/<version>`.
        """
        version_dir = Path(version_dir)
        path = version_dir / MANIFEST
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise RegistryError(f"no {MANIFEST} in {version_dir}") from exc
        except (OSError, ValueError) as exc:  # ValueError: bad JSON or bad UTF-8
            raise RegistryError(f"cannot read {path}: {exc}") from exc
        if isinstance(data, dict):
            for key, default in (("name", version_dir.parent.name), ("version", version_dir.name)):
                if not data.get(key):
                    data[key] = default
        return cls.from_dict(data, version_dir, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the file: the keys given (explicit nulls included) and unknown
        keys as read; defaults that were never given are not written."""
        return self.model_dump(exclude_unset=True)

    def write(self, directory: Path) -> Path:
        """Write `<directory>/manifest.json` (sorted keys, indent 2: the registry's format)."""
        path = Path(directory) / MANIFEST
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return path

    def replace(self, **changes: Any) -> ModelManifest:
        """A validated copy with `changes`; the changed keys count as given (`to_dict`)."""
        return self.from_dict({**self.to_dict(), **changes}, self._directory,
                              source=f"manifest of {self.name or self.kind}")

    # --- what readers need ------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The version directory this manifest was read from."""
        if self._directory is None:
            raise RegistryError(f"the manifest of {self.name or self.kind} was not read from "
                                "a version directory")
        return self._directory

    def path(self, relpath: str) -> Path:
        """`directory / relpath`, refused (`ModelLoadError`) if it resolves outside it."""
        try:
            return inside(self.directory, relpath)
        except RegistryError as exc:
            raise ModelLoadError(f"{self._directory}: {exc}") from exc

    def grade_weights(self) -> dict[str, float]:
        """Weight per grade E, S, C, I as served: a grade not given weighs 0, and no weights
        at all means `DEFAULT_SCORE_WEIGHTS`."""
        weights = self.score_weights or DEFAULT_SCORE_WEIGHTS
        return {g: float(weights.get(g, 0.0)) for g in GRADES}

    def verify_files(self) -> None:
        """Every listed file exists with its sha256 and every graph is listed; else
        `RegistryError`."""
        directory = self.directory
        if not self.files:
            raise RegistryError(f"manifest {directory / MANIFEST} lists no files")
        for rel, expected in self.files.items():
            file = inside(directory, rel)
            if not file.is_file():
                raise RegistryError(f"{file} is listed in the manifest but missing")
            actual = sha256_file(file)
            if actual != expected:
                raise RegistryError(
                    f"sha256 mismatch: sha256 of {rel} in {directory} is {actual}, "
                    f"manifest says {expected}"
                )
        for role, graph in self.graphs.items():
            if graph not in self.files:
                raise RegistryError(f"graph {role!r} ({graph}) is not among the manifest's files")


def read_manifest(version_dir: Path) -> ModelManifest:
    """Serving's read: `ModelManifest.read`, every failure as `ModelLoadError`."""
    try:
        return ModelManifest.read(version_dir)
    except ModelLoadError:
        raise
    except RegistryError as exc:
        raise ModelLoadError(str(exc)) from exc


def verify_files(manifest: ModelManifest) -> None:
    """Serving's check before loading: `ModelManifest.verify_files` as `ModelLoadError`."""
    try:
        manifest.verify_files()
    except RegistryError as exc:
        raise ModelLoadError(f"{manifest.directory}: {exc} (corrupt or half-written copy)"
                             ) from exc
