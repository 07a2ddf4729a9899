from django.urls import path

from secki.portal import search, views

app_name = "portal"
urlpatterns = [
    path("", views.home, name="home"),
    path("lang/<str:code>/", views.language, name="language"),
    path("verify/", views.verify_guide, name="verify_guide"),
    path("search/", search.search, name="search"),
    path("e/<slug:slug>/", views.election_results, name="election"),
    path("e/<slug:slug>/u/<str:code>/", views.unit_results, name="unit"),
    path("e/<slug:slug>/s/<str:code>/", views.station_page, name="station"),
    path("e/<slug:slug>/s/<str:code>/scans/<int:number>/", views.scan_file, name="scan"),
    path("e/<slug:slug>/turnout/", views.turnout_page, name="turnout"),
    path("e/<slug:slug>/map/", views.map_page, name="map"),
    path("e/<slug:slug>/webcams/", views.webcams_page, name="webcams"),
    path("e/<slug:slug>/verify/", views.verify_election, name="verify"),
]
