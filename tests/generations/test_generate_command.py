"""`manage.py generate`: --dry-run (plans and prices, stores and sends nothing) and the --json answer."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from decimal import Decimal
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from generations import pricing, seedance, services
from generations.models import AuditEvent, Batch, Budget, Generation, Prompt, SourceImage
from tests.conftest import make_image_bytes, stored_files

pytestmark = pytest.mark.django_db

PROMPT = "Steam rises slowly from the cup."


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]
    files: frozenset[str]

    @classmethod
    def take(cls) -> Snapshot:
        models = (SourceImage, Prompt, Generation, Batch, AuditEvent, Budget)
        return cls(rows={m.__name__: m.objects.count() for m in models}, files=frozenset(stored_files()))


@pytest.fixture(autouse=True)
def outside():
    """Celery and fal, each patched at its one seam: a dry run must reach neither."""
    with (
        mock.patch("generations.tasks.submit_generation.delay", autospec=True) as submit,
        mock.patch("generations.fal_gateway._client", autospec=True) as fal,
    ):
        yield mock.Mock(submit=submit, fal=fal)


@pytest.fixture
def image_path(tmp_path):
    path = tmp_path / "cup.png"
    path.write_bytes(make_image_bytes(640, 360))
    return path


def generate(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("generate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def dry_run_json(*args: str) -> dict:
    out, _ = generate(*args, "--dry-run", "--json")
    return json.loads(out)


def _cap(monthly=None, daily=None):
    Budget.objects.update_or_create(pk=1, defaults={"monthly_team_cap": monthly, "daily_user_cap": daily})


def test_dry_run_plans_and_prices_but_stores_queues_and_sends_nothing(
    image_path, outside, django_capture_on_commit_callbacks
):
    before = Snapshot.take()
    with django_capture_on_commit_callbacks(execute=True) as after_commit:
        answer = dry_run_json("--image", str(image_path), "--prompt", PROMPT, "--resolution", "480p", "--duration", "3")
    assert Snapshot.take() == before  # no row of any kind, no file
    assert after_commit == []
    outside.submit.assert_not_called()
    outside.fal.assert_not_called()

    price = pricing.estimate(resolution="480p", aspect_ratio="auto", duration=3, image_size=(640, 360))
    assert answer["dry_run"] is True and answer["would_run"] is True and answer["refusal"] is None
    assert answer["count"] == 1
    assert answer["estimate_usd"] == answer["price_each_usd"] == float(price)
    assert isinstance(answer["estimate_usd"], float)
    # `auto` resolves to the ratio nearest the image's (640x360 is 16:9), and the size is the published one.
    assert answer["output"] == {
        "resolution": "480p",
        "aspect_ratio": "16:9",
        "width": 864,
        "height": 480,
        "duration": 3,
        "fps": seedance.OUTPUT_FPS,
    }
    assert answer["inputs"]["prompt"] == PROMPT and answer["inputs"]["aspect_ratio"] == "auto"
    assert answer["image"]["in_library"] is False and answer["image"]["id"] is None
    assert (answer["image"]["width"], answer["image"]["height"], answer["image"]["format"]) == (640, 360, "PNG")
    assert answer["duplicates"] == []
    assert answer["budget"]["fits"] is True and answer["budget"]["monthly_cap_usd"] is None


def test_dry_run_without_json_prints_a_readable_summary(image_path):
    out, _ = generate(
        "--image", str(image_path), "--prompt", PROMPT, "--resolution", "720p", "--aspect-ratio", "9:16", "--dry-run"
    )
    price = pricing.estimate(resolution="720p", aspect_ratio="9:16", duration=5)
    assert "Dry run: nothing stored, nothing queued, nothing sent to fal." in out
    assert "Would create 1 generation: 720p, 9:16, 5 s -> a 704x1248 video at 24 fps." in out
    assert f"${price:.4f} each" in out
    assert "(new: it would be stored)" in out
    assert "Budget: fits (no monthly cap, no daily cap)." in out
    assert "Would run: yes." in out
    assert SourceImage.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--duration", "13"], "--duration: "),
        (["--aspect-ratio", "5:4", "--seed", "abc"], "--aspect-ratio: "),
        (["--prompt", "   "], "--prompt: "),
        (["--image", "/nonexistent.png"], "Cannot read the image /nonexistent.png"),
        (["--image", "NOT-AN-IMAGE"], "refused — The file is not an image"),
    ],
)
def test_dry_run_refuses_bad_input_with_the_real_run_s_error(image_path, tmp_path, args, message):
    bad = tmp_path / "notes.png"
    bad.write_text("hello")
    base = {"--image": str(image_path), "--prompt": PROMPT}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = str(bad) if value == "NOT-AN-IMAGE" else value
    flat = [item for pair in base.items() for item in pair]
    before = Snapshot.take()
    with pytest.raises(CommandError) as dry:
        generate(*flat, "--dry-run", "--json")
    with pytest.raises(CommandError) as real:
        generate(*flat, "--json")
    assert str(dry.value) == str(real.value)
    assert message in str(dry.value)
    assert Snapshot.take() == before


def test_dry_run_says_the_budget_would_refuse_it_and_exits_1(image_path, outside):
    _cap(monthly=Decimal("0.01"))
    before = Snapshot.take()
    out, err = io.StringIO(), io.StringIO()
    args = ["--image", str(image_path), "--prompt", PROMPT, "--resolution", "1080p"]
    with pytest.raises(SystemExit) as exit_:
        call_command("generate", *args, "--dry-run", "--json", stdout=out, stderr=err)
    assert exit_.value.code == 1
    answer = json.loads(out.getvalue())
    assert answer["would_run"] is False and answer["budget"]["fits"] is False
    assert answer["budget"]["monthly_cap_usd"] == 0.01 and answer["budget"]["left_this_month_usd"] == 0.01
    assert answer["refusal"] == answer["budget"]["reason"]
    assert "of the team's monthly budget ($0.01) is left" in answer["refusal"]
    assert f"Would be refused: {answer['refusal']}" in err.getvalue()
    assert Snapshot.take() == before
    # The real run gives the same reason (and stores its image, as it always has: it is not a generation).
    with pytest.raises(CommandError) as real:
        generate(*args)
    assert str(real.value) == f"Refused: {answer['refusal']}"
    assert Generation.objects.count() == 0


def test_dry_run_budget_check_counts_what_is_already_reserved(image_path):
    _cap(daily=Decimal("1.00"))
    answer = dry_run_json("--image", str(image_path), "--prompt", PROMPT, "--resolution", "480p")
    assert answer["budget"] == {
        "fits": True,
        "reason": None,
        "monthly_cap_usd": None,
        "left_this_month_usd": None,
        "daily_user_cap_usd": 1.0,
        "left_today_usd": 1.0,
    }


def test_dry_run_finds_an_identical_video_by_the_image_s_sha256(image_path, outside):
    image, _ = services.source_image_ingest(file=io.BytesIO(image_path.read_bytes()), filename="cup.png")
    prompt, _ = services.prompt_get_or_create(text=PROMPT)
    params = services.GenerationParams.from_raw(resolution="480p", seed=42)
    done = Generation.objects.create(
        source_image=image,
        prompt=prompt,
        prompt_text=PROMPT,
        status=Generation.Status.COMPLETED,
        video="generations/2026/03/done.mp4",
        video_sha256="a" * 64,
        **params.as_model_fields(),
    )
    before = Snapshot.take()
    args = ["--image", str(image_path), "--prompt", PROMPT, "--resolution", "480p", "--seed", "42"]
    with pytest.raises(SystemExit):
        generate(*args, "--dry-run", "--json")
    answer = dry_run_json(*args, "--generate-anyway")
    assert answer["image"]["in_library"] is True and answer["image"]["id"] == str(image.code)
    assert answer["duplicates"] == [{"id": str(done.code), "video_key": "generations/2026/03/done.mp4"}]
    assert answer["would_run"] is True
    assert Snapshot.take() == before

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit):
        call_command("generate", *args, "--dry-run", stdout=out, stderr=err)
    assert f"Identical video already made: generation {done.code}" in out.getvalue()
    assert "Would run: no" in out.getvalue()
    with pytest.raises(CommandError) as real:
        generate(*args)
    assert err.getvalue().strip() == f"Would be refused: {real.value}"
    outside.submit.assert_not_called()


def test_json_answer_gains_cost_usd_and_keeps_every_other_key(image_path, outside, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = generate("--image", str(image_path), "--prompt", PROMPT, "--resolution", "480p", "--json")
    answer = json.loads(out)
    generation = Generation.objects.get()
    assert set(answer) == {
        "id",
        "status",
        "seed",
        "requested_seed",
        "fal_request_id",
        "video_key",
        "poster_key",
        "metadata",
        "inputs",
        "error",
        "cost_usd",
    }
    assert answer["id"] == str(generation.code) and answer["status"] == "pending"
    # Pending: the reserved estimate, as a JSON number.
    assert answer["cost_usd"] == float(generation.cost) == float(generation.estimated_cost) > 0
    outside.submit.assert_called_once_with(generation.pk)

    # Ended: the settled price.
    Generation.objects.filter(pk=generation.pk).update(cost=Decimal("0.0123"))
    from generations.management.commands.generate import generation_summary

    generation.refresh_from_db()
    assert generation_summary(generation)["cost_usd"] == 0.0123
