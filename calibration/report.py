"""Reports people can read: DET curve, score histograms, 1:N plots and a Markdown summary, and the
modality's section written into ``calibration.json``.

Files, in the output folder, per modality (``face-…``, ``fingerprint-…``): ``-det.png`` (1:1 DET
and the 1:N FNIR/FPIR trade-off on normal-deviate axes), ``-scores.png`` (genuine and impostor
histograms with the thresholds), ``-identification.png`` (FPIR and FNIR against the threshold,
and rank-k identification rates), ``-summary.md``. Plots use matplotlib's Agg canvas directly
(no display, no pyplot state).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.stats import norm

from calibration.bootstrap import Interval
from calibration.calibration_file import FILE_NAME, Calibration, update_calibration
from calibration.error_rates import Floats, oriented
from calibration.runs import ModalityRun
from calibration.thresholds import FMR_TARGETS

log = logging.getLogger(__name__)

DET_TICKS = (0.0001, 0.001, 0.01, 0.05, 0.2, 0.5, 0.8)
DET_FLOOR = 1e-5  # rates of 0 are drawn here: the normal deviate of 0 is -infinity


def pct(rate: float | None) -> str:
    """A rate as a percentage with the digits it deserves (no exponents)."""
    if rate is None or np.isnan(rate):
        return "n/a"
    if rate == 0:
        return "0%"
    if rate >= 0.01:
        return f"{rate:.2%}"
    digits = np.format_float_positional(rate * 100, precision=3, fractional=False, trim="-")
    return f"{digits}%"


def with_ci(interval: Interval) -> str:
    return f"{pct(interval.value)} [{pct(interval.low)}, {pct(interval.high)}]"


@dataclass(frozen=True)
class ReportFiles:
    calibration: Path
    summary: Path
    det: Path
    scores: Path
    identification: Path

    def all(self) -> list[Path]:
        return [self.calibration, self.summary, self.det, self.scores, self.identification]


def _deviate(rates: Floats) -> Floats:
    return np.asarray(norm.ppf(np.clip(rates, DET_FLOOR, 1 - DET_FLOOR)), dtype=np.float64)


def _det_axes(ax: Axes, xlabel: str, ylabel: str) -> None:
    ticks = _deviate(np.array(DET_TICKS))
    labels = [pct(t) for t in DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(_deviate(np.array([DET_FLOOR]))[0], _deviate(np.array([0.5]))[0])
    ax.set_ylim(_deviate(np.array([DET_FLOOR]))[0], _deviate(np.array([0.8]))[0])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)


def plot_det(run: ModalityRun, path: Path) -> None:
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.subplots()
    fmr, fnmr = run.scores.curve().det_points()
    v = run.verification
    ax.plot(_deviate(fmr), _deviate(fnmr), label=f"1:1 (EER {pct(v.eer.value)})")
    ax.plot(
        _deviate(np.array([v.fmr.value])),
        _deviate(np.array([v.fnmr.value])),
        "o",
        label=f"1:1 threshold {v.threshold:.4g}",
    )
    identify = run.searches.scores(run.identification.rank).curve()
    fpir, fnir = identify.det_points()
    i = run.identification
    ax.plot(
        _deviate(fpir),
        _deviate(fnir),
        "--",
        label=f"1:N, gallery {run.searches.gallery_size} (FNIR vs FPIR)",
    )
    ax.plot(
        _deviate(np.array([i.fpir.value])),
        _deviate(np.array([i.fnir.value])),
        "s",
        label=f"1:N threshold {i.threshold:.4g} ({i.method})",
    )
    _det_axes(
        ax,
        "false match rate (1:1) / false positive identification rate (1:N)",
        "false non-match rate / FNIR",
    )
    ax.set_title(
        f"{run.modality}: DET (a ROC on normal-deviate axes; rates of 0 drawn at the edge)",
        fontsize="medium",
    )
    ax.legend(loc="upper right", fontsize="small")
    fig.savefig(path, dpi=110)


def plot_scores(run: ModalityRun, path: Path) -> None:
    fig = Figure(figsize=(7.2, 4.8), layout="constrained")
    ax = fig.subplots()
    genuine, impostor = run.scores.genuine, run.scores.impostor
    finite = np.concatenate([genuine[np.isfinite(genuine)], impostor[np.isfinite(impostor)]])
    bins = np.linspace(finite.min(), finite.max(), 80).tolist()
    ax.hist(impostor, bins=bins, density=True, alpha=0.55, label=f"impostor ({impostor.size:,})")
    ax.hist(genuine, bins=bins, density=True, alpha=0.55, label=f"genuine ({genuine.size:,})")
    ax.axvline(
        run.verification.threshold,
        color="k",
        label=f"1:1 threshold {run.verification.threshold:.4g}",
    )
    ax.axvline(
        run.identification.threshold,
        color="k",
        linestyle="--",
        label=f"1:N threshold {run.identification.threshold:.4g}",
    )
    ax.set_yscale("log")
    ax.set_xlabel(
        f"{run.polarity} ({'lower' if run.polarity == 'distance' else 'higher'} = same {'person' if run.modality == 'face' else 'finger'})"
    )
    ax.set_ylabel("density (log scale)")
    ax.set_title(f"{run.modality}: score distributions")
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=110)


def plot_identification(run: ModalityRun, path: Path) -> None:
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    curve = run.searches.scores(run.identification.rank).curve()
    thresholds, fpir, fnir = curve.thresholds, curve.fmr, curve.fnmr
    finite = np.isfinite(thresholds)
    order = np.argsort(oriented(thresholds[finite], run.polarity))
    t = thresholds[finite][order]
    left.plot(t, fpir[finite][order], label="FPIR (non-mated searches)")
    left.plot(
        t, fnir[finite][order], label=f"FNIR (mated searches, rank {run.identification.rank})"
    )
    left.axvline(
        run.identification.threshold,
        color="k",
        linestyle="--",
        label=f"threshold {run.identification.threshold:.4g}",
    )
    left.set_xlabel(f"threshold ({run.polarity})")
    left.set_ylabel("rate")
    left.set_title(f"gallery of {run.searches.gallery_size}")
    left.legend(fontsize="small")
    left.grid(True, alpha=0.3)
    cmc = run.identification.cmc
    ranks = np.arange(1, len(cmc) + 1)
    right.errorbar(
        ranks,
        [c.value for c in cmc],
        yerr=[[c.value - c.low for c in cmc], [c.high - c.value for c in cmc]],
        marker="o",
        capsize=3,
    )
    right.set_xlabel("rank")
    right.set_ylabel("identification rate (no threshold)")
    right.set_title("rank-k identification (CMC)")
    right.grid(True, alpha=0.3)
    fig.suptitle(f"{run.modality}: 1:N identification")
    fig.savefig(path, dpi=110)


def summary_markdown(run: ModalityRun, files: ReportFiles, calibration: Calibration) -> str:
    v, i, d = run.verification, run.identification, run.dataset
    s = run.settings
    noun = "people" if run.modality == "face" else "fingers"
    what = "photos" if run.modality == "face" else "impressions"
    accept = "at or below" if run.polarity == "distance" else "at or above"
    kind = "distances" if run.polarity == "distance" else "similarities"
    lines = [
        f"# {run.modality.capitalize()} calibration",
        "",
        f"Data: {', '.join(d['folders'])}: {d['subjects']:,} {noun}, {d['samples']:,} {what}.",
        f"Written {calibration.created} into `{files.calibration.name}` (format version "
        f"{calibration.version}) in {run.seconds:.0f} s. Scores are {kind}: a comparison "
        f"matches when its score is {accept} the threshold. Intervals: {s.level:.0%}, bootstrap "
        f"over {noun} ({s.replicates} replicates, seed {s.seed}), not over pairs.",
        "",
        "## Thresholds the station loads",
        "",
        "| decision | threshold (interval) | chosen for | measured at the threshold |",
        "|---|---|---|---|",
        f"| 1:1 verify | {v.threshold:.4f} ({v.threshold_ci.low:.4f}-{v.threshold_ci.high:.4f}) | "
        f"FMR <= {pct(v.target_fmr)} | FMR {with_ci(v.fmr)}, FNMR {with_ci(v.fnmr)} |",
        f"| 1:N identify, gallery {i.gallery_size:,} ({i.method}) | {i.threshold:.4f} "
        f"({i.threshold_ci.low:.4f}-{i.threshold_ci.high:.4f}) | FPIR <= {pct(i.target_fpir)} | "
        f"FPIR {with_ci(i.fpir)}, FNIR {with_ci(i.fnir)} |",
        "",
        f"## 1:1 verification ({v.genuine:,} genuine, {v.impostor:,} impostor comparisons)",
        "",
        "| EER | " + " | ".join(f"FNMR at FMR {pct(t)}" for t in FMR_TARGETS) + " | ZeroFMR |",
        "|---" * (len(FMR_TARGETS) + 2) + "|",
        f"| {with_ci(v.eer)} | "
        + " | ".join(with_ci(v.fnmr_at_fmr[t]) for t in FMR_TARGETS)
        + f" | {with_ci(v.zero_fmr)} |",
        "",
        f"EER threshold {v.eer_threshold:.4f}. An FMR below {pct(3 / v.impostor)} (3 / impostor "
        "comparisons) cannot be measured on this data; the FNMR given at smaller FMRs is that of "
        "a threshold past every impostor seen.",
        "",
        f"![DET]({files.det.name})",
        "",
        f"![score distributions]({files.scores.name})",
        "",
        f"## 1:N identification (gallery {run.searches.gallery_size:,}: {i.mated:,} mated, "
        f"{i.nonmated:,} non-mated searches)",
        "",
        "Each enrolled subject's first usable sample is in the gallery; every other sample is "
        "searched as mated, and as non-mated against the gallery without its own subject.",
        "",
        "| rank | " + " | ".join(str(r) for r in range(1, min(5, len(i.cmc)) + 1)) + " |",
        "|---" * (min(5, len(i.cmc)) + 1) + "|",
        "| identification rate | " + " | ".join(with_ci(c) for c in i.cmc[:5]) + " |",
        "",
        *[f"- {note}" for note in i.notes],
        "",
        f"![identification]({files.identification.name})",
        "",
        "## Capture quality",
        "",
    ]
    e = run.enrollment
    if run.quality is not None:
        q = run.quality
        lines += [
            f"Image quality threshold {q.min_quality} (0-100), the strictest with FTE <= "
            f"{pct(q.target_fte)} with {e.attempts} attempts per {noun[:-1]}: FTE {with_ci(e.fte)}, "
            f"FTA {with_ci(e.fta)} ({e.captures:,} captures).",
        ]
        if "genuine_pairs_kept" in run.quality_extra:
            lines.append(
                f"Genuine pairs with both impressions at or above it: "
                f"{run.quality_extra['genuine_pairs_kept']:,}, FNMR at the 1:1 threshold "
                f"{pct(run.quality_extra['fnmr_kept'])} (all pairs: {pct(v.fnmr.value)})."
            )
    else:
        reasons = run.quality_extra.get("reasons", {})
        lines += [
            f"At the station's quality thresholds: FTA {with_ci(e.fta)} of {e.captures:,} photos "
            f"refused, FTE {with_ci(e.fte)} ({noun} with none of their first {e.attempts} photos "
            f"accepted). No face found by the matcher: {pct(run.quality_extra.get('matcher_fta'))}. "
            "Photo collections are not captures at a station: these rates overstate a station's.",
            "",
            "| reason | photos |",
            "|---|---|",
            *[f"| {code} | {count:,} |" for code, count in reasons.items()],
        ]
    warnings = run.warnings()
    if warnings:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in warnings]]
    return "\n".join(lines) + "\n"


def write_report(run: ModalityRun, folder: Path) -> ReportFiles:
    """Write the plots and summary into ``folder`` and the run's section into its
    calibration.json (keeping the other modalities already there)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = run.modality
    files = ReportFiles(
        calibration=folder / FILE_NAME,
        summary=folder / f"{name}-summary.md",
        det=folder / f"{name}-det.png",
        scores=folder / f"{name}-scores.png",
        identification=folder / f"{name}-identification.png",
    )
    calibration = update_calibration(files.calibration, modality=name, section=run.section())
    plot_det(run, files.det)
    plot_scores(run, files.scores)
    plot_identification(run, files.identification)
    files.summary.write_text(summary_markdown(run, files, calibration), encoding="utf-8")
    log.info("%s calibration report written to %s", name, folder)
    return files
