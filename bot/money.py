"""Money as integer micro-units of one currency: exact sums, one formatting rule for every
amount shown. Amounts in different currencies are never added together; each is shown in its
own currency (`$1,234.56` for USD, `EUR 1,234.56` for any other)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

MICROS_PER_DOLLAR = 1_000_000
DEFAULT_CURRENCY = "USD"


def to_micros(amount: Decimal | str | int) -> int:
    """Round an amount to whole micro-units (banker's rounding, as billing exports do)."""
    value = Decimal(amount) * MICROS_PER_DOLLAR
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def to_decimal(micros: int) -> Decimal:
    return Decimal(micros) / MICROS_PER_DOLLAR


def cents(micros: int) -> Decimal:
    """The amount rounded to the cent, half away from zero as people round money."""

    return to_decimal(micros).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def normalise_currency(code: str | None) -> str:
    """`usd` -> `USD`; a missing BillingCurrency is taken as USD (FOCUS requires the column,
    so only malformed exports lack it)."""
    return (code or DEFAULT_CURRENCY).strip().upper() or DEFAULT_CURRENCY


def currency_prefix(currency: str = DEFAULT_CURRENCY) -> str:
    """`$` for USD, `EUR ` for others: the ISO code is unambiguous where symbols are not."""
    code = normalise_currency(currency)
    return "$" if code == "USD" else f"{code} "


def format_money(micros: int, currency: str = DEFAULT_CURRENCY) -> str:
    """`$1,234.56`, `-$12.00`, `EUR 1,234.56`: every amount Costbot shows goes through here."""
    value = cents(micros)
    sign = "-" if value < 0 else ""
    return f"{sign}{currency_prefix(currency)}{abs(value):,.2f}"


def format_usd(micros: int) -> str:
    """`$1,234.56`, `-$12.00`: an amount known to be in US dollars."""
    return format_money(micros, DEFAULT_CURRENCY)


def format_money_short(micros: int, currency: str = DEFAULT_CURRENCY) -> str:
    """A compact amount for chart axes and tight lists: `$1.2k`, `EUR 3.4M`."""
    amount = float(to_decimal(micros))
    prefix = currency_prefix(currency)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(amount) >= limit:
            return f"{prefix}{amount / limit:,.1f}{suffix}"
    return f"{prefix}{amount:,.0f}"


def format_usd_short(micros: int) -> str:
    return format_money_short(micros, DEFAULT_CURRENCY)


def cent_delta(current: int, previous: int) -> Decimal:
    """The change between two amounts as people see them: the difference of the two totals
    rounded to the cent, so the change shown always equals the difference of the totals shown."""
    return cents(current) - cents(previous)


def format_change(current: int, previous: int, currency: str = DEFAULT_CURRENCY) -> str:
    """`+$120.00 (+4.5%)`; no percentage when the previous amount is zero. Computed from the
    cent-rounded amounts, so it is exactly the difference of the two amounts shown."""
    delta = cent_delta(current, previous)
    shown_previous = cents(previous)
    sign = "+" if delta >= 0 else "-"
    amount = f"{sign}{currency_prefix(currency)}{abs(delta):,.2f}"
    if shown_previous == 0:
        return amount
    pct = delta * 100 / abs(shown_previous)
    return f"{amount} ({sign}{abs(pct):.1f}%)"


def _exact(value: Decimal | Fraction | int) -> Decimal:
    """A Fraction as a Decimal with digits to spare for rounding to 3 significant figures."""
    if isinstance(value, Fraction):
        with localcontext() as context:
            context.prec = 40
            return Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(value)


def format_unit_cost(value: Decimal | Fraction | int, currency: str = DEFAULT_CURRENCY) -> str:
    """A per-unit amount with at least three significant figures: `$0.00312`, `$0.0000451`,
    `$1.23`, `$1,234.57`. Never `$0.00` for an amount that is not zero: a unit cost of a
    fraction of a cent is the whole point of the figure. Rounded half away from zero."""
    amount = _exact(value)
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    prefix = currency_prefix(currency)
    if amount == 0:
        return f"{prefix}0.00"
    places = 2 - amount.adjusted()  # three significant figures below a dollar
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded >= 1:  # $1 and up: to the cent, as every amount ($0.99996 -> $1.00)
        rounded = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        return f"{sign}{prefix}{rounded:,.2f}"
    return f"{sign}{prefix}{rounded:.{places}f}"
