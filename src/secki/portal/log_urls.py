from django.urls import path

from secki.portal import downloads as views

app_name = "log"
urlpatterns = [
    path("<path:name>", views.log_file, name="file"),
]
