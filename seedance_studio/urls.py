from django.contrib import admin
from django.urls import include, path

from generations import dashboard_views
from generations.ratelimits import login_guard

urlpatterns = [
    # Admin pages of our own; before the admin's URLs, whose catch-all would answer 404.
    path("admin/dashboard/", dashboard_views.index, name="dashboard"),
    path("admin/dashboard/spend.csv", dashboard_views.spend_csv, name="dashboard-spend-csv"),
    # The admin's login, with the same limit on failed attempts as the gallery's (429 when locked).
    path("admin/login/", login_guard(admin.site.login, admin_page=True)),
    path("admin/", admin.site.urls),
    path("", include("generations.urls")),
]
