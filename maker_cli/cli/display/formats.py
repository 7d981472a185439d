"""Numbers for people: counts, probabilities, dollars, durations."""

from __future__ import annotations

from maker_cli.core.confidence import LEGACY_LOW_CONFIDENCE


def number(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 9999.5 or (float(x).is_integer() and abs(x) < 1e15):  # 9999.5 would show as 1e+04
        return f"{x:,.0f}"
    return f"{x:.4g}"


def price(x: float) -> str:
    return f"${x:.2f}" if x >= 0.01 and round(x, 2) == x else f"${x:.3g}"


def integer(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def big(x: float) -> str:
    x = float(f"{x:.3g}")  # rounded first, so 999,999 is 1M (not 1e+03k)
    for size, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= size:
            return f"{x / size:.3g}{unit}"
    return f"{x:.3g}"


def usd(x: float | None, *, unknown: str = "unknown") -> str:
    """Dollars for people: $1,234 / $12.34 / $0.0012 (three significant figures below a cent)."""
    if x is None:
        return unknown
    if x >= 100:
        return f"${x:,.0f}"
    if x >= 0.01 or x == 0:
        return f"${x:,.2f}"
    return f"${x:.3g}"


def money(x: float | None) -> str:
    """Dollars spent so far, to the hundredth of a cent (a run's running cost)."""
    return "unknown" if x is None else f"${x:,.4f}" if x < 100 else f"${x:,.2f}"


def probability(x: float | None, small: bool = False) -> str:
    if x is None:
        return "-"
    if x == 1.0:
        return "1"
    if x == 0.0:
        return "~0"
    if small or x < 1e-3:
        return f"{x:.3g}"
    if x > 0.9999:
        return f"1 - {1 - x:.2g}"
    return f"{x:.4f}"


def plural(n: float, word: str, many: str | None = None) -> str:
    """`word` for a count of 1, else its plural (`many`, by default `word` + "s")."""
    return word if n == 1 else many or word + "s"


def counted(n: int, word: str, many: str | None = None) -> str:
    """A count with its noun: `1 step`, `2 steps`, `1,024 steps`."""
    return f"{n:,} {plural(n, word, many)}"


def p_short(p: object) -> str:
    """A run's p as its lines show it: 6 significant digits (`0.988485`), as in its k line."""
    return f"{p:g}" if isinstance(p, (int, float)) and not isinstance(p, bool) else str(p)


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def confidence_basis(settings: object) -> str:
    """What a run's confidences assume: the run's p, or (adaptive k) each step's lower bound of p."""
    if isinstance(settings, dict) and settings.get("adaptive_k"):
        return "worst case at each step's lower bound of p"
    return f"worst case, p = {p_short(settings.get('p') if isinstance(settings, dict) else None)}"


def low_confidence_line(low: int, needed: float | None, target: float | None, *, adaptive: bool = False) -> str:
    """How many decided steps have less confidence than the job's target needs of each step."""
    if adaptive:
        return f"{low:,} steps below what the adaptive plan needed of them"
    if needed is None:  # a run stored before `confidence_needed` existed
        return f"{counted(low, 'step')} below {LEGACY_LOW_CONFIDENCE}"
    what = f"the target {target:g}" if isinstance(target, (int, float)) else "the target"
    return f"{counted(low, 'step')} below {probability(needed)}, what each step needs for {what}"
