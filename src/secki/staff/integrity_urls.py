from django.urls import path

from secki.staff import integrity as views

app_name = "integrity"
urlpatterns = [
    path("e/<slug:slug>/", views.overview, name="overview"),
    path("e/<slug:slug>/risk/", views.risk, name="risk"),
    path("e/<slug:slug>/plots/<str:name>.png", views.plot, name="plot"),
    path("e/<slug:slug>/settings/", views.toggle_public, name="toggle_public"),
    path("e/<slug:slug>/pvt/", views.pvt_index, name="pvt"),
    path("e/<slug:slug>/pvt/<int:sample_id>/", views.pvt_sample, name="pvt_sample"),
    path("e/<slug:slug>/exit-polls/", views.exit_polls, name="exit_polls"),
]
