"""Root exception of the `teacher_worker` package."""

from __future__ import annotations


class TeacherWorkerError(Exception):
    """Base of every error the `teacher_worker` package raises."""
