"""Protocol line labels of the built-in schemas, marked for translation.

Line labels are data (an election's schema rows), shown through the ``line_label`` filter,
which translates a label when the catalogue knows it. Listing the built-in labels here lets
``makemessages`` collect them; labels of other schemas show as they are.
"""

from django.utils.translation import gettext_noop

BUILTIN_LINE_LABELS = (
    gettext_noop("Voters on the voter list"),
    gettext_noop("Voters on the main list"),
    gettext_noop("Voters on the additional list"),
    gettext_noop("Voters who voted with a de-registration card"),
    gettext_noop("Voters who obtained a de-registration card"),
    gettext_noop("Voters who obtained de-registration cards"),
    gettext_noop("Ballots received by the PEC"),
    gettext_noop("Voters who received ballots"),
    gettext_noop("Ballots issued for voting outside the station (mobile box)"),
    gettext_noop("Voters who voted with de-registration cards"),
    gettext_noop("Unused ballots"),
    gettext_noop("Cancelled ballots"),
    gettext_noop("Ballots found in mobile boxes"),
    gettext_noop("Ballots found in stationary boxes"),
    gettext_noop("Valid ballots"),
    gettext_noop("Invalid ballots: non-official form"),
    gettext_noop("Invalid ballots: unmarked or unclear"),
    gettext_noop("Spoilt ballots"),
    gettext_noop("Date and time the protocol was completed"),
    gettext_noop("Voters on the list at the end of voting"),
    gettext_noop("Ballots received by the precinct commission"),
    gettext_noop("Ballots issued to voters who voted early"),
    gettext_noop("Ballots issued to voters in the station on election day"),
    gettext_noop("Ballots issued to voters outside the station"),
    gettext_noop("Ballots in mobile boxes"),
    gettext_noop("Ballots in stationary boxes"),
    gettext_noop("Invalid ballots"),
    gettext_noop("Absentee certificates received"),
    gettext_noop("Lost ballots"),
)
