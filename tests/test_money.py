"""Amounts shown to the cent in their own currency, and changes that equal the difference of
the two amounts shown."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.money import format_change, format_money, format_usd


@pytest.mark.parametrize(
    ("micros", "currency", "shown"),
    [
        (1_234_560_000, "USD", "$1,234.56"),
        (1_234_565_000, "USD", "$1,234.57"),  # half a cent rounds away from zero
        (-12_000_000, "USD", "-$12.00"),
        (1_234_560_000, "EUR", "EUR 1,234.56"),
        (-5_000, "eur", "-EUR 0.01"),
        (0, "JPY", "JPY 0.00"),
    ],
)
def test_amounts_are_shown_to_the_cent_in_their_currency(micros, currency, shown):
    assert format_money(micros, currency) == shown


def test_usd_is_the_default():
    assert format_usd(1_000_000) == format_money(1_000_000) == "$1.00"


@pytest.mark.parametrize(
    ("current", "previous"),
    [
        (10_005_000, 5_004_000),  # $10.01 vs $5.00: +$5.01, though the exact change is 5.001
        (5_004_000, 10_005_000),
        (1_004_999, 1_000_000),
        (123_456_789_012, 99_999_995_000),
    ],
)
def test_the_change_is_the_difference_of_the_amounts_shown(current, previous):
    def shown(micros: int) -> Decimal:
        return Decimal(format_money(micros).replace("$", "").replace(",", ""))

    text = format_change(current, previous)
    amount_part, _, pct_part = text.partition(" (")
    delta = shown(current) - shown(previous)
    assert Decimal(amount_part.replace("$", "").replace(",", "")) == delta
    pct = delta * 100 / shown(previous)
    assert pct_part == f"{'+' if delta >= 0 else '-'}{abs(pct):.1f}%)"


def test_change_in_another_currency_and_from_nothing():
    assert format_change(10_005_000, 5_004_000) == "+$5.01 (+100.2%)"
    assert format_change(2_000_000, 3_000_000, "EUR") == "-EUR 1.00 (-33.3%)"
    assert format_change(4_000_000, 0, "EUR") == "+EUR 4.00"
    assert format_change(4_000_000, 4_000) == "+$4.00"  # $0.004 is shown as $0.00
