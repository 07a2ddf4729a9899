from django.urls import path

from secki.staff import views

app_name = "staff"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
]
