from django.urls import path

from secki.integrity import views

app_name = "integrity"
urlpatterns = [
    path("e/<slug:slug>/", views.overview, name="overview"),
]
