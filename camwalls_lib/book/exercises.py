"""Immediate feedback for exercises: every ``check_*`` function in the library ends here."""

from __future__ import annotations

__all__ = ["verdict"]


def verdict(ok: bool, praise: str, hint: str) -> bool:
    """Print a one-line verdict for a student's answer and return ``ok``.

    ``praise`` says why a right answer is right; ``hint`` points a wrong one in the right
    direction without giving the solution away.
    """
    print(("Correct: " + praise) if ok else ("Not yet: " + hint))
    return bool(ok)
