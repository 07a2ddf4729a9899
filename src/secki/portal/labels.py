"""Protocol line labels and check messages of the built-in schemas, marked for translation.

Labels and messages are data (an election's schema rows), shown through the ``line_label``
filter, which translates a text when the catalogue knows it. Listing the built-in ones here
lets ``makemessages`` collect them; other schemas' texts show as they are.
"""

from django.utils.translation import gettext_noop

BUILTIN_LINE_LABELS = (
    gettext_noop("Voters on the voter list"),
    gettext_noop("Voters on the main list"),
    gettext_noop("Voters on the additional list"),
    gettext_noop(
        "Of line 1: voters added to the list on showing a de-registration card from another station"
    ),
    gettext_noop(
        "Of line 1: voters taken off the list on obtaining a de-registration card to vote elsewhere"
    ),
    gettext_noop("De-registration cards issued by this commission (their holders vote elsewhere)"),
    gettext_noop("Ballots received by the PEC"),
    gettext_noop("Voters who received ballots"),
    gettext_noop("Ballots issued for voting outside the station (mobile box)"),
    gettext_noop("Voters who voted at this station with a de-registration card"),
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

BUILTIN_CHECK_MESSAGES = (
    gettext_noop(
        "L1 (voters on the list) must equal L1a + L1b + L1c - L1d when the split is given"
    ),
    gettext_noop(
        "L12 (ballots in mobile boxes) must not exceed L6 (ballots issued for mobile voting); if it does, the PEC's act invalidates the mobile-box ballots"  # noqa: E501 (a msgid, kept whole)
    ),
    gettext_noop("L5 + L6 (ballots issued) must not exceed L1 (voters on the list)"),
    gettext_noop(
        "L3 (ballots received) must equal L5 + L6 + L8 + L16 (issued, mobile, unused, spoilt)"
    ),
    gettext_noop("L12 + L13 (ballots in boxes) must equal L14 + L15a + L15b (valid + invalid)"),
    gettext_noop("L14 (valid ballots) must equal the sum of the candidates' votes"),
    gettext_noop("L12 + L13 (ballots in boxes) must not exceed L5 + L6 (ballots issued)"),
    gettext_noop(
        "L7 (voted with de-registration cards) should not exceed L2 (cards issued), summed over the unit"  # noqa: E501 (a msgid, kept whole)
    ),
    gettext_noop("L17 (protocol completed) should be after the polls closed"),
    gettext_noop(
        "Sum of L3 (ballots received) should not exceed 1.03 x registered voters (print-run cap)"
    ),
    gettext_noop("R1 must be at least R3 + R4 + R5"),
    gettext_noop("R2 must equal R3 + R4 + R5 + R6 + R12"),
    gettext_noop("R7 + R8 must equal R9 + R10"),
    gettext_noop("R10 must equal the sum of the party lines"),
)
