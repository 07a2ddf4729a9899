"""A scan's log entry is deleted only with its election (which deletes the scan too): the log's
entries now go with their election (ledger 0004), so PROTECT becomes RESTRICT."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_log_entries_finish"),
        ("protocols", "0006_legal_record_foreign_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="protocolscan",
            name="ledger",
            field=models.OneToOneField(
                help_text="the public fact",
                on_delete=django.db.models.deletion.RESTRICT,
                related_name="+",
                to="ledger.ledgerentry",
            ),
        ),
    ]
