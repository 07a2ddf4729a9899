from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "secki.staff"
    label = "staff"
    verbose_name = "Staff pages"
