from django.urls import path

from secki.staff import field as views

app_name = "field"
urlpatterns = [
    path("<slug:slug>/", views.home, name="home"),
    path("<slug:slug>/sw.js", views.worker, name="worker"),
    path("<slug:slug>/checklists/<str:code>/", views.checklist, name="checklist"),
    path("<slug:slug>/incident/", views.incident, name="incident"),
    path("<slug:slug>/deploy/", views.deploy, name="deploy"),
    path("<slug:slug>/incidents/", views.incidents, name="incidents"),
    path("<slug:slug>/evidence/<int:pk>/", views.evidence, name="evidence"),
]
