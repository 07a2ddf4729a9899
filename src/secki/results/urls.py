from django.urls import path

from secki.results import views

app_name = "results"
urlpatterns = [
    path("", views.home, name="home"),
    path("e/<slug:slug>/", views.election_results, name="election"),
]
