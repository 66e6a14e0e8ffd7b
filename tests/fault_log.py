"""What the reliability tests injected and found, printed as one table when the test run ends (conftest.py).

Tests add to it as they go; duplicates and consent violations are always shown, because 0 is the claim.
"""

from collections import Counter

COUNTS: Counter = Counter()
ALWAYS = ("duplicates found (must be 0)", "consent violations (must be 0)", "holdout members messaged (must be 0)")


def count(name: str, n: int = 1) -> None:
    COUNTS[name] += n


def table() -> list[str]:
    rows = [(name, COUNTS[name]) for name in sorted(COUNTS) if name not in ALWAYS]
    rows += [(name, COUNTS[name]) for name in ALWAYS]
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {n:>10,}" for name, n in rows]
