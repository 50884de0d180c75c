"""Scoring the detectors against the answer key: a confusion table per detector and overall.

Per detector D, over every person simulated:
    TP  people of kind D that D flagged          FN  people of kind D that D did not flag
    FP  honest or heavy-productive people D flagged (always wrong)
    also  chasers of another kind D flagged too (a padder's tokens are also volume without value:
          neither right nor wrong for D, so counted apart and left out of precision)
    TN  everyone else
    precision = TP / (TP + FP), recall = TP / (TP + FN).
Overall, per person: TP a chaser flagged by their own kind's detector, FN a chaser who was not, FP an
honest or heavy-productive person flagged by any detector, TN one flagged by none; "also" counts the
chasers who carry a flag of another detector as well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from devtools.simulation.org import HEAVY, HONEST
from governance.detectors import DETECTORS

OVERALL = "overall (per person)"


@dataclass(frozen=True, slots=True)
class Confusion:
    detector: str
    tp: int
    fp: int
    fn: int
    tn: int
    also: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def innocent(kind: str) -> bool:
    """Whether a person of ``kind`` should never be flagged (honest or heavy but productive)."""
    return kind in (HONEST, HEAVY)


def confusion(
    *, kinds: Mapping[str, str], flagged: Iterable[tuple[str, str]], detectors: Sequence[str] = tuple(DETECTORS)
) -> tuple[list[Confusion], Confusion]:
    """(one row per detector, the overall row) for ``flagged`` (person, detector) pairs.

    ``kinds`` maps every simulated person to their kind; flags on people not in it are ignored.
    """
    by_detector: dict[str, set[str]] = {name: set() for name in detectors}
    for person, detector in flagged:
        if person in kinds and detector in by_detector:
            by_detector[detector].add(person)
    everyone = set(kinds)
    innocents = {p for p, kind in kinds.items() if innocent(kind)}
    rows = []
    for name in detectors:
        positives = {p for p, kind in kinds.items() if kind == name}
        hit = by_detector[name]
        rows.append(
            Confusion(
                detector=name,
                tp=len(positives & hit),
                fp=len(innocents & hit),
                fn=len(positives - hit),
                tn=len(everyone - positives - hit),
                also=len(hit - positives - innocents),
            )
        )
    flagged_by: dict[str, set[str]] = {p: set() for p in everyone}
    for name, people in by_detector.items():
        for person in people:
            flagged_by[person].add(name)
    chasers = everyone - innocents
    caught = {p for p in chasers if kinds[p] in flagged_by[p]}
    overall = Confusion(
        detector=OVERALL,
        tp=len(caught),
        fp=sum(1 for p in innocents if flagged_by[p]),
        fn=len(chasers - caught),
        tn=sum(1 for p in innocents if not flagged_by[p]),
        also=sum(1 for p in chasers if flagged_by[p] - {kinds[p]}),
    )
    return rows, overall


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def confusion_table(rows: Sequence[Confusion], overall: Confusion) -> str:
    """The rows as a fixed-width text table (Markdown-compatible), overall last."""
    width = max(len(r.detector) for r in [*rows, overall])
    header = f"| {'detector':<{width}} |  TP |  FP |  FN |  TN | also | precision | recall |"
    rule = f"|{'-' * (width + 2)}|----:|----:|----:|----:|-----:|----------:|-------:|"
    lines = [header, rule]
    for row in [*rows, overall]:
        lines.append(
            f"| {row.detector:<{width}} | {row.tp:>3} | {row.fp:>3} | {row.fn:>3} | {row.tn:>3} | {row.also:>4} "
            f"| {_ratio(row.precision):>9} | {_ratio(row.recall):>6} |"
        )
    return "\n".join(lines)
