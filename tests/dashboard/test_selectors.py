"""generations.dashboard: every figure of the known data set (see conftest), exactly."""

from __future__ import annotations

import random
import statistics
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import NotSupportedError, connection
from django.db.models import F

from generations import dashboard
from generations.models import Generation

from .conftest import NOW, at

pytestmark = pytest.mark.django_db
S = Generation.Status


def test_windows_are_utc_calendar_days_and_months():
    assert dashboard.window_start(NOW) == at(10, 22, 0)
    assert dashboard.month_bounds("2026-11") == (at(11, 1, 0), at(12, 1, 0))
    assert dashboard.month_bounds("2026-12") == (at(12, 1, 0), at(12, 1, 0).replace(year=2027, month=1))
    assert dashboard.month_bounds(None, now=NOW) == (at(11, 1, 0), at(12, 1, 0))
    for bad in ("2026-13", "November", "2026-11-01", "26-11"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            dashboard.month_bounds(bad)


def test_status_counts_list_every_status(known_data):
    counts = {row.status: row.count for row in dashboard.status_counts()}
    assert counts == {
        "pending": 2,
        "submitted": 1,
        "in_queue": 1,
        "in_progress": 1,
        "archiving": 1,
        "completed": 11,
        "failed": 8,
        "cancelling": 1,
        "cancelled": 2,
    }
    assert [row.status for row in dashboard.status_counts()] == list(S.values)


def test_status_counts_are_zeros_without_data(db):
    assert {row.count for row in dashboard.status_counts()} == {0}


def test_in_flight_lists_the_oldest_unfinished_first(known_data):
    names = {g.pk: name for name, g in known_data["generations"].items()}
    assert [names[g.pk] for g in dashboard.in_flight()] == ["a1", "k1", "r1", "q1", "s1", "p1", "p2"]
    assert [names[g.pk] for g in dashboard.in_flight(limit=3)] == ["a1", "k1", "r1"]
    queued = next(g for g in dashboard.in_flight() if g.status == S.IN_QUEUE)
    assert (queued.queue_position, queued.requested_by.username) == (3, "bob")


def test_daily_activity_covers_every_day_of_the_window(known_data):
    days = dashboard.daily_activity(now=NOW)
    assert len(days) == 30
    assert (days[0].day, days[-1].day) == (date(2026, 10, 22), date(2026, 11, 20))
    by_day = {day.day: day for day in days}
    today = by_day[date(2026, 11, 20)]
    assert (today.requested, today.completed, today.failed, today.spent) == (6, 0, 0, Decimal("1.50"))
    nov_19 = by_day[date(2026, 11, 19)]  # f6 failed, a1 archiving
    assert (nov_19.requested, nov_19.completed, nov_19.failed, nov_19.spent) == (2, 0, 1, Decimal("0.25"))
    nov_15 = by_day[date(2026, 11, 15)]  # c6 completed, x1 cancelled before it started
    assert (nov_15.requested, nov_15.completed, nov_15.failed) == (2, 1, 0)
    assert (nov_15.spent, nov_15.estimated) == (Decimal("0.60"), Decimal("0.50"))
    first = by_day[date(2026, 10, 22)]  # c10 at 00:00:00; f_edge a second earlier is not in the window
    assert (first.requested, first.completed, first.failed, first.spent) == (1, 1, 0, Decimal("1.00"))
    assert by_day[date(2026, 11, 1)].requested == 0
    assert sum(day.completed for day in days) == 10
    assert sum(day.failed for day in days) == 6


def test_success_rates(known_data):
    overview = dashboard.overview(user=known_data["b1"].owner, now=NOW)
    assert (overview.success_window.completed, overview.success_window.failed) == (10, 6)
    assert overview.success_window.ratio == pytest.approx(10 / 16)
    assert overview.success_window.percent == "62.5%"
    assert (overview.success_all_time.completed, overview.success_all_time.failed) == (11, 8)
    assert overview.success_all_time.percent == "57.9%"
    assert dashboard.Rate(0, 0).ratio is None
    assert dashboard.Rate(0, 0).percent == "–"


def test_turnaround_percentiles_and_histogram(known_data):
    stats = dashboard.turnaround(since=dashboard.window_start(NOW))
    # c1–c10 took 10 … 100 s (c_old is outside the window). Interpolated like PERCENTILE_CONT:
    # p50 sits at position 0.5 × 9 = 4.5, halfway between 50 and 60 s; p95 at 0.95 × 9 = 8.55,
    # between 90 and 100 s: 90 + 0.55 × 10 = 95.5 s.
    assert stats.count == 10
    assert stats.p50 == timedelta(seconds=55)
    assert stats.p95 == timedelta(seconds=95.5)
    assert (stats.p50_text, stats.p95_text) == ("55 s", "1 min 35.5 s")
    assert stats.bins[:3] == [("< 30 s", 2), ("30–60 s", 3), ("1–2 min", 5)]
    assert [count for _, count in stats.bins[3:]] == [0] * 7
    assert sum(count for _, count in stats.bins) == stats.count


def test_turnaround_without_completions(db):
    stats = dashboard.turnaround(since=dashboard.window_start(NOW))
    assert (stats.count, stats.p50, stats.p95, stats.p50_text) == (0, None, None, "–")
    assert {count for _, count in stats.bins} == {0}


def test_turnaround_bins_are_half_open(factory, frozen_now):
    # Exactly 30 s belongs to "30–60 s", exactly an hour to "≥ 1 h".
    for number, took in enumerate([29.999, 30, 59.999, 3599, 3600, 86400]):
        factory.make(f"t{number}", S.COMPLETED, at(11, 19), took=took, video_bytes=1)
    bins = dict(dashboard.turnaround(since=dashboard.window_start(NOW)).bins)
    assert (bins["< 30 s"], bins["30–60 s"], bins["30–60 min"], bins["≥ 1 h"]) == (1, 2, 1, 2)


@pytest.mark.parametrize("size", [1, 2, 3, 10, 21, 37])
def test_both_percentile_paths_interpolate_like_percentile_cont(factory, frozen_now, size):
    """The SQLite path (ORDER BY … OFFSET k) on any database; on PostgreSQL also PERCENTILE_CONT.
    Both must match the textbook linear interpolation (statistics' "inclusive" method)."""
    rng = random.Random(size)
    seconds = [rng.randint(5, 900) for _ in range(size)]
    for number, took in enumerate(seconds):
        factory.make(f"g{number}", S.COMPLETED, at(11, 19), took=took, video_bytes=1)
    queryset = Generation.objects.annotate(took=F("archived_at") - F("submitted_at"))

    expected = [_reference_percentile(seconds, fraction) for fraction in dashboard.PERCENTILES]
    by_offset = dashboard.percentiles_by_offset(queryset, "took", size)
    assert [value.total_seconds() for value in by_offset] == pytest.approx(expected, abs=1e-6)

    if connection.vendor == "postgresql":
        row = queryset.aggregate(**{f"p{f}": dashboard.PercentileCont("took", p=f) for f in dashboard.PERCENTILES})
        in_database = [row[f"p{f}"].total_seconds() for f in dashboard.PERCENTILES]
        assert in_database == pytest.approx(expected, abs=1e-6)
    else:
        with pytest.raises(NotSupportedError):
            queryset.aggregate(p=dashboard.PercentileCont("took", p=0.5))


def _reference_percentile(values: list[int], fraction: float) -> float:
    if len(values) == 1:
        return float(values[0])
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def test_percentile_fraction_is_checked():
    with pytest.raises(ValueError, match="between 0 and 1"):
        dashboard.PercentileCont("took", p=95)


def test_failure_reasons_are_ranked_within_the_window(known_data):
    reasons = dashboard.failure_reasons(since=dashboard.window_start(NOW))
    ranked = [(r.error_code, r.count) for r in reasons]
    assert ranked == [("fal_422", 3), ("submit_timeout", 2), ("uncertain_submit", 1)]
    assert reasons[0].sample_message.startswith("Unprocessable: prompt rejected")
    assert reasons[1].sample_message == "fal did not answer in time"
    assert [r.error_code for r in dashboard.failure_reasons(since=dashboard.window_start(NOW), limit=1)] == ["fal_422"]


def test_storage_counts_completed_videos(known_data):
    assert dashboard.storage_used() == dashboard.Storage(videos=11, bytes=60_000_000)


def test_storage_is_zero_without_videos(db):
    assert dashboard.storage_used() == dashboard.Storage(videos=0, bytes=0)


def test_month_spend_totals(known_data):
    total = dashboard.spend_totals(since=at(11, 1, 0))
    assert total == dashboard.Spend(
        generations=22,
        spent=Decimal("5.60"),
        estimated=Decimal("5.50"),
        settled=Decimal("3.85"),
        reserved=Decimal("1.75"),
        may_be_charged=1,
    )


def test_spend_per_user_this_month(known_data):
    rows = dashboard.spend_by_user(since=at(11, 1, 0))
    assert [(row.username, row.spend.generations, row.spend.spent) for row in rows] == [
        ("bob", 9, Decimal("2.85")),
        ("alice", 13, Decimal("2.75")),
    ]
    alice = rows[1].spend
    assert (alice.estimated, alice.settled, alice.reserved, alice.may_be_charged) == (
        Decimal("3.25"),
        Decimal("1.75"),
        Decimal("1.00"),
        1,
    )


def test_spend_per_batch_this_month(known_data):
    rows = dashboard.spend_by_batch(since=at(11, 1, 0))
    assert [(row.batch_id, row.owner, row.note, row.spend.generations, row.spend.spent) for row in rows] == [
        (known_data["b1"].pk, "alice", "Autumn campaign", 5, Decimal("1.05")),
        (known_data["b2"].pk, "bob", "Product shots", 2, Decimal("0.85")),
    ]
    assert rows[0].code == str(known_data["b1"].code)
    assert len(dashboard.spend_by_batch(since=at(11, 1, 0), limit=1)) == 1


def test_budget_left_for_the_viewer(known_data, viewer):
    status = dashboard.overview(user=viewer, now=NOW).budget
    assert (status.monthly_cap, status.spent_this_month, status.left_this_month) == (
        Decimal("10.00"),
        Decimal("5.60"),
        Decimal("4.40"),
    )
    # alice's generations requested today: k1, r1, s1, p1.
    assert (status.daily_user_cap, status.spent_today_by_user, status.left_today_for_user) == (
        Decimal("2.00"),
        Decimal("1.00"),
        Decimal("1.00"),
    )


def test_budget_without_a_budget_row_means_no_caps_and_writes_nothing(db, alice, frozen_now):
    from generations.models import Budget

    status = dashboard.budget_status(alice)
    assert (status.monthly_cap, status.left_this_month, status.left_today_for_user) == (None, None, None)
    assert not Budget.objects.exists()


def test_overview_puts_it_together(known_data, viewer):
    overview = dashboard.overview(user=viewer, now=NOW)
    assert overview.in_flight_total == 7
    assert len(overview.in_flight) == 7
    assert overview.month_start == at(11, 1, 0)
    assert overview.window_start == at(10, 22, 0)
    assert overview.month_spend.spent == Decimal("5.60")
    assert [row.username for row in overview.spend_by_user] == ["bob", "alice"]


def test_overview_query_count(known_data, viewer, django_assert_num_queries):
    # 17 queries (5 of them the ledger's spend); SQLite adds one look-up per percentile (p50, p95).
    with django_assert_num_queries(17 if connection.vendor == "postgresql" else 19):
        dashboard.overview(user=viewer, now=NOW)


def test_format_duration():
    assert dashboard.format_duration(None) == "–"
    assert dashboard.format_duration(timedelta(seconds=0)) == "0 s"
    assert dashboard.format_duration(timedelta(seconds=42)) == "42 s"
    assert dashboard.format_duration(timedelta(minutes=3, seconds=5)) == "3 min 5 s"
    assert dashboard.format_duration(timedelta(hours=2, minutes=7, seconds=9)) == "2 h 7 min"
