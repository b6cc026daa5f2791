"""Root exception of the `student_trainer` package."""

from __future__ import annotations


class StudentTrainerError(Exception):
    """Base of every error the `student_trainer` package raises."""
