from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

urlpatterns = [
    path("webhooks/fal", views.fal_webhook, name="fal-webhook"),
    # The team's gallery.
    path("", views.gallery_index, name="gallery"),
    path("generations/status.json", views.generation_status, name="generation-status"),
    path("generations/<uuid:code>/", views.generation_detail, name="generation-detail"),
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
        auth_views.LoginView.as_view(
            template_name="gallery/login.html", next_page="gallery", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="login"), name="logout"),
]
