"""Money as integer micro-dollars: exact sums, one formatting rule for every amount shown."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

MICROS_PER_DOLLAR = 1_000_000


def to_micros(amount: Decimal | str | int) -> int:
    """Round a dollar amount to whole micro-dollars (banker's rounding, as billing exports do)."""
    value = Decimal(amount) * MICROS_PER_DOLLAR
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def to_decimal(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_DOLLAR


def cents(micros: int) -> Decimal:
    """The amount rounded to the cent, half away from zero as people round money."""

    return to_decimal(micros).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def format_usd(micros: int) -> str:
    """`$1,234.56`, `-$12.00`: every amount Costbot shows goes through here."""
    value = cents(micros)
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.2f}"


def format_usd_short(micros: int) -> str:
    """A compact amount for chart axes and tight lists: `$1.2k`, `$3.4M`."""
    dollars = float(to_decimal(micros))
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(dollars) >= limit:
            return f"${dollars / limit:,.1f}{suffix}"
    return f"${dollars:,.0f}"


def format_change(current: int, previous: int) -> str:
    """`+$120.00 (+4.5%)`; no percentage when the previous amount is zero."""
    delta = current - previous
    sign = "+" if delta >= 0 else "-"
    amount = f"{sign}{format_usd(abs(delta))}"
    if previous == 0:
        return amount
    pct = Decimal(delta) * 100 / Decimal(abs(previous))
    return f"{amount} ({sign}{abs(pct):.1f}%)"
