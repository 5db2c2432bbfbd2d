"""The operations dashboard's figures: every number on /admin/dashboard/ is computed here.

Read-only selectors, each one aggregate query (or a small, fixed number of them) that the
database answers from the indexes on Generation, so the page stays fast at a million rows:

- all-time figures (counts by status, storage used) read GenerationStatusCount, one row per
  status kept exact by database triggers (migration 0007), instead of scanning every row;
  rebuild_counts() recounts it (`manage.py rebuild_generation_counts`);
- windowed figures filter on `created_at` ("requested in the last 30 days", "this month"),
  which `gen_created_id`, `gen_status_created` and `gen_requester_created` serve; on
  PostgreSQL `gen_created_id` INCLUDEs the columns they read (migration 0008), so they are
  index-only scans of the period;
- money spent is read from the append-only spend ledger (generations.ledger), grouped by
  the day, person or batch it was requested by, so deleting a generation never rewrites a
  past month; counts and estimates are of the generations that exist;
- nothing loops over generations in Python: at most one row per status, day, user,
  batch, error code or histogram bin comes back.

Periods are UTC calendar days and months, like the budgets (generations.budget).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import NotSupportedError, connection, connections, transaction
from django.db.models import Aggregate, Count, DecimalField, F, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from . import budget, failures
from .models import Batch, Budget, Generation, GenerationStatusCount, SpendEntry

S = Generation.Status

WINDOW_DAYS = 30
IN_FLIGHT_LIMIT = 50
TOP_BATCHES = 10
TOP_FAILURES = 10
# Everything that has not ended, in pipeline order: what the in-flight list shows.
ACTIVE_STATUSES = (S.PENDING, S.SUBMITTED, S.IN_QUEUE, S.IN_PROGRESS, S.CANCELLING, S.ARCHIVING)
# Histogram bins of the time from submission to archive: (upper bound in seconds, label).
# Fixed, human-sized bins: a typical video takes a minute or two; a long tail means trouble.
TURNAROUND_BINS: tuple[tuple[float, str], ...] = (
    (30, "< 30 s"),
    (60, "30–60 s"),
    (120, "1–2 min"),
    (180, "2–3 min"),
    (300, "3–5 min"),
    (600, "5–10 min"),
    (1200, "10–20 min"),
    (1800, "20–30 min"),
    (3600, "30–60 min"),
    (math.inf, "≥ 1 h"),
)
PERCENTILES = (0.5, 0.95)

# Sums of many 4-decimal prices need more digits than one price (max_digits=10).
_MONEY = DecimalField(max_digits=20, decimal_places=4)
_ZERO = Decimal(0)
_ENDED = Q(status__in=Generation.ENDS)


def _money_sum(field: str, **extra) -> Sum:
    return Sum(field, output_field=_MONEY, default=_ZERO, **extra)


# --- Percentiles ----------------------------------------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's PERCENTILE_CONT (an ordered-set aggregate Django does not ship):
    the p-th percentile, interpolated between the two nearest values."""

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(p)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, *, p: float, **extra):
        if not 0 <= p <= 1:
            raise ValueError(f"A percentile is a fraction between 0 and 1, not {p!r}.")
        super().__init__(expression, p=repr(float(p)), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        raise NotSupportedError("SQLite has no PERCENTILE_CONT; use percentiles_by_offset().")


def percentiles_by_offset(queryset: QuerySet, expression: str, count: int, fractions=PERCENTILES) -> list:
    """Percentiles with PERCENTILE_CONT's interpolation, for databases without it (SQLite).

    `queryset` must annotate `expression`; `count` is its number of rows (known from an
    aggregate already run). Each percentile is one query fetching at most the two rows
    around its position (ORDER BY … LIMIT 2 OFFSET k), never the whole set.
    Returns None for each fraction when there are no rows.
    """
    if count == 0:
        return [None for _ in fractions]
    ordered = queryset.order_by(expression, "pk").values_list(expression, flat=True)
    results = []
    for fraction in fractions:
        position = fraction * (count - 1)
        below = math.floor(position)
        weight = position - below
        values = list(ordered[below : below + (2 if weight else 1)])
        low = values[0]
        results.append(low if len(values) == 1 else low + (values[1] - low) * weight)
    return results


def format_duration(value: timedelta | None) -> str:
    """timedelta(seconds=95.5) → "1 min 35.5 s", 2 hours → "2 h 0 min"; None → "–"."""
    if value is None:
        return "–"
    seconds = round(value.total_seconds(), 1)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {seconds:g} s"
    return f"{seconds:g} s"


# --- Results ----------------------------------------------------------------------


@dataclass(frozen=True)
class StatusCount:
    status: str
    label: str
    count: int


@dataclass(frozen=True)
class Rate:
    """Completed against failed; generations still running or cancelled are not in it."""

    completed: int
    failed: int

    @property
    def ratio(self) -> float | None:
        ended = self.completed + self.failed
        return self.completed / ended if ended else None

    @property
    def percent(self) -> str:
        return "–" if self.ratio is None else f"{self.ratio * 100:.1f}%"


@dataclass(frozen=True)
class DayActivity:
    day: date
    requested: int
    completed: int
    failed: int
    spent: Decimal
    estimated: Decimal


@dataclass(frozen=True)
class Turnaround:
    """Time from submission to fal until the video was archived, for completed generations."""

    count: int
    p50: timedelta | None
    p95: timedelta | None
    bins: list[tuple[str, int]]

    @property
    def p50_text(self) -> str:
        return format_duration(self.p50)

    @property
    def p95_text(self) -> str:
        return format_duration(self.p95)


@dataclass(frozen=True)
class FailureReason:
    error_code: str
    count: int
    sample_message: str

    @property
    def words(self) -> str:
        return failures.words_for(self.error_code)


@dataclass(frozen=True)
class Storage:
    videos: int
    bytes: int


@dataclass(frozen=True)
class Spend:
    """Money committed by a group of generations (see Generation.cost).

    `spent` = `settled` (ended generations, final) + `reserved` (still running, the estimate).
    `spent` and `settled` come from the append-only ledger, so they include generations that
    were deleted since; the counts and the estimate are of the generations that still exist.
    """

    generations: int
    spent: Decimal
    estimated: Decimal
    settled: Decimal
    reserved: Decimal
    may_be_charged: int  # generations with a cost_note ("may be charged: …")


@dataclass(frozen=True)
class UserSpend:
    user_id: int | None
    username: str
    spend: Spend


@dataclass(frozen=True)
class BatchSpend:
    batch_id: int
    code: str
    note: str
    owner: str
    spend: Spend


@dataclass(frozen=True)
class Overview:
    now: datetime
    window_start: datetime
    month_start: datetime
    status_counts: list[StatusCount]
    in_flight: list[Generation]
    in_flight_total: int
    days: list[DayActivity]
    success_window: Rate
    success_all_time: Rate
    turnaround: Turnaround
    failures: list[FailureReason]
    storage: Storage
    month_spend: Spend
    spend_by_user: list[UserSpend]
    spend_by_batch: list[BatchSpend]
    budget: budget.BudgetStatus


# --- Selectors ----------------------------------------------------------------------


def window_start(now: datetime, days: int = WINDOW_DAYS) -> datetime:
    """Midnight UTC `days - 1` days ago: the window is `days` calendar days, today included."""
    return budget.day_start(now) - timedelta(days=days - 1)


def status_counts() -> list[StatusCount]:
    """How many generations are in each status now; every status, zeros included.
    One query, on the maintained counts (a few rows), not the generation table."""
    found = dict(GenerationStatusCount.objects.values_list("status", "count"))
    return [StatusCount(value, label, found.get(value, 0)) for value, label in S.choices]


def in_flight(*, limit: int = IN_FLIGHT_LIMIT) -> list[Generation]:
    """The oldest `limit` generations that have not ended, oldest first. One query.

    The total comes from status_counts(); only a few columns are loaded (not fal_logs).
    """
    return list(
        Generation.objects.filter(status__in=ACTIVE_STATUSES)
        .select_related("requested_by")
        .only(
            "code",
            "status",
            "queue_position",
            "prompt_text",
            "resolution",
            "duration",
            "error_code",
            "created_at",
            "updated_at",
            "submitted_at",
            "requested_by__username",
        )
        .order_by("created_at", "pk")[:limit]
    )


def daily_activity(*, now: datetime, days: int = WINDOW_DAYS) -> list[DayActivity]:
    """Per UTC day of the window, by the day generations were requested: how many, how many
    of those completed or failed, and what they cost (from the ledger). Every day is listed.
    Two queries."""
    start = window_start(now, days)
    rows = (
        Generation.objects.filter(created_at__gte=start)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .order_by()
        .values("day")
        .annotate(
            requested=Count("pk"),
            completed=Count("pk", filter=Q(status=S.COMPLETED)),
            failed=Count("pk", filter=Q(status=S.FAILED)),
            estimated=_money_sum("estimated_cost"),
        )
    )
    by_day = {row["day"]: row for row in rows}
    spent_by_day = dict(
        SpendEntry.objects.filter(requested_at__gte=start)
        .annotate(day=TruncDate("requested_at", tzinfo=UTC))
        .order_by()
        .values("day")
        .annotate(spent=_money_sum("amount"))
        .values_list("day", "spent")
    )
    result = []
    for offset in range(days):
        day = (start + timedelta(days=offset)).date()
        row = by_day.get(day)
        result.append(
            DayActivity(
                day=day,
                requested=row["requested"] if row else 0,
                completed=row["completed"] if row else 0,
                failed=row["failed"] if row else 0,
                spent=spent_by_day.get(day, _ZERO),
                estimated=row["estimated"] if row else _ZERO,
            )
        )
    return result


def turnaround(*, since: datetime) -> Turnaround:
    """p50/p95 and a histogram of submitted_at → archived_at for generations completed and
    requested since `since`. One query on PostgreSQL; on SQLite one more per percentile."""
    completed = Generation.objects.filter(
        status=S.COMPLETED, created_at__gte=since, submitted_at__isnull=False, archived_at__isnull=False
    ).annotate(took=F("archived_at") - F("submitted_at"))
    # The histogram from cumulative counts (how many took less than each bound): one comparison
    # per bound and row; each bin is the difference of two neighbours.
    bounds = [upper for upper, _label in TURNAROUND_BINS if upper != math.inf]
    if connection.vendor == "postgresql":
        count, below, (p50, p95) = _turnaround_in_postgresql(completed, bounds)
    else:
        aggregates = {
            f"below{index}": Count("pk", filter=Q(took__lt=timedelta(seconds=upper)))
            for index, upper in enumerate(bounds)
        }
        row = completed.aggregate(count=Count("pk"), **aggregates)
        count, below = row["count"], [row[f"below{index}"] for index in range(len(bounds))]
        p50, p95 = percentiles_by_offset(completed, "took", count)
    cumulative = [0, *below, count]
    return Turnaround(
        count=count,
        p50=p50,
        p95=p95,
        bins=[
            (label, cumulative[index + 1] - cumulative[index]) for index, (_upper, label) in enumerate(TURNAROUND_BINS)
        ],
    )


def _turnaround_in_postgresql(completed: QuerySet, bounds: list[float]) -> tuple[int, list[int], list]:
    """(count, cumulative counts below each bound, percentiles) of `completed`'s `took`, in one
    statement. Each row's time is computed once, in a subquery that OFFSET 0 keeps PostgreSQL
    from folding into the outer query (which would recompute it in every count and percentile):
    a third less time at a million generations."""
    inner, inner_params = completed.order_by().values("took").query.sql_with_params()
    below = ", ".join("COUNT(*) FILTER (WHERE took < %s)" for _ in bounds)
    percentiles = ", ".join(f"PERCENTILE_CONT({float(f)!r}) WITHIN GROUP (ORDER BY took)" for f in PERCENTILES)
    sql = f"SELECT COUNT(*), {below}, {percentiles} FROM ({inner} OFFSET 0) AS completed"  # noqa: S608 (no input)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(timedelta(seconds=upper) for upper in bounds), *inner_params])
        row = cursor.fetchone()
    return row[0], list(row[1 : 1 + len(bounds)]), list(row[1 + len(bounds) :])


def failure_reasons(*, since: datetime, limit: int = TOP_FAILURES) -> list[FailureReason]:
    """Why generations requested since `since` failed: error codes, most frequent first,
    each with one of its messages. One query (on gen_status_created)."""
    rows = (
        Generation.objects.filter(status=S.FAILED, created_at__gte=since)
        .order_by()
        .values("error_code")
        .annotate(n=Count("pk"), sample=Max("error_message"))
        .order_by("-n", "error_code")[:limit]
    )
    return [FailureReason(row["error_code"], row["n"], row["sample"] or "") for row in rows]


def storage_used() -> Storage:
    """Archived videos of completed generations, and their bytes. One query, on the
    maintained counts (the completed row), not the generation table."""
    row = GenerationStatusCount.objects.filter(status=S.COMPLETED).values_list("count", "video_bytes").first()
    videos, size = row or (0, 0)
    return Storage(videos=videos, bytes=size)


# --- Maintained counts (GenerationStatusCount) --------------------------------------
# Kept by database triggers (migration 0007); these check and rebuild them from the table.

_COUNTS_TABLE = GenerationStatusCount._meta.db_table
_GENERATION_TABLE = Generation._meta.db_table
COUNT_TRIGGERS = ("gen_counts_inserted", "gen_counts_deleted", "gen_counts_updated")


@dataclass(frozen=True)
class CountDrift:
    status: str
    kept: tuple[int, int]  # (count, video bytes) in GenerationStatusCount
    counted: tuple[int, int]  # the same, counted from the generation table


def count_drift(*, using: str = "default") -> list[CountDrift]:
    """The statuses whose maintained figures differ from a full recount; empty when exact.

    One statement (so one consistent snapshot, whatever writers do meanwhile); it scans the
    generation table, so it is for checks and tests, not for pages.
    """
    sql = f"""
        SELECT status, SUM(kept_n), SUM(kept_b), SUM(real_n), SUM(real_b) FROM (
            SELECT status, count AS kept_n, video_bytes AS kept_b, 0 AS real_n, 0 AS real_b FROM {_COUNTS_TABLE}
            UNION ALL
            SELECT status, 0, 0, COUNT(*), COALESCE(SUM(video_bytes), 0) FROM {_GENERATION_TABLE} GROUP BY status
        ) AS both_sides GROUP BY status ORDER BY status
    """  # noqa: S608 (table names from the models, no input)
    with connections[using].cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    return [
        CountDrift(status, (int(kn), int(kb)), (int(rn), int(rb)))
        for status, kn, kb, rn, rb in rows
        if (int(kn), int(kb)) != (int(rn), int(rb))
    ]


def rebuild_counts(*, using: str = "default") -> list[CountDrift]:
    """Recount GenerationStatusCount from the generation table; returns the drift it corrected.

    Exact under concurrent writers: on PostgreSQL the generation table is locked in SHARE mode
    (readers go on, writers wait for the commit; writers already running are waited for
    first); on SQLite the transaction holds the database's write lock (from its start in the
    project's IMMEDIATE mode, else from the DELETE, before the recount). Either way nothing
    changes between the recount and the rows replacing the old ones.
    """
    connection_ = connections[using]
    with transaction.atomic(using=using), connection_.cursor() as cursor:
        if connection_.vendor == "postgresql":
            cursor.execute(f"LOCK TABLE {_GENERATION_TABLE} IN SHARE MODE")
        drift = count_drift(using=using)
        cursor.execute(f"DELETE FROM {_COUNTS_TABLE}")  # noqa: S608
        cursor.execute(
            f"INSERT INTO {_COUNTS_TABLE} (status, count, video_bytes) "  # noqa: S608
            f"SELECT status, COUNT(*), COALESCE(SUM(video_bytes), 0) FROM {_GENERATION_TABLE} GROUP BY status"
        )
    return drift


def missing_count_triggers(*, using: str = "default") -> list[str]:
    """The triggers that keep GenerationStatusCount which the database lacks (none, normally)."""
    connection_ = connections[using]
    with connection_.cursor() as cursor:
        if connection_.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [_GENERATION_TABLE]
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [_GENERATION_TABLE]
            )
        present = {row[0] for row in cursor.fetchall()}
    return [name for name in COUNT_TRIGGERS if name not in present]


def _spend_aggregates() -> dict:
    """Figures of the generations that exist; what they cost is the ledger's (see _spend)."""
    return {
        "generations": Count("pk"),
        "estimated": _money_sum("estimated_cost"),
        "reserved": _money_sum("cost", filter=~_ENDED),
        "may_be_charged": Count("pk", filter=~Q(cost_note="")),
    }


_NO_GENERATIONS = {"generations": 0, "estimated": _ZERO, "reserved": _ZERO, "may_be_charged": 0}


def _spend(row: dict | None, spent: Decimal) -> Spend:
    row = row or _NO_GENERATIONS
    return Spend(
        generations=row["generations"],
        spent=spent,
        estimated=row["estimated"],
        settled=spent - row["reserved"],
        reserved=row["reserved"],
        may_be_charged=row["may_be_charged"],
    )


def _ledger_since(since: datetime) -> QuerySet:
    return SpendEntry.objects.filter(requested_at__gte=since).order_by()


def spend_totals(*, since: datetime) -> Spend:
    """What generations requested since `since` cost, in total. Two queries."""
    row = Generation.objects.filter(created_at__gte=since).aggregate(**_spend_aggregates())
    return _spend(row, _ledger_since(since).aggregate(spent=_money_sum("amount"))["spent"])


# Grouped by the generation's own column, then the names looked up for each group (a
# subquery in the SELECT list): PostgreSQL aggregates the index-only scan of the period and
# joins only the few groups (the top batches, after the LIMIT), instead of joining every row.


def _username_of(field: str) -> Subquery:
    return Subquery(get_user_model().objects.filter(pk=OuterRef(field)).order_by().values("username")[:1])


def spend_by_user(*, since: datetime) -> list[UserSpend]:
    """Spend per requester since `since`, biggest first (deleted generations included). Two queries."""
    spent = {
        row["requested_by"]: row
        for row in _ledger_since(since)
        .values("requested_by")
        .annotate(spent=_money_sum("amount"), name=Max("requested_by_name"))
    }
    rows = {
        row["requested_by"]: row
        for row in Generation.objects.filter(created_at__gte=since)
        .order_by()
        .values("requested_by")
        .annotate(**_spend_aggregates())
        .annotate(username=_username_of("requested_by"))
    }
    result = [
        UserSpend(
            user_id,
            (rows.get(user_id) or {}).get("username") or (spent.get(user_id) or {}).get("name") or "",
            _spend(rows.get(user_id), (spent.get(user_id) or {}).get("spent", _ZERO)),
        )
        for user_id in rows.keys() | spent.keys()
    ]
    return sorted(result, key=lambda one: (-one.spend.spent, one.username))


def _deleted_batch_code(batch_id: int) -> str:
    """The code the ledger kept for a batch that no longer exists (rare: one query each)."""
    return str(SpendEntry.objects.filter(batch_id=batch_id).values_list("batch_code", flat=True).first())


def spend_by_batch(*, since: datetime, limit: int = TOP_BATCHES) -> list[BatchSpend]:
    """The `limit` batches with the biggest spend since `since` (from the ledger). Three queries."""
    top = list(
        _ledger_since(since)
        .filter(batch__isnull=False)
        .values("batch")
        .annotate(spent=_money_sum("amount"))
        .order_by("-spent", "batch")[:limit]
    )
    ids = [row["batch"] for row in top]
    rows = {
        row["batch"]: row
        for row in Generation.objects.filter(created_at__gte=since, batch__in=ids)
        .order_by()
        .values("batch")
        .annotate(**_spend_aggregates())
    }
    batches = {batch.pk: batch for batch in Batch.objects.filter(pk__in=ids).select_related("owner")}
    result = []
    for row in top:
        batch = batches.get(row["batch"])
        result.append(
            BatchSpend(
                batch_id=row["batch"],
                code=str(batch.code) if batch else _deleted_batch_code(row["batch"]),
                note=batch.note if batch else "(deleted)",
                owner=batch.owner.get_username() if batch and batch.owner else "",
                spend=_spend(rows.get(row["batch"]), row["spent"]),
            )
        )
    return result


def budget_status(user: AbstractBaseUser) -> budget.BudgetStatus:
    """budget.status_for(user), without creating the Budget row on a read (none = no caps)."""
    return budget.status_for(user, budget=Budget.objects.filter(pk=1).first() or Budget())


def overview(*, user: AbstractBaseUser, now: datetime | None = None) -> Overview:
    """Everything the dashboard shows, for `user` (whose daily budget is shown).

    A fixed number of queries whatever the number of generations: 17 on PostgreSQL,
    19 on SQLite (two percentile look-ups), fewer when nothing has completed yet or no batch spent.
    """
    now = now or timezone.now()
    since = window_start(now)
    this_month = budget.month_start(now)
    counts = status_counts()
    by_status = {one.status: one.count for one in counts}
    days = daily_activity(now=now)
    return Overview(
        now=now,
        window_start=since,
        month_start=this_month,
        status_counts=counts,
        in_flight=in_flight(),
        in_flight_total=sum(by_status[status] for status in ACTIVE_STATUSES),
        days=days,
        success_window=Rate(completed=sum(day.completed for day in days), failed=sum(day.failed for day in days)),
        success_all_time=Rate(completed=by_status[S.COMPLETED], failed=by_status[S.FAILED]),
        turnaround=turnaround(since=since),
        failures=failure_reasons(since=since),
        storage=storage_used(),
        month_spend=spend_totals(since=this_month),
        spend_by_user=spend_by_user(since=this_month),
        spend_by_batch=spend_by_batch(since=this_month),
        budget=budget_status(user),
    )


# --- Spend ledger (CSV export) ------------------------------------------------------

LEDGER_HEADER = (
    "created_at",
    "generation",
    "requested_by",
    "batch",
    "status",
    "resolution",
    "aspect_ratio",
    "duration",
    "estimated_cost",
    "cost",
    "cost_note",
)


def month_bounds(month: str | None, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a "YYYY-MM" month; None or "" is the current month.
    Raises ValueError for anything else."""
    if not month:
        start = budget.month_start(now)
    else:
        try:
            start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"{month!r} is not a month; use YYYY-MM, e.g. 2026-11.") from None
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def spend_ledger(*, start: datetime, end: datetime) -> Iterator[tuple]:
    """One tuple per generation requested in [start, end), oldest first, in LEDGER_HEADER's
    order, read from the append-only ledger: a deleted generation keeps its line (status
    "deleted", its inputs and what it cost). Streams in chunks (a server-side cursor on PostgreSQL)."""
    same = SpendEntry.objects.filter(generation_code=OuterRef("generation_code")).order_by()
    live = Generation.objects.filter(code=OuterRef("generation_code"))
    rows = (
        SpendEntry.objects.filter(kind=SpendEntry.Kind.RESERVATION, requested_at__gte=start, requested_at__lt=end)
        .order_by("requested_at", "id")
        .annotate(
            cost_total=Subquery(same.values("generation_code").annotate(t=Sum("amount")).values("t")[:1]),
            live_status=Subquery(live.values("status")[:1]),
            live_note=Subquery(live.values("cost_note")[:1]),
        )
        .values_list(
            "requested_at",
            "generation_code",
            "requested_by_name",
            "batch_code",
            "live_status",
            "inputs__resolution",
            "inputs__aspect_ratio",
            "inputs__duration",
            "amount",
            "cost_total",
            "live_note",
        )
    )
    for (
        requested_at,
        code,
        username,
        batch_code,
        status,
        resolution,
        ratio,
        duration,
        estimate,
        cost,
        note,
    ) in rows.iterator(chunk_size=2000):
        yield (
            requested_at.astimezone(UTC).isoformat(timespec="seconds"),
            str(code),
            username or "",
            str(batch_code) if batch_code else "",
            status or "deleted",
            resolution or "",
            ratio or "",
            duration if duration is not None else "",
            estimate,
            Decimal(cost).quantize(Decimal("0.0001")) if cost is not None else estimate,
            note or "",
        )
