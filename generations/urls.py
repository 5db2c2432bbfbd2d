from django.urls import path

from . import views

urlpatterns = [
    path("webhooks/fal", views.fal_webhook, name="fal-webhook"),
]
