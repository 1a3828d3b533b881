"""The idle rule over a window of whole UTC days."""

from datetime import UTC, datetime

from bot.sources.aws.cpu import IdleWindow

NOW = datetime(2026, 11, 29, 8, 30, tzinfo=UTC)
WINDOW = IdleWindow.ending(NOW, 7)
LAUNCHED = "2026-11-01T00:00:00+00:00"


def test_the_window_is_the_last_whole_days_before_today():
    assert WINDOW.days == [f"2026-11-{day}" for day in range(22, 29)]
    assert WINDOW.start.isoformat() == "2026-11-22T00:00:00+00:00"


def test_idle_needs_every_day_under_the_threshold_and_enough_age():
    quiet = dict.fromkeys(WINDOW.days, 4.99)
    assert WINDOW.is_idle(quiet, LAUNCHED, 5.0)
    assert not WINDOW.is_idle({**quiet, "2026-11-25": 5.0}, LAUNCHED, 5.0)  # "under" 5%
    assert not WINDOW.is_idle({k: v for k, v in quiet.items() if k != "2026-11-22"}, LAUNCHED, 5)
    assert not WINDOW.is_idle(quiet, "2026-11-22T00:00:01+00:00", 5.0)  # younger than 7 days
    assert WINDOW.is_idle(quiet, "2026-11-22T00:00:00+00:00", 5.0)
    assert not WINDOW.is_idle(quiet, None, 5.0)
