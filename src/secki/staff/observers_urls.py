from django.urls import path

from secki.staff import observers as views

app_name = "observers"
urlpatterns = [
    path("<slug:slug>/", views.overview, name="overview"),
    path("<slug:slug>/apply/", views.apply, name="apply"),
    path("<slug:slug>/applications/<int:pk>/", views.application, name="application"),
    path("<slug:slug>/documents/<int:pk>/", views.document_file, name="document"),
    path("<slug:slug>/accreditations/<str:number>/revoke/", views.revoke, name="revoke"),
    path("<slug:slug>/accreditations/<str:number>/badge/", views.badge, name="badge"),
    path("<slug:slug>/copy/", views.copy_form, name="copy"),
    path("<slug:slug>/copies/upload/", views.upload, name="upload"),
    path("<slug:slug>/webcams/", views.webcams, name="webcams"),
    path("<slug:slug>/webcams/<str:code>/", views.webcam, name="webcam"),
    path("<slug:slug>/dashboard/", views.board, name="dashboard"),
]
