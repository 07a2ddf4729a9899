from django.urls import path

from secki.staff import turnout as views

app_name = "turnout"
urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.overview, name="overview"),
    path("<slug:slug>/station/", views.find_station, name="find_station"),
    path("<slug:slug>/station/<str:code>/", views.report, name="report"),
    path("<slug:slug>/missing/", views.missing, name="missing"),
    path("<slug:slug>/anomalies/", views.anomalies, name="anomalies"),
    path("<slug:slug>/anomalies.csv", views.anomalies_csv, name="anomalies_csv"),
    path("<slug:slug>/bulk/", views.bulk, name="bulk"),
]
