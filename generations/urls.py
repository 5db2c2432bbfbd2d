from django.contrib.auth import views as auth_views
from django.urls import path

from . import views, views_library
from .ratelimits import login_guard

urlpatterns = [
    path("webhooks/fal", views.fal_webhook, name="fal-webhook"),
    path("healthz", views.healthz, name="healthz"),
    # The team's gallery.
    path("", views_library.gallery_index, name="gallery"),  # views.gallery_index + the library's filters
    path("generations/status.json", views.generation_status, name="generation-status"),
    path("generations/<uuid:code>/", views_library.generation_detail, name="generation-detail"),  # + library controls
    path("generations/<uuid:code>/download/", views.generation_download, name="generation-download"),
    path("generations/<uuid:code>/remix/", views.generation_remix, name="generation-remix"),
    path("images/", views.image_index, name="images"),
    path("images/upload/", views.image_upload, name="image-upload"),
    path("images/<uuid:code>/", views.image_detail, name="image-detail"),
    path("prompts/", views.prompt_index, name="prompts"),
    path("prompts/<uuid:code>/", views.prompt_detail, name="prompt-detail"),
    # Local media (embedded mode) behind a login; 404 when storage is S3.
    path("media/<path:name>", views.private_media, name="media"),
    path(
        "login/",
        # Failed logins are counted; too many get 429 (generations/ratelimits.py).
        login_guard(
            auth_views.LoginView.as_view(
                template_name="gallery/login.html", next_page="gallery", redirect_authenticated_user=True
            )
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
]

# Compare variations and the trash (generations/views_compare.py), kept in a block of their own.
from . import views_compare  # noqa: E402

urlpatterns += [
    path("compare/", views_compare.compare, name="compare"),
    path("compare/pick/", views_compare.compare_pick, name="compare-pick"),
    path("compare/variations/<uuid:code>/", views_compare.compare_variations, name="compare-variations"),
    path("trash/", views_compare.trash_index, name="trash"),
    path("trash/restore/", views_compare.trash_restore, name="trash-restore"),
    path("generations/<uuid:code>/trash/", views_compare.generation_trash, name="generation-trash"),
]

# The library (generations/views_library.py): favourites, rating, tags, collections,
# bulk actions on a selection, and JSON/CSV manifests.
urlpatterns += [
    path("generations/<uuid:code>/favourite/", views_library.generation_favourite, name="library-favourite"),
    path("generations/<uuid:code>/rating/", views_library.generation_rate, name="library-rate"),
    path("generations/<uuid:code>/tags/", views_library.generation_tag, name="library-tag"),
    path("generations/<uuid:code>/tags/remove/", views_library.generation_untag, name="library-untag"),
    path("generations/<uuid:code>/collections/", views_library.generation_collect, name="library-collect"),
    path("bulk/", views_library.bulk, name="library-bulk"),
    path("export.json", views_library.gallery_export, {"fmt": "json"}, name="library-export-json"),
    path("export.csv", views_library.gallery_export, {"fmt": "csv"}, name="library-export-csv"),
    path("tags/", views_library.tag_index, name="tags"),
    path("collections/", views_library.collection_index, name="collections"),
    path("collections/new/", views_library.collection_create, name="collection-create"),
    path("collections/<uuid:code>/", views_library.collection_detail, name="collection-detail"),
    path("collections/<uuid:code>/edit/", views_library.collection_edit, name="collection-edit"),
    path("collections/<uuid:code>/remove/", views_library.collection_remove, name="collection-remove"),
    path("collections/<uuid:code>/delete/", views_library.collection_delete, name="collection-delete"),
    path(
        "collections/<uuid:code>/export.json",
        views_library.collection_export,
        {"fmt": "json"},
        name="collection-export-json",
    ),
    path(
        "collections/<uuid:code>/export.csv",
        views_library.collection_export,
        {"fmt": "csv"},
        name="collection-export-csv",
    ),
]

# Large exports, written by a worker, and their downloads (generations/views_exports.py).
from . import views_exports  # noqa: E402

urlpatterns += [
    path("exports/", views_exports.export_index, name="exports"),
    path("exports/<uuid:code>/download/", views_exports.export_download, name="export-download"),
]
