"""format_unit_cost: per-unit figures with at least three significant figures, never `$0.00`
for a figure that is not zero."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from bot.money import format_unit_cost


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("0.003124"), "$0.00312"),
        (Decimal("0.003125"), "$0.00313"),  # half away from zero, as money is rounded
        (Decimal("0.0000451"), "$0.0000451"),
        (Decimal("0.000000001234"), "$0.00000000123"),
        (Decimal("0.1"), "$0.100"),
        (Decimal("0.9994"), "$0.999"),
        (Decimal("0.99996"), "$1.00"),
        (Decimal("1.234"), "$1.23"),
        (Decimal("1234.567"), "$1,234.57"),
        (Fraction(1, 3), "$0.333"),
        (Fraction(-1, 300), "-$0.00333"),
        (Fraction(2_762_790_000, 1_000_000) / 8_537_000_000, "$0.000000324"),
        (0, "$0.00"),
    ],
)
def test_three_significant_figures(value, shown):
    assert format_unit_cost(value) == shown


def test_other_currencies_use_their_code():
    assert format_unit_cost(Decimal("0.00312"), "eur") == "EUR 0.00312"


@pytest.mark.parametrize("exponent", range(-12, 0))
def test_never_zero_cents_for_a_figure_that_is_not_zero(exponent):
    shown = format_unit_cost(Fraction(7, 10**-exponent) + Fraction(1, 10**15))
    assert shown != "$0.00" and any(ch in "123456789" for ch in shown)
