"""Teacher backends behind one protocol: OpenAI HTTP (vLLM's server), transformers, vLLM
in-process, and the lexical baseline.

`load_backend(settings)` picks one by `settings.backend`; each backend module imports its
heavy dependency (torch, vllm, httpx) only when it is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teacher_worker.backends.protocol import Judgement, LabelFailure, TeacherBackend

if TYPE_CHECKING:
    from teacher_worker.settings import TeacherSettings

__all__ = ["Judgement", "LabelFailure", "TeacherBackend", "load_backend"]


def load_backend(settings: TeacherSettings) -> TeacherBackend:
    """The backend `settings.backend` names, configured from `settings`."""
    if settings.backend == "transformers":
        from teacher_worker.backends.transformers_backend import TransformersBackend

        return TransformersBackend.from_settings(settings)
    if settings.backend == "vllm":
        from teacher_worker.backends.vllm_backend import VllmBackend

        return VllmBackend.from_settings(settings)
    if settings.backend == "lexical":
        from teacher_worker.backends.lexical_backend import LexicalTeacher

        return LexicalTeacher.from_settings(settings)
    from teacher_worker.backends.openai_backend import OpenAIBackend

    return OpenAIBackend.from_settings(settings)
