from django.urls import path, re_path

from secki.portal import downloads as views

app_name = "opendata"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.election_page, name="election"),
    path("<slug:slug>/releases.json", views.releases_json, name="releases"),
    path("<slug:slug>/turnout.json", views.turnout_json, name="turnout"),
    re_path(
        r"^(?P<slug>[-a-zA-Z0-9_]+)/(?P<version>live|latest|v[0-9]+)/(?P<name>[^?#]+)$",
        views.data_file,
        name="file",
    ),
]
