"""The hash chain becomes the entries of the public Merkle log (issue 14), step 3 of 3: the
chain's columns go, and the log's columns and constraints are as the model says."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0003_log_entries_data"),
    ]

    operations = [
        migrations.RemoveField(model_name="ledgerentry", name="hash"),
        migrations.RemoveField(model_name="ledgerentry", name="prev_hash"),
        migrations.AlterField(
            model_name="ledgerentry",
            name="seq",
            field=models.PositiveBigIntegerField(help_text="global write order", unique=True),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="election",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="ledger_entries",
                to="elections.election",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="index",
            field=models.PositiveBigIntegerField(help_text="leaf index in the election's log"),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="subject",
            field=models.CharField(
                blank=True,
                max_length=200,
                help_text="what the entry is about (protocol:<station>, turnout:<station>@<HH:MM> …)",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="leaf_hash",
            field=models.CharField(max_length=64, help_text="hex LH(body)"),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="body",
            field=models.TextField(help_text="the entry's canonical JSON; the leaf is its UTF-8"),
        ),
        migrations.AddConstraint(
            model_name="ledgerentry",
            constraint=models.UniqueConstraint(
                fields=("election", "index"), name="ledger_entry_index"
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                fields=["election", "subject", "index"], name="ledger_entry_subject"
            ),
        ),
    ]
