"""What ``bench.processor_http`` concludes from its rows: tender's ratios to the baseline
measured in the same run (and their medians over rounds), and its p99 against the goals."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.checkout_http import WrkResult

REDEEM_CENTS = 500
BALANCE = "POST /balance"
REDEEM = f"POST /redeem, {REDEEM_CENTS / 100:.2f} EUR"


@dataclass
class Comparison:
    """tender and the baseline on one call, measured in the same run."""

    label: str
    workers: int
    connections: int
    tender: WrkResult
    baseline: WrkResult
    round: int | None = None
    """Its round, when there are several."""

    def text(self) -> str:
        rps = self.tender.rps / self.baseline.rps
        p99 = self.tender.p99 / self.baseline.p99
        line = (
            f"{self.label}, {self.workers} worker(s), {self.connections} connections"
            f"{f' (round {self.round})' if self.round else ''}: "
            f"req/s {self.tender.rps:,.0f} / {self.baseline.rps:,.0f} = {rps:.2f}"
        )
        if self.label == REDEEM:
            line += f" (goal >= 1.0: {'met' if rps >= 1.0 else 'not met'})"
        line += f"; p99 {self.tender.p99:.1f} / {self.baseline.p99:.1f} ms = {p99:.2f}"
        return line


def latency_goals(rows: list[list[str]]) -> list[str]:
    """tender's p99 at 8 connections on PostgreSQL against the issue's goals."""
    goals = {BALANCE: 10.0, REDEEM: 25.0}
    found = []
    for r in rows:
        call = r[0].split(" (round ")[0]
        if call in goals and r[1] == "postgresql" and r[3] == "8":
            goal, p99 = goals[call], float(r[6])
            verdict = "met" if p99 <= goal else "not met"
            found.append(
                f"{r[0]}, {r[2]} worker(s): p99 {p99:.1f} ms (goal <= {goal:.0f} ms: {verdict})"
            )
    return found


def medians(comparisons: list[Comparison]) -> list[str]:
    """Per call, workers and connections measured in several rounds: the median ratios."""
    grouped: dict[tuple[str, int, int], list[Comparison]] = {}
    for c in comparisons:
        grouped.setdefault((c.label, c.workers, c.connections), []).append(c)
    lines = []
    for (label, workers, connections), found in grouped.items():
        if len(found) < 2:
            continue
        rps = statistics.median(c.tender.rps / c.baseline.rps for c in found)
        p99 = statistics.median(c.tender.p99 / c.baseline.p99 for c in found)
        line = (
            f"{label}, {workers} worker(s), {connections} connections, median of "
            f"{len(found)}: req/s {rps:.2f}"
        )
        if label == REDEEM:
            line += f" (goal >= 1.0: {'met' if rps >= 1.0 else 'not met'})"
        lines.append(f"{line}; p99 {p99:.2f}")
    return lines
