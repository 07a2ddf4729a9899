from django.db import migrations

from secki.audits.store import create_seed_trigger, drop_seed_trigger


class Migration(migrations.Migration):
    dependencies = [("audits", "0001_initial")]

    operations = [migrations.RunPython(create_seed_trigger, drop_seed_trigger)]
