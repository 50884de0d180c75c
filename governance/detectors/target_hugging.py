"""Target hugging: usage that settles just above a target or the peer average, or jumps on cue.

Daily tokens are summed per UTC day; only active days (with a call) count. Two signals:

Settling - a day is "in band" when its tokens lie in [ref, ref x (1 + ``hug_band``)], against
  (a) the usage target in force that day (the latest ``usage_target`` with ``tokens_per_day``
      announced for the person's team or the whole organisation by the end of that day), over the
      days a target is in force, and
  (b) the peer average day (peer median of people's average tokens per active day), over all days.
  Settled when, over at least ``hug_min_days`` days, the in-band share >= ``hug_share``.
Jumping - for each target or review announced in the window for the person's team or organisation,
  tokens per day over the ``jump_days`` after it (clipped to the window) / tokens per day over all of
  the window before it - a long baseline, so one quiet week is not mistaken for the norm - counting
  only the days the person was around before it (``_present_days``: from their first call, less runs
  of ``AWAY_DAYS`` days without a call), so days on leave or before joining do not lower it. Each side needs
  ``MIN_ACTIVE_DAYS_AROUND`` active days. Jumped when the largest ratio >= ``jump_ratio``, the level
  after it reaches at least ``JUMP_FLOOR`` x the peer average day (a light user's bump is noise), and the value did not
  rise with it (``value.value_followed``: value a day after / before, shrunk by the peers' median
  value, under (tokens a day after / before) ** ``value_follows_ratio``; a new joiner ramping up ships
  more as they use more).

Flag when (at least ``min_events`` calls) settled or jumped, unless the person's value is well above
their peers' (``value``). Score: the larger of how far past each threshold. A person whose use merely
varies day to day around a target is not in band often enough.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from governance.detectors.base import Finding, Target, Thresholds, ValueSignals, Window
from governance.detectors.evidence import count, decimal, make_finding, peer_clause, percent
from governance.detectors.grouping import DAY_SECONDS, Grouped, Person, as_detector, time_buckets
from governance.detectors.stats import over, peer_medians
from governance.detectors.value import outcome_value_between, value_followed, value_sides

NAME = "target_hugging"
MIN_ACTIVE_DAYS_AROUND = 3
JUMP_FLOOR = 1.0


def find(grouped: Grouped, signals: ValueSignals, thresholds: Thresholds) -> list[Finding]:
    """Findings for people whose usage tracks a target instead of their work (see the module docstring)."""
    daily = {key: p.daily_tokens() for key, p in grouped.people.items()}
    average_day = {key: sum(days.values()) / len(days) for key, days in daily.items()}
    peer_days = peer_medians(grouped, average_day)
    window = grouped.window
    announced = sorted(
        (t for t in signals.targets if window.start < t.announced_at < window.end), key=lambda t: t.announced_at
    )
    jumps = {key: _largest_jump(p, announced, window, thresholds) for key, p in grouped.people.items()}
    peer_jumps = peer_medians(grouped, {key: jump[0] for key, jump in jumps.items() if jump})
    in_force: dict[int, list[tuple[float, float]]] = {}
    sides = value_sides(grouped, signals)
    findings = []
    for person in grouped.judged(thresholds):
        key = person.key
        if sides[key].well_above(thresholds):
            continue
        scores: list[float] = []
        sentences: list[str] = []
        numbers: dict[str, object] = {}
        if person.team_id not in in_force:
            in_force[person.team_id] = _targets_in_force(signals.targets, person.team_id)
        settled = _settling(daily[key], in_force[person.team_id], peer_days.get(key), thresholds)
        if settled is not None and settled[2] >= thresholds.hug_share:
            label, reference, in_band_share, in_band, considered = settled
            scores.append(over(in_band_share, thresholds.hug_share))
            sentences.append(
                f"on {in_band} of {considered} active days ({percent(in_band_share)}) daily usage sat within "
                f"{percent(thresholds.hug_band)} above the {label} of {count(reference)} tokens"
            )
            numbers.update(
                settled_against=label,
                reference_tokens_per_day=reference,
                days_in_band=in_band,
                days_considered=considered,
                in_band_share=in_band_share,
            )
        jump = jumps[key]
        # A jump only counts when it lifts usage to at least the peers' typical day: a light user
        # going from 700 to 2,600 tokens a day is noise, not a chase.
        floor = JUMP_FLOOR * (peer_days.get(key) or 0.0)
        if (
            jump is not None
            and jump[0] >= thresholds.jump_ratio
            and jump[2] >= floor
            and not _value_followed(grouped, signals, person, jump, thresholds, sides[key].peer_value or 0.0)
        ):
            ratio, before, after, target = jump[:4]
            peer = peer_jumps.get(key)
            scores.append(over(ratio, thresholds.jump_ratio))
            sentences.append(
                f"tokens a day rose {decimal(ratio)} times (from {count(before)} to {count(after)}) in "
                f"the {thresholds.jump_days} days after a {target.kind.replace('_', ' ')} was announced on "
                f"{target.announced_at.date().isoformat()}"
                + peer_clause(grouped, person, peer, lambda r: decimal(r) + " times", brackets=True)
                + ", with no matching rise in value"
            )
            numbers.update(
                jump_ratio=ratio,
                tokens_per_day_before=before,
                tokens_per_day_after=after,
                announced_at=target.announced_at.isoformat(),
                announcement_kind=target.kind,
                peer_median_jump_ratio=peer,
            )
        if not scores:
            continue
        summary = " and ".join(sentences)
        findings.append(
            make_finding(
                grouped=grouped,
                person=person,
                detector=NAME,
                score=max(scores),
                summary=summary[0].upper() + summary[1:] + ".",
                value_side=sides[key],
                examples=(e.request_id for e in reversed(person.events)),
                active_days=len(daily[key]),
                **numbers,
            )
        )
    return findings


detect = as_detector(find)


def _value_followed(
    grouped: Grouped, signals: ValueSignals, person: Person, jump: Jump, thresholds: Thresholds, prior: float
) -> bool:
    """Whether the person's outcome value rose with their tokens across the announcement (see module doc)."""
    _, _, _, _, lo, moment, hi, token_share = jump
    before = outcome_value_between(grouped, signals, person, lo, moment)
    after = outcome_value_between(grouped, signals, person, moment, hi)
    return value_followed(
        value_in=after,
        value_all=before + after,
        expected_share=(hi - moment) / (hi - lo),
        token_share=token_share,
        prior=prior,
        ratio=thresholds.value_follows_ratio,
    )


def _targets_in_force(targets: Sequence[Target], team_id: int) -> list[tuple[float, float]]:
    """(announced at, tokens per day) of the daily usage targets that apply to a team, oldest first."""
    return sorted(
        (t.announced_at.timestamp(), float(t.tokens_per_day))
        for t in targets
        if t.kind == "usage_target" and t.tokens_per_day and t.team_id in (None, team_id)
    )


def _settling(
    daily: dict[int, int], in_force: list[tuple[float, float]], peer_day: float | None, thresholds: Thresholds
) -> tuple[str, float, float, int, int] | None:
    """(label, reference, in-band share, in-band days, days considered) of the tighter fit, or None."""
    band = 1.0 + thresholds.hug_band
    fits = []
    target_days = []
    for day, tokens in sorted(daily.items()):
        position = bisect_left(in_force, ((day + 1) * DAY_SECONDS,)) - 1
        if position >= 0:
            target_days.append((tokens, in_force[position][1]))
    if target_days:
        fits.append(("daily target", target_days[-1][1], target_days))
    if peer_day is not None:
        fits.append(("peer average day", peer_day, [(tokens, peer_day) for tokens in daily.values()]))
    best = None
    for label, reference, days in fits:
        if len(days) < thresholds.hug_min_days:
            continue
        in_band = sum(1 for tokens, ref in days if ref <= tokens <= ref * band)
        fit = (label, reference, in_band / len(days), in_band, len(days))
        if best is None or fit[2] > best[2]:
            best = fit
    return best


AWAY_DAYS = 7  # a run of days without a call this long is time away (leave), not a quiet baseline


def _present_days(active: list[int], start: float, end: float) -> float:
    """Calendar days in ``[start, end)`` the person was around: from their first call (a joiner counts
    from when they joined), less every run of ``AWAY_DAYS`` or more days without a call (leave)."""
    days = (end - start) / DAY_SECONDS
    edges = [*active, int(end // DAY_SECONDS)]
    for first, second in zip(edges, edges[1:], strict=False):
        if second - first - 1 >= AWAY_DAYS:
            days -= second - first - 1
    return max(days, float(len(active)))


Jump = tuple[float, float, float, Target, float, float, float, float]


def _largest_jump(person: Person, announced: list[Target], window: Window, thresholds: Thresholds) -> Jump | None:
    """(after/before ratio, tokens a day before, after, the announcement, baseline start,
    announcement, end of the span after, token share after) of the largest jump, or None."""
    start, end, span = window.start.timestamp(), window.end.timestamp(), thresholds.jump_days * DAY_SECONDS
    times, tokens = person.times, person.tokens()
    largest = None
    for target in announced:
        if target.team_id not in (None, person.team_id):
            continue
        moment = target.announced_at.timestamp()
        lo, hi = start, min(moment + span, end)
        first, middle, last = bisect_left(times, lo), bisect_left(times, moment), bisect_left(times, hi)
        days_before = time_buckets(times, DAY_SECONDS, first, middle)
        days_after = time_buckets(times, DAY_SECONDS, middle, last)
        if min(len(days_before), len(days_after)) < MIN_ACTIVE_DAYS_AROUND:
            continue
        tokens_before, tokens_after = sum(tokens[first:middle]), sum(tokens[middle:last])
        before = tokens_before / _present_days(days_before, max(lo, days_before[0] * DAY_SECONDS), moment)
        after = tokens_after / ((hi - moment) / DAY_SECONDS)
        if before > 0 and (largest is None or after / before > largest[0]):
            largest = (
                after / before,
                before,
                after,
                target,
                lo,
                moment,
                hi,
                tokens_after / (tokens_before + tokens_after),
            )
    return largest
