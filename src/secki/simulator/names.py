"""The simulated election's names in English, Azerbaijani (Latin script) and Russian
(Cyrillic): the territory, the stations, the candidates and their parties, and the default
election name. Every name follows from the unit's, station's or candidate's number, so the
same seed (and settings) gives the same names, byte for byte."""

from __future__ import annotations

#: English, Azerbaijani, Russian
Names = tuple[str, str, str]

ELECTION: Names = (
    "Presidential election 2024 (simulated)",
    "Prezident seçkisi 2024 (simulyasiya)",
    "Выборы президента 2024 (симуляция)",
)
COUNTRY: Names = ("Republic of Azerbaijan", "Azərbaycan Respublikası", "Азербайджанская Республика")
NAX: Names = (
    "Nakhchivan Autonomous Republic",
    "Naxçıvan Muxtar Respublikası",
    "Нахичеванская Автономная Республика",
)
PARTIES: tuple[Names, ...] = (
    ("Party of National Unity", "Milli Birlik Partiyası", "Партия национального единства"),
    ("Civic Forum", "Vətəndaş Forumu", "Гражданский форум"),
    ("Democratic Alliance", "Demokratik Alyans", "Демократический альянс"),
    ("Renewal Movement", "Yeniləşmə Hərəkatı", "Движение обновления"),
    ("Green Union", "Yaşıllar İttifaqı", "Союз зелёных"),
    ("Labour and Justice Party", "Əmək və Ədalət Partiyası", "Партия труда и справедливости"),
    ("Independent", "Bitərəf", "Независимый"),
)


def constituency(number: int) -> Names:
    return (
        f"Constituency No. {number}",
        f"{number} saylı seçki dairəsi",
        f"Избирательный округ № {number}",
    )


def station(number: int, abroad: bool) -> Names:
    if abroad:
        return (
            f"Polling station No. {number} (abroad)",
            f"{number} saylı seçki məntəqəsi (xaricdə)",
            f"Избирательный участок № {number} (за рубежом)",
        )
    return (
        f"Polling station No. {number}",
        f"{number} saylı seçki məntəqəsi",
        f"Избирательный участок № {number}",
    )


def letters(number: int) -> str:
    """A, B, …, Z, AA, AB, … (spreadsheet-style letters)."""
    text = ""
    k = number
    while k > 0:
        k, r = divmod(k - 1, 26)
        text = chr(ord("A") + r) + text
    return text


def candidate(number: int) -> Names:
    mark = letters(number)
    return (f"Candidate {mark}", f"Namizəd {mark}", f"Кандидат {mark}")


def party(number: int) -> Names:
    """The party of the candidate with this ballot number."""
    if number <= len(PARTIES):
        return PARTIES[number - 1]
    return (f"Party {number}", f"{number} saylı partiya", f"Партия № {number}")
