from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from secki.accounts import views as accounts_views
from secki.apiroutes import api

urlpatterns = [
    # one log-in for the whole site, the admin's included (lockout and second factor)
    path("admin/login/", accounts_views.admin_login),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("staff/login/", accounts_views.LoginView.as_view(), name="login"),
    path("staff/login/code/", accounts_views.code, name="two-factor-code"),
    path("staff/login/enrol/", accounts_views.enrol, name="two-factor-enrol"),
    path(
        "staff/login/recovery-codes/",
        accounts_views.recovery_codes,
        name="two-factor-recovery-codes",
    ),
    path("staff/two-factor/", accounts_views.settings_page, name="two-factor"),
    path("staff/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/turnout/", include("secki.staff.turnout_urls")),
    path("staff/", include("secki.staff.urls")),
    path("data/", include("secki.opendata.urls")),
    path("integrity/", include("secki.integrity.urls")),
    path("", include("secki.results.urls")),
]

# 503 page (or the API's JSON error) when a middleware's database access fails; Django's
# own 500 otherwise. The 404 page is the template 404.html (secki.results).
handler500 = "secki.unavailable.server_error"
