"""Root exception of the `teacher_worker` package."""

from __future__ import annotations


class TeacherWorkerError(Exception):
    """Base of every error the `teacher_worker` package raises."""


class TeacherUnavailableError(TeacherWorkerError):
    """The teacher's engine cannot be reached or failed on its side (connection refused,
    timeout, 5xx): the same requests can be tried again later, and the worker does."""
