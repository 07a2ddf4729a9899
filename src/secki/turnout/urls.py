from django.urls import path

from secki.turnout import views

app_name = "turnout"
urlpatterns = [
    path("", views.index, name="index"),
]
