"""PNG plots of the forensics results (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from secki.forensics.suite import SuiteResult
from secki.stats.digits import second_digit_benford


def fingerprint_plot(res: SuiteResult, path: Path) -> Path:
    fp = res.fingerprint
    fig, ax = plt.subplots(figsize=(6, 5.5))
    img = ax.imshow(
        np.log1p(fp.counts.T),
        origin="lower",
        extent=(0, 100, 0, 100),
        cmap="viridis",
        aspect="equal",
        interpolation="nearest",
    )
    ax.set_xlabel("turnout, %")
    ax.set_ylabel("leader share, %")
    ax.set_title(f"Election fingerprint ({fp.stations:,} stations)")
    fig.colorbar(img, ax=ax, label="log(1 + stations)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def integer_plot(res: SuiteResult, path: Path) -> Path:
    t = res.table
    ip = res.integer
    m = ip.included_mask
    share = 100 * t.leader[m] / t.received[m]
    turnout = 100 * t.given[m] / t.registered[m]
    fig, axes = plt.subplots(3, 1, figsize=(9, 9))
    edges = np.arange(0, 100.05, 0.1)
    for ax, values, label in ((axes[0], share, "leader share"), (axes[1], turnout, "turnout")):
        ax.hist(values, bins=edges, color="tab:blue", linewidth=0)
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"{label}, % (0.1 % bins; spikes at whole numbers are the signal)")
        ax.set_ylabel("stations")
    null = ip.null_either
    axes[2].hist(null, bins=40, color="tab:gray", label="bootstrap null")
    axes[2].axvline(ip.either.observed, color="tab:red", label="observed")
    axes[2].set_xlabel("stations with an integer leader share or turnout")
    axes[2].legend()
    fig.suptitle(f"Integer percentages: p = {ip.either.pvalue:.4f}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def digits_plot(res: SuiteResult, name: str, path: Path) -> Path:
    total, _ = res.digits[name]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    d = np.arange(10)
    n2 = max(total.second_digit_n, 1)
    axes[0].bar(d, np.array(total.second_digit_counts) / n2, color="tab:blue", label="observed")
    axes[0].plot(d, second_digit_benford(), "o-", color="tab:red", label="Benford (2BL)")
    axes[0].set_title(f"second digit of {name!r} (mean {total.second_digit_mean:.3f})")
    axes[0].legend()
    nl = max(total.last_digit_n, 1)
    axes[1].bar(d, np.array(total.last_digit_counts) / nl, color="tab:blue", label="observed")
    axes[1].axhline(0.1, color="tab:red", label="uniform")
    axes[1].set_title(f"last digit of {name!r} (mean {total.last_digit_mean:.2f})")
    axes[1].legend()
    for ax in axes:
        ax.set_xticks(d)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(res: SuiteResult, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [
        fingerprint_plot(res, out / "fingerprint.png"),
        integer_plot(res, out / "integer_percentages.png"),
    ]
    for name in res.digits:
        safe = "".join(ch if ch.isalnum() else "_" for ch in name)[:40]
        paths.append(digits_plot(res, name, out / f"digits_{safe}.png"))
    return paths
