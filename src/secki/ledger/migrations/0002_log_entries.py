"""The hash chain becomes the entries of the public Merkle log (issue 14), step 1 of 3: the
log's columns, empty, and the register files' table. 0003 converts the rows, 0004 drops the
chain's columns and adds the log's constraints (three migrations, so that PostgreSQL alters
the table only in transactions that have not updated its rows)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("elections", "0004_registered_below_count_limit"),
        ("ledger", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="index",
            field=models.PositiveBigIntegerField(
                null=True, help_text="leaf index in the election's log"
            ),
        ),
        migrations.AddField(
            model_name="ledgerentry",
            name="subject",
            field=models.CharField(
                blank=True,
                default="",
                max_length=200,
                help_text="what the entry is about (protocol:<station>, turnout:<station>@<HH:MM> …)",
            ),
        ),
        migrations.AddField(
            model_name="ledgerentry",
            name="version",
            field=models.PositiveIntegerField(
                blank=True, null=True, help_text="the entry's version within its subject's chain"
            ),
        ),
        migrations.AddField(
            model_name="ledgerentry",
            name="leaf_hash",
            field=models.CharField(default="", max_length=64, help_text="hex LH(body)"),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="hash",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="prev_hash",
            field=models.CharField(max_length=64, null=True),
        ),
        migrations.CreateModel(
            name="LogFile",
            fields=[
                ("sha256", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
                ("content", models.BinaryField()),
                ("created_at", models.DateTimeField()),
            ],
        ),
    ]
