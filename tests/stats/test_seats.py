"""Seat allocation against allocations computed by hand (secki.stats.seats)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from secki.stats.seats import DHONDT, HARE, SAINTE_LAGUE, Party, allocate, qualifies


def lists(*votes: int) -> list[Party[str]]:
    return [Party("ABCDEFGH"[i], v, i + 1) for i, v in enumerate(votes)]


# The textbook example (A 100,000, B 80,000, C 30,000, D 20,000; 8 seats).
# D'Hondt quotients by hand:
#   A 100000 50000 33333 25000 20000   B 80000 40000 26667 20000   C 30000 15000   D 20000
#   the 8 highest: 100000 80000 50000 40000 33333 30000 26667 25000 → A 4, B 3, C 1, D 0.
# Sainte-Laguë (divisors 1, 3, 5, 7):
#   A 100000 33333 20000 14286   B 80000 26667 16000   C 30000 10000   D 20000 6667
#   the 8 highest: 100000 80000 33333 30000 26667 20000(A) 20000(D) 16000 → A 3, B 3, C 1,
#   D 1 (A's third quotient and D's first are both 20000: both get a seat, no tie at the cut).
# Hare: quota 230000 / 8 = 28750; A 3.478 B 2.783 C 1.043 D 0.696 → 3 + 2 + 1 + 0 = 6,
#   2 seats left to the largest remainders: B 0.783, D 0.696 → A 3, B 3, C 1, D 1.
TEXTBOOK = (100_000, 80_000, 30_000, 20_000)


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (DHONDT, {"A": 4, "B": 3, "C": 1, "D": 0}),
        (SAINTE_LAGUE, {"A": 3, "B": 3, "C": 1, "D": 1}),
        (HARE, {"A": 3, "B": 3, "C": 1, "D": 1}),
    ],
)
def test_textbook_example(method: str, expected: dict[str, int]) -> None:
    result = allocate(lists(*TEXTBOOK), 8, method)
    assert result.seats == expected
    assert sum(result.seats.values()) == 8
    assert result.ties == []


def test_methods_differ_on_small_lists() -> None:
    # 7 seats; A 340, B 280, C 160, D 60, E 15 (total 855).
    # D'Hondt: A 340 170 113.3 85; B 280 140 93.3; C 160 80; D 60; E 15
    #   the 7 highest: 340 280 170 160 140 113.3 93.3 → A 3, B 3, C 1.
    # Sainte-Laguë: A 340 113.3 68 48.6; B 280 93.3 56; C 160 53.3; D 60; E 15
    #   the 7 highest: 340 280 160 113.3 93.3 68 60 → A 3, B 2, C 1, D 1.
    # Hare: quota 855/7 = 122.14; A 2.784 B 2.292 C 1.310 D 0.491 E 0.123 → 2 2 1 0 0 = 5;
    #   two left to the largest remainders A .784, D .491 → A 3, B 2, C 1, D 1.
    votes = lists(340, 280, 160, 60, 15)
    assert allocate(votes, 7, DHONDT).seats == {"A": 3, "B": 3, "C": 1, "D": 0, "E": 0}
    assert allocate(votes, 7, SAINTE_LAGUE).seats == {"A": 3, "B": 2, "C": 1, "D": 1, "E": 0}
    assert allocate(votes, 7, HARE).seats == {"A": 3, "B": 2, "C": 1, "D": 1, "E": 0}


def test_threshold_excludes_small_lists_from_quota_and_quotients() -> None:
    # 20 seats, 1,000 valid votes (21 of them for lists not shown); A 480, B 300, C 150, D 49.
    # No threshold (quota over the lists' 979 votes = 48.95): A 9.806 B 6.129 C 3.064
    #   D 1.001 → 9 6 3 1 = 19; one left: A (.806) → A 10, B 6, C 3, D 1.
    # 5 % threshold = 50 of 1,000 votes: D (4.9 %) is out; quota over 930 = 46.5:
    #   A 10.323 B 6.452 C 3.226 → 10 6 3 = 19; one left: B (.452) → A 10, B 7, C 3, D 0.
    votes = lists(480, 300, 150, 49)
    assert allocate(votes, 20, HARE, valid=1000).seats == {"A": 10, "B": 6, "C": 3, "D": 1}
    result = allocate(votes, 20, HARE, threshold=Fraction(5, 100), valid=1000)
    assert result.qualified == ["A", "B", "C"]
    assert result.seats == {"A": 10, "B": 7, "C": 3, "D": 0}
    # 4.9 % is under 5 %; exactly 5 % qualifies (50 of 1,000)
    assert not qualifies(49, 1000, Fraction(1, 20))
    assert qualifies(50, 1000, Fraction(1, 20))
    # D'Hondt, 4 seats: A 480 240 160, B 300 150, C 150 → 480 300 240 160 → A 3, B 1
    assert allocate(votes, 4, DHONDT, threshold=Fraction(1, 20), valid=1000).seats == {
        "A": 3,
        "B": 1,
        "C": 0,
        "D": 0,
    }


def test_threshold_changes_the_outcome() -> None:
    # 5 seats, Sainte-Laguë. A 400, B 300, C 200, D 100 (total 1,000).
    # No threshold: A 400 133 80; B 300 100 60; C 200 66.7; D 100 33
    #   5 highest: 400 300 200 133 100(B) 100(D) → tie at the 5th seat between B/3 and D/1,
    #   both 100: the tie rule gives it to B (more votes) → A 2, B 2, C 1, D 0; one tie.
    # Threshold 15 %: D (10 %) out: same quotients without D → A 2 B 2 C 1, no tie.
    votes = lists(400, 300, 200, 100)
    open_result = allocate(votes, 5, SAINTE_LAGUE)
    assert open_result.seats == {"A": 2, "B": 2, "C": 1, "D": 0}
    assert open_result.ties == [(5, ["B", "D"], "B")]
    closed = allocate(votes, 5, SAINTE_LAGUE, threshold=Fraction(15, 100))
    assert closed.seats == {"A": 2, "B": 2, "C": 1, "D": 0}
    assert closed.qualified == ["A", "B", "C"]
    assert closed.ties == []
    # 6 seats: without threshold D gets the 6th (100 vs A/5 = 80); with 15 % it goes to A
    assert allocate(votes, 6, SAINTE_LAGUE).seats == {"A": 2, "B": 2, "C": 1, "D": 1}
    assert allocate(votes, 6, SAINTE_LAGUE, threshold=Fraction(15, 100)).seats == {
        "A": 3,
        "B": 2,
        "C": 1,
        "D": 0,
    }


def test_equal_votes_tie_goes_to_the_earlier_ballot_number() -> None:
    # 3 seats, A 100, B 100, C 100 at ballot numbers 7, 3, 41: one seat each, no tie.
    # 2 seats: all three quotients 100 → the lower ballot numbers win: B (3), A (7).
    parties = [Party("A", 100, 7), Party("B", 100, 3), Party("C", 100, 41)]
    two = allocate(parties, 2, DHONDT)
    assert two.seats == {"A": 1, "B": 1, "C": 0}
    assert two.ties == [(1, ["A", "B", "C"], "B"), (2, ["A", "C"], "A")]
    three = allocate(parties, 3, DHONDT)
    assert three.seats == {"A": 1, "B": 1, "C": 1}
    # Hare: quota 100 for 3 seats → exact, no remainder
    assert allocate(parties, 3, HARE).seats == {"A": 1, "B": 1, "C": 1}
    # Hare, 2 seats: quota 150, every list 0 whole seats, remainders all 200 (×S) → equal:
    # B (3) and A (7) win
    hare = allocate(parties, 2, HARE)
    assert hare.seats == {"A": 1, "B": 1, "C": 0}
    assert hare.ties == [(1, ["B", "A", "C"], "B"), (2, ["B", "A", "C"], "A")]


def test_hare_remainder_tie_goes_to_more_votes() -> None:
    # 4 seats, A 50, B 30, C 20 (total 100, quota 25): A 2 rem 0, B 1 rem 5, C 0 rem 20
    #   → 3 whole seats, one left: C (20 > 5) → A 2, B 1, C 1.
    assert allocate(lists(50, 30, 20), 4, HARE).seats == {"A": 2, "B": 1, "C": 1}
    # 3 seats, A 50, B 25, C 25, D 0 … quota 100/3: A 1.5, B .75, C .75 → A 1, 2 left:
    #   remainders (×3): A 150-100=50, B 75, C 75 → B and C → A 1, B 1, C 1.
    assert allocate(lists(50, 25, 25), 3, HARE).seats == {"A": 1, "B": 1, "C": 1}
    # 2 seats, A 45, B 30, C 25 (quota 50): 0 whole; remainders ×2: 90, 60, 50 → A, B.
    assert allocate(lists(45, 30, 25), 2, HARE).seats == {"A": 1, "B": 1, "C": 0}


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="method"):
        allocate(lists(1, 2), 1, "imperiali")
    with pytest.raises(ValueError, match="seats"):
        allocate(lists(1, 2), -1, DHONDT)
    with pytest.raises(ValueError, match="threshold"):
        allocate(lists(1, 2), 1, DHONDT, threshold=1)
    with pytest.raises(ValueError, match="valid"):
        allocate(lists(10, 20), 1, DHONDT, valid=5)
    with pytest.raises(ValueError, match="key"):
        allocate([Party("A", 1, 1), Party("A", 2, 2)], 1, DHONDT)


def test_nobody_qualifies_no_seats() -> None:
    result = allocate(lists(10, 10), 5, DHONDT, threshold=Fraction(1, 2), valid=100)
    assert result.seats == {"A": 0, "B": 0}
    assert result.qualified == []
