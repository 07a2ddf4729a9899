"""The human-readable forensics report."""

from __future__ import annotations

from secki.forensics.suite import SuiteResult, describe_stat

CAVEAT = (
    "These are statistical signals, not verdicts: honest stations also hit round percentages,\n"
    "high turnouts happen, and digit tests in particular are weak evidence on their own."
)


def render(res: SuiteResult, *, source: str, top: int = 10) -> str:
    t = res.table
    ip = res.integer
    lines = [f"Election forensics: {source}"]
    if t.mapping.description:
        lines.append(f"  {t.mapping.description}")
    for note in t.notes:
        lines.append(f"  read: {note}")
    for field_name in ("registered", "given", "received", "leader", "candidates"):
        cols = t.mapping.columns.get(field_name, [])
        if cols:
            shown = ", ".join(repr(c) for c in cols[:8]) + (" …" if len(cols) > 8 else "")
            lines.append(f"  {field_name}: {len(cols)} column(s): {shown}")
    warnings = res.warnings()
    if warnings:
        lines += ["", "WARNINGS"]
        lines += [f"  ! {w}" for w in warnings]
    lines += [
        "",
        f"Rows: {t.total_rows:,} in the file, {t.rows.size:,} used, "
        f"{t.invalid_rows:,} unusable (invalid values)",
    ]
    for p in t.invalid[:5]:
        lines.append(f"  - {p}")
    if t.zero_registered:
        rows = ", ".join(str(r) for r in t.zero_registered[:10])
        more = " …" if len(t.zero_registered) > 10 else ""
        col = ", ".join(t.mapping.columns["registered"])
        lines.append(
            f"  {len(t.zero_registered)} row(s) with zero registered voters ({col!r}): "
            f"rows {rows}{more} — left out of turnout-based tests"
        )
    lines += [
        "",
        "Integer percentages (Kobak, Shpilkin & Pshenichnikov 2016)",
        f"  stations included: {ip.included:,} of {ip.stations:,}",
    ]
    for reason, n in ip.excluded.items():
        if n:
            lines.append(f"    excluded, {reason}: {n:,}")
    lines += [
        f"  {ip.replicates:,} binomial bootstrap replicates, seed {res.seed}, "
        f"{res.integer_convention} integer convention",
        f"  either   {describe_stat(ip.either)}",
        f"  leader   {describe_stat(ip.leader)}",
        f"  turnout  {describe_stat(ip.turnout)}",
    ]
    flagged = sorted(
        (g for g in ip.groups if g.either.pvalue <= 0.01), key=lambda g: -g.either.anomaly
    )
    if len(ip.groups) > 1:
        lines.append(f"  groups with p <= 0.01: {len(flagged)} of {len(ip.groups)}")
        for g in flagged[:10]:
            lines.append(f"    {g.group}: {describe_stat(g.either)}")
    for name, (total, _groups) in res.digits.items():
        ci = total.second_digit_mean_ci
        lines += [
            "",
            f"Digit tests on {name!r} (Mebane; Beber & Scacco 2012)",
            f"  2BL mean {total.second_digit_mean:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] "
            f"(expected {total.expected_second_digit_mean:.3f}), χ² {total.second_digit_chi2:.1f}"
            f" p = {total.second_digit_pvalue:.3g}, n = {total.second_digit_n:,}",
            f"  last digit mean {total.last_digit_mean:.3f} (4.5), χ² {total.last_digit_chi2:.1f}"
            f" p = {total.last_digit_pvalue:.3g}; last two equal {total.last_two_equal:.3f} "
            f"(0.1), adjacent {total.last_two_adjacent:.3f} (0.2)",
            f"  C05s {total.c05s:.3f} (0.2), P05s "
            + (f"{total.p05s:.3f}" if total.p05s is not None else "n/a")
            + " (0.2), skew "
            + (f"{total.skew:.3f}" if total.skew is not None else "n/a")
            + ", kurtosis "
            + (f"{total.kurtosis:.3f}" if total.kurtosis is not None else "n/a"),
        ]
    fp = res.fingerprint
    lines += [
        "",
        "Fingerprint (Klimek, Yegorov, Hanel & Thurner 2012)",
        f"  turnout {100 * fp.turnout:.2f} %, leader share {100 * fp.leader_share:.2f} % "
        f"(of ballots in boxes), {fp.stations:,} of {t.rows.size:,} stations "
        "(the others have no voters, ballots or ballots in boxes)",
        f"  turnout >= 95 % and leader share >= 95 %: {fp.high_high:,} stations "
        f"({100 * fp.high_high_share:.2f} %)",
    ]
    if res.fit is not None:
        f = res.fit
        grid = f.theta_grid or (f.theta,)
        lines += [
            f"  Klimek model fit (α = {f.alpha}): f_i = {f.f_i:.3f} "
            f"[{f.f_i_interval[0]:.3f}, {f.f_i_interval[1]:.3f}], f_e = {f.f_e:.4f} "
            f"[{f.f_e_interval[0]:.4f}, {f.f_e_interval[1]:.4f}] "
            f"({100 * f.confidence:.0f} % bootstrap, {f.bootstrap} replicates); "
            f"θ = {f.theta:.3f} (grid {min(grid)}…{max(grid)})",
            f"  clean part: turnout mode {f.turnout_mean:.3f} (sd {f.turnout_sd:.3f}), "
            f"leader-share mode {f.share_mean:.3f} (sd {f.share_sd:.3f})",
            *[f"  ! {w}" for w in f.warnings],
            f"  fitted on the {f.stations:,} stations with >= 100 registered voters; "
            "a model fit is an estimate with wide uncertainty, not a fact",
        ]
    else:
        lines.append(f"  Klimek model fit not possible: {res.fit_error}")
    lines += ["", "Stations to look at first (risk score, reasons)"]
    for i in res.risk.top(top):
        lines.append(
            f"  row {t.rows[i]:>6}  {t.ids[i]}  score {res.risk.scores[i]:.1f}: "
            + "; ".join(res.risk.explanations[i])
        )
    sig = ", ".join(f"{k} {int(v.sum()):,}" for k, v in res.risk.signals.items())
    lines += [f"  signals: {sig}", "", CAVEAT]
    return "\n".join(lines)
