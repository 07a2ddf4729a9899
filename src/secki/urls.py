from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from secki.apiroutes import api
from secki.staff import operations, signin

urlpatterns = [
    # one log-in for the whole site, the admin's included (lockout and second factor)
    path("admin/login/", signin.admin_login),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # for the operator's monitoring (secki.staff.operations)
    path("metrics", operations.metrics, name="metrics"),
    path("healthz", operations.healthz, name="healthz"),
    path("readyz", operations.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("staff/login/", signin.LoginView.as_view(), name="login"),
    path("staff/login/code/", signin.code, name="two-factor-code"),
    path("staff/login/enrol/", signin.enrol, name="two-factor-enrol"),
    path(
        "staff/login/recovery-codes/",
        signin.recovery_codes,
        name="two-factor-recovery-codes",
    ),
    path("staff/two-factor/", signin.settings_page, name="two-factor"),
    path("staff/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/turnout/", include("secki.staff.turnout_urls")),
    path("staff/observers/", include("secki.staff.observers_urls")),
    path("staff/audits/", include("secki.staff.audits_urls")),
    path("staff/field/", include("secki.staff.field_urls")),
    path("staff/", include("secki.staff.urls")),
    path("data/", include("secki.portal.downloads_urls")),
    path("log/", include("secki.portal.log_urls")),
    path("integrity/", include("secki.staff.integrity_urls")),
    path("", include("secki.portal.urls")),
]

# 503 page (or the API's JSON error) when a middleware's database access fails; Django's
# own 500 otherwise. The 404 page is the template 404.html (secki.portal).
handler500 = "secki.unavailable.server_error"
# the API's JSON 404 under /api/ (e.g. a non-number where an id goes), the 404 page elsewhere
handler404 = "secki.unavailable.not_found"
