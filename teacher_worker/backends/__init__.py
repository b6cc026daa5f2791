"""Teacher backends behind one protocol: OpenAI HTTP (vLLM's server), transformers, vLLM
in-process, and the lexical baseline.

`load_backend(settings)` picks one by `settings.backend`, and gives an LLM backend the
calibration shipped with its model (`teacher_worker.calibration`); each backend module
imports its heavy dependency (torch, vllm, httpx) only when it is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teacher_worker.backends.protocol import BackendBase, Judgement, LabelFailure, TeacherBackend

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings

__all__ = ["Judgement", "LabelFailure", "TeacherBackend", "load_backend"]


def load_backend(settings: TeacherSettings) -> TeacherBackend:
    """The backend `settings.backend` names, configured from `settings`."""
    backend: BackendBase
    if settings.backend == "lexical":
        from teacher_worker.backends.lexical_backend import LexicalTeacher

        return LexicalTeacher.from_settings(settings)  # not the model: nothing to calibrate
    if settings.backend == "transformers":
        from teacher_worker.backends.transformers_backend import TransformersBackend

        backend = TransformersBackend.from_settings(settings)
    elif settings.backend == "vllm":
        from teacher_worker.backends.vllm_backend import VllmBackend

        backend = VllmBackend.from_settings(settings)
    else:
        from teacher_worker.backends.openai_backend import OpenAIBackend

        backend = OpenAIBackend.from_settings(settings)
    if settings.teacher_calibration == "auto":
        from teacher_worker.calibration import load_calibration

        backend.calibration = load_calibration(settings.model_dir())
    return backend
