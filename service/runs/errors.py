"""The one error of a run that a person gets as one line (the command exits non-zero with it)."""
from __future__ import annotations


class UserError(Exception):
    """One line for a person: a bad video, a missing model, a bad option value."""
