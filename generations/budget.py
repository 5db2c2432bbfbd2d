"""Spending caps: a team-wide monthly cap and a per-user daily cap.

`reserve` is called inside the transaction that creates the generations. It locks
the one Budget row first (SELECT … FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE
transactions serialise writers anyway), so two admins racing for the last dollars
are checked one after the other, each seeing the other's reservation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from . import ledger
from .models import Budget


class BudgetExceeded(Exception):
    pass


@dataclass(frozen=True)
class BudgetStatus:
    monthly_cap: Decimal | None
    spent_this_month: Decimal
    daily_user_cap: Decimal | None
    spent_today_by_user: Decimal

    @property
    def left_this_month(self) -> Decimal | None:
        return None if self.monthly_cap is None else max(Decimal(0), self.monthly_cap - self.spent_this_month)

    @property
    def left_today_for_user(self) -> Decimal | None:
        if self.daily_user_cap is None:
            return None
        return max(Decimal(0), self.daily_user_cap - self.spent_today_by_user)


# Budget periods are calendar months and days in UTC, whatever the display time zone.
def month_start(now: datetime | None = None) -> datetime:
    return day_start(now).replace(day=1)


def day_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def spent_since(since: datetime, *, user: AbstractBaseUser | None = None) -> Decimal:
    """Money committed since `since`: reserved for unfinished generations, settled for ended ones,
    read from the append-only ledger, so deleting a generation never gives its money back."""
    return ledger.spent_since(since, user=user)


def status_for(user: AbstractBaseUser | None, *, budget: Budget | None = None) -> BudgetStatus:
    budget = budget or Budget.current()
    now = timezone.now()
    return BudgetStatus(
        monthly_cap=budget.monthly_team_cap,
        spent_this_month=spent_since(month_start(now)),
        daily_user_cap=budget.daily_user_cap,
        spent_today_by_user=spent_since(day_start(now), user=user) if user else Decimal(0),
    )


def reserve(*, user: AbstractBaseUser | None, amount: Decimal) -> BudgetStatus:
    """Check that `amount` fits both caps; must run inside the transaction that then
    creates the generations (their `cost` is the reservation). Raises BudgetExceeded."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("budget.reserve must run inside transaction.atomic()")
    Budget.current()  # make sure the row exists before locking it
    budget = Budget.objects.select_for_update().get(pk=1)
    status = status_for(user, budget=budget)
    refuse_if_over(status, amount)
    return status


def would_fit(*, user: AbstractBaseUser | None, amount: Decimal) -> tuple[BudgetStatus, str | None]:
    """`reserve` without reserving (for dry runs): the budgets now, and None if `amount` fits
    or the reason it would be refused. Writes nothing and locks nothing, so the answer can
    change before a real request is made."""
    budget = Budget.objects.filter(pk=1).first() or Budget(pk=1)  # no row yet: no caps
    status = status_for(user, budget=budget)
    try:
        refuse_if_over(status, amount)
    except BudgetExceeded as exc:
        return status, str(exc)
    return status, None


def usd(amount: Decimal | float | int) -> str:
    """Money as the budget's messages show it: whole cents as cents ($12.50), anything else
    to the 4 places costs are kept to ($0.0040, $0.1944), so an amount is never rounded to
    a misleading "$0.00" or to the very figure it is compared with. Below $0.0001 (only
    possible for a computed amount) it says "less than $0.0001"."""
    amount = Decimal(str(amount))
    if amount == amount.quantize(_CENT):
        return f"${amount:.2f}"
    if 0 < amount < _SMALLEST:
        return f"less than ${_SMALLEST}"
    return f"${amount.quantize(_SMALLEST):.4f}"


_CENT = Decimal("0.01")
_SMALLEST = Decimal("0.0001")


def refuse_if_over(status: BudgetStatus, amount: Decimal) -> None:
    """Raises BudgetExceeded, saying which cap, when `amount` does not fit what `status` leaves."""
    left = status.left_this_month
    if left is not None and amount > left:
        raise BudgetExceeded(
            f"This would cost {usd(amount)}, but only {usd(left)} of the team's monthly budget "
            f"({usd(status.monthly_cap)}) is left."
        )
    left_today = status.left_today_for_user
    if left_today is not None and amount > left_today:
        raise BudgetExceeded(
            f"This would cost {usd(amount)}, but only {usd(left_today)} of your daily budget "
            f"({usd(status.daily_user_cap)}) is left today."
        )
