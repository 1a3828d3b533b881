from datetime import date

import pytest

from bot.periods import PeriodError, parse_period

TODAY = date(2026, 11, 27)  # data is complete through Nov 26


@pytest.mark.parametrize(
    ("text", "label", "previous"),
    [
        (None, "Nov 1 – Nov 26, 2026", "Oct 1 – Oct 26, 2026"),
        ("mtd", "Nov 1 – Nov 26, 2026", "Oct 1 – Oct 26, 2026"),
        ("last-month", "Oct 1 – Oct 31, 2026", "Sep 1 – Sep 30, 2026"),
        ("2026-02", "Feb 1 – Feb 28, 2026", "Jan 1 – Jan 31, 2026"),
        ("2026-03", "Mar 1 – Mar 31, 2026", "Feb 1 – Feb 28, 2026"),
        ("7d", "Nov 20 – Nov 26, 2026", "Nov 13 – Nov 19, 2026"),
        ("30d", "Oct 28 – Nov 26, 2026", "Sep 28 – Oct 27, 2026"),
        ("90d", "Aug 29 – Nov 26, 2026", "May 31 – Aug 28, 2026"),
        ("qtd", "Oct 1 – Nov 26, 2026", "Jul 1 – Aug 26, 2026"),
        ("ytd", "Jan 1 – Nov 26, 2026", "Jan 1 – Nov 26, 2025"),
    ],
)
def test_periods_spell_out_their_dates(text, label, previous):
    period = parse_period(text, TODAY)
    assert period.label == label
    assert period.previous().label == previous


def test_rolling_previous_period_has_equal_length():
    period = parse_period("30d", TODAY)
    assert period.days == period.previous().days == 30


def test_mtd_on_the_first_is_the_whole_previous_month():
    assert parse_period("mtd", date(2026, 12, 1)).label == "Nov 1 – Nov 30, 2026"


def test_year_boundary_label():
    assert parse_period("7d", date(2026, 1, 3)).label == "Dec 27, 2025 – Jan 2, 2026"


@pytest.mark.parametrize(
    ("text", "today", "label", "previous"),
    [
        # Data through Nov 26, asked on Nov 29: the month in progress ends Nov 26 and is
        # compared with as many days of October.
        ("2026-11", date(2026, 11, 29), "Nov 1 – Nov 26, 2026", "Oct 1 – Oct 26, 2026"),
        ("mtd", date(2026, 11, 29), "Nov 1 – Nov 26, 2026", "Oct 1 – Oct 26, 2026"),
        # A complete month still compares with the whole previous month.
        ("2026-10", date(2026, 11, 29), "Oct 1 – Oct 31, 2026", "Sep 1 – Sep 30, 2026"),
        ("mtd", date(2026, 12, 1), "Nov 1 – Nov 26, 2026", "Oct 1 – Oct 26, 2026"),
        # A rolling window moves back to end on the last day with data, keeping its length.
        ("7d", date(2026, 11, 29), "Nov 20 – Nov 26, 2026", "Nov 13 – Nov 19, 2026"),
        ("qtd", date(2026, 11, 29), "Oct 1 – Nov 26, 2026", "Jul 1 – Aug 26, 2026"),
        # Before the first stored day (Nov 1, 2025) nothing is known: the period starts there.
        ("400d", date(2026, 11, 29), "Nov 1, 2025 – Nov 26, 2026", None),
    ],
)
def test_periods_are_clipped_to_the_stored_days(text, today, label, previous):
    period = parse_period(text, today).clipped(date(2025, 11, 1), date(2026, 11, 26))
    assert period.label == label
    if previous:
        assert period.previous().label == previous
        assert period.previous().days == period.days or period.is_whole_month
    assert period.title == parse_period(text, today).title  # "Last 400 days" stays


def test_a_whole_month_compares_with_the_whole_previous_month():
    march = parse_period("2026-03", TODAY)
    assert march.is_whole_month and march.previous().label == "Feb 1 – Feb 28, 2026"
    february_part = march.clipped(date(2026, 1, 1), date(2026, 3, 30))
    assert february_part.previous().label == "Feb 1 – Feb 28, 2026"  # Mar 30 -> Feb 28
    assert not february_part.is_whole_month


@pytest.mark.parametrize("text", ["yesterday", "2026-13", "0d", "999d", "2027-01", "last month"])
def test_bad_periods_are_rejected_with_the_list_of_periods(text):
    with pytest.raises(PeriodError):
        parse_period(text, TODAY)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0000-01", "'0000-01': there is no cost data before 1970"),
        ("1969-12", "'1969-12': there is no cost data before 1970"),
        ("2026-00", "'2026-00' is not a month"),
        ("0d", "'0d': rolling periods are 1d to 400d"),
    ],
)
def test_impossible_periods_are_errors_not_crashes(text, message):
    with pytest.raises(PeriodError) as problem:
        parse_period(text, TODAY)
    assert str(problem.value).startswith(message)


def test_a_long_period_argument_is_shortened_in_the_message():
    with pytest.raises(PeriodError) as problem:
        parse_period("z" * 20_000, TODAY)
    assert "z" * 41 not in str(problem.value) and "…" in str(problem.value)
    assert len(str(problem.value)) < 200
