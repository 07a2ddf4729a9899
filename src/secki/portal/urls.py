from django.urls import path

from secki.portal import audits, observer_coverage, observers, search, views

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
    path("e/<slug:slug>/observers/", observers.registry, name="observers"),
    path("e/<slug:slug>/observers/check/<str:number>/", observers.check, name="observer_check"),
    path("e/<slug:slug>/observers/copies/", observers.copies, name="observer_copies"),
    path("e/<slug:slug>/observers/copies.csv", observers.copies_csv, name="observer_copies_csv"),
    path(
        "e/<slug:slug>/observers/copies.json",
        observers.copies_json,
        name="observer_copies_json",
    ),
    path("e/<slug:slug>/webcams/status/", observers.webcam_status, name="webcam_status"),
    path("e/<slug:slug>/webcams/s/<str:code>/", observers.webcam_detail, name="webcam"),
    path("e/<slug:slug>/observers/copies/s/<str:code>/", observers.copy_station, name="copy"),
    path(
        "e/<slug:slug>/observers/copies/s/<str:code>/photo/<int:pk>/",
        observers.copy_photo,
        name="copy_photo",
    ),
    path("e/<slug:slug>/audits/", audits.index, name="audits"),
    path("e/<slug:slug>/audits/<int:audit_id>/", audits.detail, name="audit"),
    path("e/<slug:slug>/audits/<int:audit_id>/report.json", audits.as_json, name="audit_json"),
    path("e/<slug:slug>/audits/<int:audit_id>/report/", audits.report_page, name="audit_report"),
    path("e/<slug:slug>/audits/<int:audit_id>/report.pdf", audits.report_pdf, name="audit_pdf"),
    path("e/<slug:slug>/audits/<int:audit_id>/draws.csv", audits.draws_csv, name="audit_csv"),
    path(
        "e/<slug:slug>/audits/<int:audit_id>/manifest.csv",
        audits.manifest_csv,
        name="audit_manifest",
    ),
    path("e/<slug:slug>/observers/coverage/", observer_coverage.page, name="observer_coverage"),
]
