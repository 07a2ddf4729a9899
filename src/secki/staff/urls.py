from django.urls import path

from secki.staff import audit, config, entry, reconcile, stations, upload, views

app_name = "staff"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.revoke_token, name="revoke_token"),
    path("audit/", audit.trail, name="audit"),
    path("e/<slug:slug>/settings/", config.election_settings, name="settings"),
    path("e/<slug:slug>/protocol/", entry.enter, name="enter"),
    path("e/<slug:slug>/upload/", upload.upload, name="upload"),
    path("e/<slug:slug>/reconcile/", reconcile.queue, name="reconcile"),
    path("e/<slug:slug>/reconcile/<str:code>/", reconcile.decide, name="decide"),
    path("e/<slug:slug>/stations/", stations.station_list, name="stations"),
    path("e/<slug:slug>/stations/<str:code>/", stations.station_page, name="station"),
    path("e/<slug:slug>/stations/<str:code>/amend/", stations.amend, name="amend"),
    path("e/<slug:slug>/stations/<str:code>/annul/", stations.annul, name="annul"),
    path("e/<slug:slug>/stations/<str:code>/publish/", stations.publish, name="publish"),
    path("e/<slug:slug>/stations/<str:code>/scans/", stations.upload_scan, name="scan"),
]
