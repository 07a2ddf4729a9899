from django.urls import path

from secki.staff import audits as views

app_name = "audits"
urlpatterns = [
    path("e/<slug:slug>/", views.index, name="index"),
    path("e/<slug:slug>/<int:audit_id>/", views.audit_page, name="audit"),
    path("e/<slug:slug>/<int:audit_id>/count/<int:task_id>/", views.count, name="count"),
]
