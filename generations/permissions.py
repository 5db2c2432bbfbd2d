"""Who may do what in the gallery: every gallery rule is decided here and only here.

Views (the decorators below and the object checks), templates (the `can` context processor,
generations.context_processors.permissions, and what views put in their context) and the bulk
actions all ask these functions; none re-derives a rule from is_staff, a group name or a
permission string.

The roles are Django groups (generations/roles.py):

- *viewer* (`generations.view_generation`): sees everything and curates. Curation spends and
  removes nothing: favourites (each person's own), the team's rating and tags, the pick,
  creating collections and adding videos to any collection (collections are assembled by the
  team; the owner can take a video out again).
- *generator* (also `generations.generate`): spends (generate, remix, upload source images) and
  uses the trash: moving to it and restoring from it undo spending decisions.

Staff status (`is_staff`) grants nothing in the gallery. It only opens the Django admin's
door (can_open_admin), where the model permissions decide again. A staff user without a role
gets 403 on every gallery page, and a staff viewer can trash nothing.

Collections are edited (renamed, described, emptied, deleted) only by their owner or by a
*collection keeper*: a user with `generations.change_collection`, which superusers have
implicitly. No group has it; an admin grants it to whoever looks after other people's
collections. A collection whose owner's account was deleted has no owner: only keepers edit it.

Superusers pass every rule (Django's has_perm answers True for an active superuser); an
inactive account passes none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cached_property

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .models import Collection, Generation

VIEW = "generations.view_generation"
GENERATE = "generations.generate"
KEEP_COLLECTIONS = "generations.change_collection"


# --- the gallery ----------------------------------------------------------------------------


def can_view(user) -> bool:
    """Every gallery page, the exports and the status feed."""
    return user.has_perm(VIEW)


def can_curate(user) -> bool:
    """Favourite, rate, tag, pick, create collections and add videos to them."""
    return can_view(user)


def can_generate(user) -> bool:
    """Spend: generate, remix, upload source images."""
    return can_view(user) and user.has_perm(GENERATE)


# --- the trash ------------------------------------------------------------------------------


def can_open_trash(user) -> bool:
    """The /trash/ page and its nav link."""
    return can_generate(user)


def can_trash(user, generation: Generation | None = None) -> bool:
    """May `user` move `generation` (without one: any generation) to the trash? The generator
    role, whoever requested it; whether the video *can* go (ended, not yet trashed) is the
    trash's own check (generations.trash.move_to_trash), reported as a skip, not a refusal."""
    return can_generate(user)


def can_restore(user, generation: Generation | None = None) -> bool:
    """May `user` bring `generation` (without one: any generation) back from the trash?"""
    return can_generate(user)


def can_see_generation(user, generation: Generation) -> bool:
    """May `user` see `generation`: its page, its download, its video and poster files? Anyone
    who views, except that a generation in the trash is seen only by those who may restore it
    (who get its page with a "Restore" notice). For everyone else it is gone: 404, never 403,
    so nothing says it exists. Compare, the exports, ZIPs and the gallery's lists leave trashed
    generations out for everyone."""
    if not can_view(user):
        return False
    return generation.trashed_at is None or can_restore(user, generation)


# --- collections ----------------------------------------------------------------------------


def is_collection_keeper(user) -> bool:
    """May edit everyone's collections: `generations.change_collection` (superusers have it)."""
    return can_view(user) and user.has_perm(KEEP_COLLECTIONS)


def can_create_collection(user) -> bool:
    return can_curate(user)


def can_add_to_collection(user, collection: Collection) -> bool:
    """Adding is curation: any collection, by anyone who curates (see the module docstring)."""
    return can_curate(user)


def can_edit_collection(user, collection: Collection) -> bool:
    """Rename, describe, remove videos from, or delete `collection`: its owner or a keeper."""
    if not can_view(user):
        return False
    is_owner = collection.owner_id is not None and collection.owner_id == user.pk
    return is_owner or is_collection_keeper(user)


def can_delete_collection(user, collection: Collection) -> bool:
    return can_edit_collection(user, collection)


# --- the admin ------------------------------------------------------------------------------


def can_open_admin(user) -> bool:
    """The admin's own door (django.contrib.admin's AdminSite.has_permission): active staff.
    Inside, each page asks the model permissions or a rule above."""
    return user.is_active and user.is_staff


# --- for views and templates ----------------------------------------------------------------


def require(rule: Callable[..., bool], refusal: str):
    """A view decorator: log in first (else the login page), then `rule(user)` or 403 saying `refusal`."""

    def decorator(view):
        @functools.wraps(view)
        def checked(request: HttpRequest, *args, **kwargs):
            if not rule(request.user):
                raise PermissionDenied(refusal)
            return view(request, *args, **kwargs)

        return login_required(checked, login_url="login")

    return decorator


viewer_required = require(can_view, "Seeing the gallery needs the viewer or generator role.")
generator_required = require(can_generate, "This needs the generator role.")
trash_required = require(can_open_trash, "Only generators may use the trash (staff status alone does not).")


class UserRules:
    """One user's answers for templates, asked lazily: `{% if can.open_trash %}`."""

    def __init__(self, user) -> None:
        self._user = user

    @cached_property
    def view(self) -> bool:
        return can_view(self._user)

    @cached_property
    def generate(self) -> bool:
        return can_generate(self._user)

    @cached_property
    def open_trash(self) -> bool:
        return can_open_trash(self._user)

    @cached_property
    def trash(self) -> bool:
        return can_trash(self._user)

    @cached_property
    def open_admin(self) -> bool:
        return can_open_admin(self._user)


def rules_for(request: HttpRequest) -> UserRules:
    return UserRules(getattr(request, "user", None) or AnonymousUser())
