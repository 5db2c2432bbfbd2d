"""What admins (and scripts) do with generations: request a batch, retry, remix,
cancel, delete, change the budget. Each checks permissions' business rules (budget,
"you already paid for this"), acts, and leaves an audit record.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from . import audit, budget, pipeline, pricing, seedance, services
from .audit import Action
from .fal_gateway import CONTENT_POLICY
from .models import Batch, Budget, Generation, SourceImage
from .services import GenerationParams
from .validators import prompt_fingerprint, validate_prompt_text

logger = logging.getLogger(__name__)
S = Generation.Status

MAX_VARIATIONS = 20
MAX_BATCH_SIZE = 200


@dataclass(frozen=True)
class PlannedGeneration:
    source_image: SourceImage
    prompt_text: str
    params: GenerationParams
    cost: Decimal
    # An earlier completed generation with the same image content, prompt, every
    # parameter and an explicit seed: paying again would buy the same video.
    identical: Generation | None = None


@dataclass(frozen=True)
class Plan:
    items: list[PlannedGeneration] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def total_cost(self) -> Decimal:
        return sum((item.cost for item in self.items), Decimal(0))

    @property
    def duplicates(self) -> list[PlannedGeneration]:
        return [item for item in self.items if item.identical is not None]


class NotAllowed(Exception):
    """The generation is not in a state this action applies to."""


class NeedsConfirmation(NotAllowed):
    """The action would most likely spend money for nothing; the person must confirm it."""


class DuplicateRequest(Exception):
    """Some planned generations would repeat completed ones; see `plan.duplicates`."""

    def __init__(self, plan: Plan):
        self.plan = plan
        n = len(plan.duplicates)
        super().__init__(
            f"{n} of these generation(s) would repeat a video you already have (same image, prompt, "
            "settings and seed). Use the existing video, or choose “generate anyway”."
        )


def plan(*, images: list[SourceImage], prompt_texts: list[str], params: GenerationParams, variations: int = 1) -> Plan:
    """Every generation a request would create, with its price; raises ValidationError for bad input
    (an image Seedance would refuse among them)."""
    if not images:
        raise ValidationError("Choose at least one source image.")
    unusable = []
    for image in images:
        try:
            services.source_image_check_usable(image)
        except ValidationError as exc:
            unusable.extend(exc.error_list)
    if unusable:
        raise ValidationError(unusable)
    texts = [t for t in prompt_texts if t and t.strip()]
    if not texts:
        raise ValidationError("Give at least one prompt: pick one from the library or type one.")
    for text in texts:
        validate_prompt_text(text)
    if not 1 <= variations <= MAX_VARIATIONS:
        raise ValidationError(f"Variations per prompt must be 1 to {MAX_VARIATIONS}, not {variations}.")
    count = len(images) * len(texts) * variations
    if count > MAX_BATCH_SIZE:
        raise ValidationError(
            f"That is {count} generations; one request may create at most {MAX_BATCH_SIZE}. Split it up."
        )
    seeds = _seeds(params.seed, variations)
    items = []
    for image in images:
        cost = pricing.estimate_for(params, image)
        for text in texts:
            for seed in seeds:
                item_params = dataclasses.replace(params, seed=seed)
                items.append(
                    PlannedGeneration(
                        source_image=image,
                        prompt_text=text,
                        params=item_params,
                        cost=cost,
                        identical=find_identical(image, text, item_params),
                    )
                )
    return Plan(items=items)


def _seeds(seed: int | None, variations: int) -> list[int | None]:
    if seed is None:
        return [None] * variations  # fal picks a random seed for each
    if seed + variations - 1 > seedance.MAX_SEED:
        raise ValidationError(f"Seeds {seed}…{seed + variations - 1} go past the largest seed, {seedance.MAX_SEED}.")
    return [seed + n for n in range(variations)]


def find_identical(image: SourceImage, prompt_text: str, params: GenerationParams) -> Generation | None:
    if params.seed is None:
        return None  # a random seed gives a different video each time
    return (
        Generation.objects.filter(
            status=S.COMPLETED,
            source_image__sha256=image.sha256,
            prompt__text_hash=prompt_fingerprint(prompt_text),
            **params.as_model_fields(),
        )
        .order_by("-created_at")
        .first()
    )


def request(
    the_plan: Plan,
    *,
    user: AbstractBaseUser | None,
    note: str = "",
    allow_duplicates: bool = False,
    as_batch: bool = True,
    retry_of: Generation | None = None,
    action: str = Action.GENERATE,
) -> list[Generation]:
    """Create and queue every planned generation, within the budget, atomically.

    Raises DuplicateRequest (unless allow_duplicates) or budget.BudgetExceeded; in
    either case nothing is created and nothing reaches fal.
    """
    if the_plan.duplicates and not allow_duplicates:
        raise DuplicateRequest(the_plan)
    with transaction.atomic():
        budget.reserve(user=user, amount=the_plan.total_cost)
        batch = Batch.objects.create(owner=user, note=note) if as_batch and the_plan.count > 1 else None
        generations = []
        for item in the_plan.items:
            prompt, _ = services.prompt_get_or_create(text=item.prompt_text, created_by=user)
            generation = services.generation_create(
                source_image=item.source_image,
                prompt=prompt,
                params=item.params,
                requested_by=user,
                batch=batch,
                estimated_cost=item.cost,
                retry_of=retry_of,
            )
            generations.append(generation)
        total = the_plan.total_cost
        if batch is not None or len(generations) != 1:
            audit.record(
                action,
                actor=user,
                batch=batch,
                cost=total,
                message=f"Requested {len(generations)} generations for ${total:.2f}.",
                generations=[str(g.code) for g in generations],
            )
        else:
            audit.record(
                action,
                actor=user,
                generation=generations[0],
                cost=total,
                message=f"Requested a generation for ${total:.2f}.",
            )
    return generations


def retry(generation: Generation, *, user: AbstractBaseUser | None, confirmed: bool = False) -> Generation:
    """A new attempt with exactly the same inputs (a failed or cancelled generation).

    The original is locked while deciding, so parallel retries of one generation are decided
    one after the other. Unless `confirmed`, a retry is refused (NeedsConfirmation) when it
    would most likely spend money for nothing: a retry of it is already live, or fal's content
    checker refused it (it would be refused again, and fal may bill a refused input).
    """
    with transaction.atomic():
        locked = Generation.objects.select_for_update().filter(pk=generation.pk).first()
        if locked is None or locked.status not in (S.FAILED, S.CANCELLED):
            shown = locked.get_status_display().lower() if locked else "deleted"
            raise NotAllowed(
                f"Generation {generation.code} is {shown}; only failed or cancelled generations can be retried."
            )
        if not confirmed and (concern := retry_concern(locked)):
            raise NeedsConfirmation(concern)
        the_plan = plan(
            images=[locked.source_image], prompt_texts=[locked.prompt_text], params=GenerationParams.of(locked)
        )
        [new] = request(
            the_plan, user=user, allow_duplicates=True, as_batch=False, retry_of=locked, action=Action.RETRY
        )
    return new


def retry_concern(generation: Generation) -> str:
    """Why retrying this generation unchanged should be confirmed first ("" when it need not)."""
    short = str(generation.code)[:8]
    live = (
        Generation.objects.filter(retry_of=generation, audit_events__action=Action.RETRY)
        .exclude(status__in=(S.FAILED, S.CANCELLED))
        .order_by("-created_at")
        .first()
    )
    if live is not None:
        return (
            f"Generation {short} was already retried as {str(live.code)[:8]} "
            f"({live.get_status_display().lower()}); retrying again pays for another video. Retry again anyway?"
        )
    if generation.error_code == CONTENT_POLICY:
        return (
            f"fal's content checker refused generation {short}; the same inputs will most likely be refused "
            "again, and fal may bill a refused input. Confirm to retry it unchanged, or remix it with an "
            "edited prompt."
        )
    return ""


def remix(
    generation: Generation, *, user: AbstractBaseUser | None, prompt_text: str | None = None, seed: int | None = None
) -> Generation:
    """The same inputs with a new seed (random unless given), or an edited prompt."""
    params = dataclasses.replace(GenerationParams.of(generation), seed=seed)
    the_plan = plan(
        images=[generation.source_image], prompt_texts=[prompt_text or generation.prompt_text], params=params
    )
    [new] = request(
        the_plan, user=user, allow_duplicates=True, as_batch=False, retry_of=generation, action=Action.REMIX
    )
    return new


def cancel(generation: Generation, *, user: AbstractBaseUser | None) -> str:
    """Cancel; the audit record is written first, so it exists even when fal cannot be reached."""
    audit.record(
        Action.CANCEL,
        actor=user,
        generation=generation,
        cost=generation.cost,
        message=f"Cancel requested (was {generation.get_status_display().lower()}).",
    )
    return pipeline.cancel(generation)


def retry_archive(generation: Generation, *, user: AbstractBaseUser | None) -> None:
    pipeline.retry_archive(generation)
    audit.record(
        Action.ARCHIVE_RETRY,
        actor=user,
        generation=generation,
        message="Archive retried from fal's kept URL (no new fal request).",
    )


def delete(generation: Generation, *, user: AbstractBaseUser | None) -> None:
    """Delete an ended generation; its archived files go too unless DELETE_ARCHIVED_FILES is off."""
    if generation.status not in Generation.ENDS:
        raise NotAllowed(
            f"Generation {generation.code} is {generation.get_status_display().lower()}; cancel it first, "
            "or wait until it ends, before deleting it."
        )
    names = [f.name for f in (generation.video, generation.poster) if f]
    storage = generation.video.storage
    remove_files = settings.DELETE_ARCHIVED_FILES
    with transaction.atomic():
        audit.record(
            Action.DELETE,
            actor=user,
            generation=generation,
            cost=generation.cost,
            message="Deleted" + (" with its archived files." if remove_files and names else "."),
            files=names,
            files_deleted=bool(remove_files and names),
        )
        generation.delete()
        if remove_files and names:
            transaction.on_commit(lambda: _delete_files(storage, names))


def _delete_files(storage, names: list[str]) -> None:
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # the row is gone; a leftover object is logged, not fatal
            logger.exception("Could not delete %s", name)


def budget_update(
    *, user: AbstractBaseUser | None, monthly_team_cap: Decimal | None, daily_user_cap: Decimal | None
) -> Budget:
    with transaction.atomic():
        Budget.current()
        row = Budget.objects.select_for_update().get(pk=1)
        before = {"monthly_team_cap": _money(row.monthly_team_cap), "daily_user_cap": _money(row.daily_user_cap)}
        row.monthly_team_cap, row.daily_user_cap, row.updated_by = monthly_team_cap, daily_user_cap, user
        row.full_clean()
        row.save()
        after = {"monthly_team_cap": _money(monthly_team_cap), "daily_user_cap": _money(daily_user_cap)}
        audit.record(
            Action.BUDGET_CHANGE, actor=user, message=_describe_budget_change(before, after), before=before, after=after
        )
    return row


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _describe_budget_change(before: dict, after: dict) -> str:
    def show(v):
        return "no cap" if v is None else f"${v}"

    parts = [
        f"{name.replace('_', ' ')}: {show(before[name])} → {show(after[name])}"
        for name in before
        if before[name] != after[name]
    ]
    return "Budget changed: " + ("; ".join(parts) if parts else "no change") + "."
