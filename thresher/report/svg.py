"""Inline SVG charts: labelled horizontal bars, stacked share bars and histograms.

Every chart carries its numbers as text (and a <title> per mark), so it reads without
JavaScript, prints, and survives being opened from a Hub dataset page. All text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bars", "histogram", "stacked"]

_FONT = "font-family:system-ui,sans-serif;font-size:12px"


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def bars(
    rows: Sequence[tuple[str, float]],
    *,
    label: str,
    color: str = "#4c6ef5",
    note: Sequence[str] | None = None,
    width: int = 640,
) -> str:
    """Horizontal bars, one per (label, value), with the value (and an optional note) printed."""
    if not rows:
        return '<p class="empty">nothing to show</p>'
    left, bar_h, gap = 240, 18, 6
    top = max((v for _, v in rows), default=0) or 1
    span = width - left - 120
    height = len(rows) * (bar_h + gap) + gap
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="{_FONT}">'
        f"<title>{escape(label)}</title>"
    ]
    for i, (name, value) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = max(1.0, span * value / top) if value else 0.0
        extra = f" {note[i]}" if note else ""
        parts.append(
            f'<g class="bar" data-label="{escape(name)}" data-value="{value}">'
            f"<title>{escape(name)}: {_fmt(value)}{escape(extra)}</title>"
            f'<text x="{left - 6}" y="{y + 13}" text-anchor="end">{escape(_clip(name, 32))}</text>'
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}" rx="2"/>'
            f'<text x="{left + w + 5:.1f}" y="{y + 13}">{_fmt(value)}{escape(extra)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked(
    rows: Sequence[tuple[str, dict[str, float]]],
    *,
    label: str,
    colors: dict[str, str],
    width: int = 640,
) -> str:
    """One 100% bar per row, split into the shares of each key (in `colors` order)."""
    if not rows:
        return '<p class="empty">nothing to show</p>'
    left, bar_h, gap = 160, 20, 8
    span = width - left - 10
    height = len(rows) * (bar_h + gap) + gap + 22
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="{_FONT}">'
        f"<title>{escape(label)}</title>"
    ]
    for i, (name, shares) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(_clip(name, 24))}</text>'
        )
        total = sum(v for v in shares.values() if v) or 1.0
        x = float(left)
        for key, color in colors.items():
            share = (shares.get(key) or 0.0) / total
            if share <= 0:
                continue
            w = span * share
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}">'
                f"<title>{escape(name)} — {escape(key)}: {share:.1%}</title></rect>"
            )
            if w > 34:
                parts.append(f'<text x="{x + 3:.1f}" y="{y + 14}">{share:.0%}</text>')
            x += w
    y = gap + len(rows) * (bar_h + gap) + 4
    x = float(left)
    for key, color in colors.items():
        parts.append(
            f'<rect x="{x:.0f}" y="{y}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14:.0f}" y="{y + 9}">{escape(key)}</text>'
        )
        x += 14 + 7 * len(key) + 12
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    counts: Sequence[int], *, label: str, edges: Sequence[str], color: str = "#12b886"
) -> str:
    """Vertical bars for consecutive bins, the count above each and the bin edges below."""
    width, height, base, left = 36 * len(counts) + 40, 150, 120, 20
    top = max(counts, default=0) or 1
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="{_FONT}">'
        f"<title>{escape(label)}</title>"
    ]
    for i, n in enumerate(counts):
        h = 90 * n / top
        x = left + i * 36
        parts.append(
            f'<g class="bin" data-bin="{escape(edges[i])}" data-value="{n}">'
            f"<title>{escape(edges[i])}: {n}</title>"
            f'<rect x="{x}" y="{base - h:.1f}" width="30" height="{h:.1f}" fill="{color}"/>'
            f'<text x="{x + 15}" y="{base - h - 4:.1f}" text-anchor="middle">{n}</text>'
            f'<text x="{x + 15}" y="{base + 14}" text-anchor="middle" font-size="10">'
            f"{escape(edges[i])}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
