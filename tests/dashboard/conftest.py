"""A known data set for the dashboard, at a frozen "now", so every figure can be asserted exactly.

NOW is 2026-11-20 12:00 UTC: this month starts 2026-11-01, the 30-day window 2026-10-22.
Every price is $0.25 estimated; completed generations settle at $0.10 × their number.

    completed  c1–c10  took 10, 20, … 100 s (submitted → archived), video_bytes 1–10 MB;
                       c1–c8 in November (c1–c5, c9, c10 alice; c6–c8 bob), c9 on Oct 25,
                       c10 at the window's first instant (Oct 22 00:00)
               c_old   2026-09-15, took 1000 s, 5 MB, $0.50 (outside every window)
    failed     fal_422 ×3, submit_timeout ×2 (one on Oct 30), uncertain_submit ×1 (in the window);
               ancient_error (September) and edge_error (Oct 21 23:59:59, just outside)
    cancelled  x1 before it started (bob, $0); x2 while running (alice, $0.25 kept, "May be charged")
    in flight  a1 archiving (Nov 19 23:00, bob), k1 cancelling (08:00, alice), r1 in_progress (09:00, alice),
               q1 in_queue (10:00, bob, position 3), s1 submitted (11:00, alice), p1 (11:50, alice) and
               p2 (11:55, bob) pending: each $0.25 reserved
    batches    B1 (alice): c1, c2, x2, p1, s1 = $1.05;  B2 (bob): c6, q1 = $0.85
    budget     $10.00 a month for the team, $2.00 a day per person
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group

from generations import ledger, services
from generations.models import Batch, Budget, Generation
from generations.roles import ensure_groups
from tests.conftest import make_image_bytes

S = Generation.Status
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PRICE = Decimal("0.25")


def at(month: int, day: int, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


@pytest.fixture
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.com", "bob-password")


@pytest.fixture
def viewer(alice):
    """alice, as a staff member of the "viewer" group: may look, not spend."""
    ensure_groups()
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    alice.groups.add(Group.objects.get(name="viewer"))
    return alice


@dataclass
class Factory:
    """Creates Generation rows directly, with every field the dashboard reads set explicitly."""

    source_image: object
    prompt: object
    made: dict[str, Generation] = field(default_factory=dict)

    def make(
        self,
        name: str,
        status: str,
        created_at: datetime,
        *,
        user=None,
        batch: Batch | None = None,
        cost: Decimal | str = PRICE,
        estimated: Decimal | str = PRICE,
        took: float | None = None,
        video_bytes: int | None = None,
        error_code: str = "",
        error_message: str = "",
        cost_note: str = "",
        queue_position: int | None = None,
        started: bool = False,
    ) -> Generation:
        submitted_at = created_at + timedelta(seconds=5) if status != S.PENDING else None
        fields = {}
        if status == S.COMPLETED:
            fields = {
                "video": f"generations/2026/{created_at:%m}/{name}.mp4",
                "video_sha256": "a" * 64,
                "video_bytes": video_bytes,
                "started_at": submitted_at,
                "finished_at": submitted_at + timedelta(seconds=took) - timedelta(seconds=1),
                "archived_at": submitted_at + timedelta(seconds=took),
            }
        elif status in (S.FAILED, S.CANCELLED):
            fields = {"finished_at": created_at + timedelta(minutes=1), "started_at": submitted_at if started else None}
        generation = Generation.objects.create(
            source_image=self.source_image,
            prompt=self.prompt,
            prompt_text=f"{self.prompt.text} ({name})",
            status=status,
            created_at=created_at,
            submitted_at=submitted_at,
            requested_by=user,
            batch=batch,
            cost=Decimal(estimated),
            estimated_cost=Decimal(estimated),
            error_code=error_code,
            error_message=error_message,
            cost_note=cost_note,
            queue_position=queue_position,
            **fields,
        )
        # Its money as the app records it: the estimate reserved, then settled to its cost.
        ledger.reserve(generation)
        if Decimal(cost) != Decimal(estimated):
            Generation.objects.filter(pk=generation.pk).update(cost=Decimal(cost))
            generation.refresh_from_db()
            ledger.settle(generation)
        self.made[name] = generation
        return generation


@pytest.fixture
def factory(db, alice):
    image, _ = services.source_image_ingest(file=io.BytesIO(make_image_bytes()), filename="still.png")
    prompt, _ = services.prompt_get_or_create(text="A slow zoom over the hills at dawn.", created_by=alice)
    return Factory(source_image=image, prompt=prompt)


@pytest.fixture
def known_data(factory, alice, bob, frozen_now):
    make = factory.make
    b1 = Batch.objects.create(owner=alice, note="Autumn campaign")
    b2 = Batch.objects.create(owner=bob, note="Product shots")
    Budget.objects.create(pk=1, monthly_team_cap=Decimal("10.00"), daily_user_cap=Decimal("2.00"))

    completed_days = {1: at(11, 10), 2: at(11, 11), 3: at(11, 12), 4: at(11, 13), 5: at(11, 14)}
    completed_days |= {6: at(11, 15), 7: at(11, 16), 8: at(11, 17), 9: at(10, 25), 10: at(10, 22, 0)}
    for number, created_at in completed_days.items():
        make(
            f"c{number}",
            S.COMPLETED,
            created_at,
            user=bob if number in (6, 7, 8) else alice,
            batch={1: b1, 2: b1, 6: b2}.get(number),
            cost=Decimal("0.1") * number,
            took=10 * number,
            video_bytes=number * 1_000_000,
        )
    make("c_old", S.COMPLETED, at(9, 15), user=alice, cost="0.50", took=1000, video_bytes=5_000_000)

    failed = [
        ("f1", at(11, 12), alice, "fal_422", "Unprocessable: prompt rejected A"),
        ("f2", at(11, 13), bob, "fal_422", "Unprocessable: prompt rejected B"),
        ("f3", at(11, 18), alice, "fal_422", "Unprocessable: prompt rejected C"),
        ("f4", at(11, 14), bob, "submit_timeout", "fal did not answer in time"),
        ("f5", at(10, 30), alice, "submit_timeout", "fal did not answer in time"),
        ("f6", at(11, 19), alice, "uncertain_submit", "The submit may have reached fal; not sent again"),
        ("f_old", at(9, 20), alice, "ancient_error", "long ago"),
        ("f_edge", at(10, 21, 23, 59, 59), alice, "edge_error", "a second before the window"),
    ]
    for name, created_at, user, code, message in failed:
        make(name, S.FAILED, created_at, user=user, cost=0, error_code=code, error_message=message)

    make("x1", S.CANCELLED, at(11, 15), user=bob, cost=0, error_code="cancelled")
    make(
        "x2",
        S.CANCELLED,
        at(11, 16),
        user=alice,
        batch=b1,
        started=True,
        error_code="cancelled",
        cost_note="May be charged: cancelled while fal was already running it.",
    )

    make("a1", S.ARCHIVING, at(11, 19, 23), user=bob)
    make("k1", S.CANCELLING, at(11, 20, 8), user=alice)
    make("r1", S.IN_PROGRESS, at(11, 20, 9), user=alice)
    make("q1", S.IN_QUEUE, at(11, 20, 10), user=bob, batch=b2, queue_position=3)
    make("s1", S.SUBMITTED, at(11, 20, 11), user=alice, batch=b1)
    make("p1", S.PENDING, at(11, 20, 11, 50), user=alice, batch=b1)
    make("p2", S.PENDING, at(11, 20, 11, 55), user=bob)
    return {"generations": factory.made, "b1": b1, "b2": b2}
