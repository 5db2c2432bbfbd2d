from django.contrib import admin
from django.urls import include, path

from generations import dashboard_views

urlpatterns = [
    # Admin pages of our own; before the admin's URLs, whose catch-all would answer 404.
    path("admin/dashboard/", dashboard_views.index, name="dashboard"),
    path("admin/dashboard/spend.csv", dashboard_views.spend_csv, name="dashboard-spend-csv"),
    path("admin/", admin.site.urls),
    path("", include("generations.urls")),
]
