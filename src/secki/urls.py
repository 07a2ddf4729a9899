from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from secki.api.main import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("staff/login/", auth_views.LoginView.as_view(), name="login"),
    path("staff/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/turnout/", include("secki.turnout.urls")),
    path("staff/", include("secki.staff.urls")),
    path("data/", include("secki.opendata.urls")),
    path("integrity/", include("secki.integrity.urls")),
    path("", include("secki.results.urls")),
]

# 503 page (or the API's JSON error) when a middleware's database access fails; Django's
# own 500 otherwise. The 404 page is the template 404.html (secki.results).
handler500 = "secki.unavailable.server_error"
