"""What the reliability tests injected and found, printed as one table when the test run ends (conftest.py).

Tests add to it as they go: `fault` for each kind of fault injected (they add up to the total), `count` for
everything else. The totals and the claims are always shown, because 0 is the claim.
"""

from collections import Counter

COUNTS: Counter = Counter()
FAULTS: set[str] = set()
TOTAL = "faults injected, all kinds"
RESUMED = "runs resumed after a fault"
ACCOUNTED = "rows accounted for"
DUPLICATES = "duplicates found (must be 0)"
LOST = "rows or messages lost (must be 0)"
CONSENT = "consent violations (must be 0)"
HOLDOUT = "holdout members messaged (must be 0)"
PERSONAL = "raw e-mails or phones exposed (must be 0)"
ALWAYS = (TOTAL, RESUMED, ACCOUNTED, DUPLICATES, LOST, CONSENT, HOLDOUT, PERSONAL)


def fault(name: str, n: int = 1) -> None:
    """n faults of one kind were injected (and met: count what happened, not what was queued)."""
    FAULTS.add(name)
    COUNTS[name] += n


def count(name: str, n: int = 1) -> None:
    COUNTS[name] += n


def table() -> list[str]:
    faults = sorted(FAULTS)
    others = sorted(name for name in COUNTS if name not in FAULTS and name not in ALWAYS)
    total = {TOTAL: sum(COUNTS[name] for name in faults)}
    rows = [(f"  {name}", COUNTS[name]) for name in faults]
    rows += [(name, total.get(name, COUNTS[name])) for name in ALWAYS]
    rows += [(name, COUNTS[name]) for name in others]
    width = max(len(name) for name, _ in rows)
    return [f"{name:<{width}}  {n:>10,}" for name, n in rows]


def export() -> dict:
    """This process's counts, for the process that prints the table (a pytest-xdist worker's to its controller)."""
    return {"counts": dict(COUNTS), "faults": sorted(FAULTS)}


def merge(exported: dict) -> None:
    COUNTS.update(exported.get("counts", {}))
    FAULTS.update(exported.get("faults", []))
