"""How long an operator spends per citizen at the console: a complete enrollment (consent, ID
card, live face, two fingers, save) and an intake verification (card, face, a finger, decision),
driven in Chromium against `station serve --sim` whose devices run at their real speed (the
scanner's serial line at its baud rate, the card's chip read through the real protocol).

The operator's own time (reading the notice, placing the finger) is not in it: the figures are
what the station makes people wait, step by step.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import click

OPERATOR_PASSWORD = "Bench-desk-42!x"
ADMIN_PASSWORD = "Bench-chief-42!"


def _call(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read() or b"{}"))


def open_accounts(base: str, one_time: str) -> None:
    """The admin's first sign-in and an operator account, through the API."""
    api = f"{base}/api/v1"
    token = _call(f"{api}/auth/login", {"login": "admin", "password": one_time})["token"]
    _call(
        f"{api}/auth/password",
        {"current_password": one_time, "new_password": ADMIN_PASSWORD},
        token,
    )
    token = _call(f"{api}/auth/login", {"login": "admin", "password": ADMIN_PASSWORD})["token"]
    created = _call(f"{api}/operators", {"login": "clerk", "role": "operator"}, token)
    first = created["one_time_password"]
    clerk = _call(f"{api}/auth/login", {"login": "clerk", "password": first})["token"]
    _call(
        f"{api}/auth/password",
        {"current_password": first, "new_password": OPERATOR_PASSWORD},
        clerk,
    )


class Laps:
    """Seconds between the steps a journey reports."""

    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        if step != "start":
            self.steps[step] = now - self._last
        self._last = now

    @property
    def total(self) -> float:
        return sum(self.steps.values())


LINES = {
    "factory": "baudrate=57600&packet_size=128",  # as a module leaves the factory
    "fastest": "baudrate=115200&packet_size=256",  # after `station scanner speed`
}


@click.command()
@click.option("--people", type=int, default=3, show_default=True, help="Citizens per line.")
@click.option(
    "--lines",
    default="factory,fastest",
    show_default=True,
    help="Scanner line settings to run side by side: factory (57600 baud, 128-byte packets), "
    "fastest (115200, 256).",
)
@click.option("--datasets", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def console(people: int, lines: str, datasets: Path | None, as_json: bool) -> None:
    """Time a complete enrollment and an intake through the console at real device speed."""
    from benchmarks.common import datasets_dir

    chosen = [line.strip() for line in lines.split(",") if line.strip()]
    unknown = [line for line in chosen if line not in LINES]
    if unknown or not chosen:
        raise click.BadParameter(f"choose from {', '.join(LINES)}", param_hint="--lines")
    if not 1 <= people <= 20:
        raise click.BadParameter("between 1 and 20", param_hint="--people")
    prints = datasets_dir(datasets) / "fingerprints"
    report = {
        line: run_line(f"sim://?dir={prints}&model=r307&{LINES[line]}", people) for line in chosen
    }
    if len(chosen) == 2:
        first, second = (report[line] for line in chosen)
        report["ratios"] = {
            f"{job} {chosen[0]}/{chosen[1]}": first[job]["total_median"]
            / second[job]["total_median"]
            for job in ("enrollment", "intake")
        }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for line in chosen:
        click.echo(f"== scanner line {line}: {LINES[line]}")
        for job in ("enrollment", "intake"):
            summary = report[line][job]
            click.echo(
                f"{job}: median {summary['total_median']:.1f} s over {summary['runs']} citizens "
                f"(min {summary['total_min']:.1f}, max {summary['total_max']:.1f})"
            )
            for step, seconds in summary["steps_median"].items():
                click.echo(f"  {step:<10} {seconds:6.2f} s")
        click.echo(f"intake decisions: {', '.join(report[line]['intake_decisions'])}")
    for name, ratio in report.get("ratios", {}).items():
        click.echo(f"{name}: {ratio:.2f}x")


def run_line(scanner_url: str, people: int) -> dict[str, Any]:
    """A fresh simulated station with this scanner: ``people`` enrollments, then their
    intakes."""
    from tests.browser import Page, chromium, enroll, start_server, verify_at_intake

    with tempfile.TemporaryDirectory(prefix="console-bench-") as folder:
        server = start_server(Path(folder), "--scanner", scanner_url)
        driver = chromium()
        try:
            open_accounts(server.url, server.one_time_password)
            page = Page(driver, server.url)
            page.sign_in("clerk", OPERATOR_PASSWORD)
            citizens = [f"C{n + 2:02d}" for n in range(1, people + 1)]
            enrollments = []
            for citizen in citizens:
                laps = Laps()
                outcome = enroll(page, citizen, lap=laps)
                if outcome != "Enrolled":
                    raise click.ClickException(f"{citizen}: {outcome}: {page.text[:300]}")
                enrollments.append(laps)
            intakes = []
            for citizen in citizens:
                laps = Laps()
                intakes.append((laps, verify_at_intake(page, citizen, lap=laps)))
        finally:
            driver.quit()
            server.stop()
    return {
        "enrollment": _summary(enrollments),
        "intake": _summary([laps for laps, _ in intakes]),
        "intake_decisions": [outcome for _, outcome in intakes],
    }


def _summary(runs: list[Laps]) -> dict[str, Any]:
    totals = [laps.total for laps in runs]
    steps = list(runs[0].steps)
    return {
        "runs": len(runs),
        "total_median": statistics.median(totals),
        "total_min": min(totals),
        "total_max": max(totals),
        "steps_median": {step: statistics.median(r.steps[step] for r in runs) for step in steps},
    }
