"""Leads over time as server-rendered SVG: stacked bars, one an hour, no script and no external file.

Colours are SVG presentation attributes, not style attributes, so the console's CSP (no inline
style) holds. Every label is escaped: dialect and state names come from the store.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 180, 40, 22, 8
PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563", "#db2777"]
STATE_COLOURS = {
    "delivered": "#16a34a",
    "deduplicated": "#0891b2",
    "unattributed": "#7c3aed",
    "pending": "#9ca3af",
    "retrying": "#d97706",
    "dead": "#dc2626",
}


def stacked_bars(title: str, hours: list[float], counts: list[dict[str, int]], colours: dict[str, str] | None = None) -> str:
    """An SVG of one bar per hour, stacked by key, with a legend; `counts[i]` is hour `hours[i]`'s {key: count}."""
    keys = sorted({k for c in counts for k in c})
    colour = dict(colours or {})
    for n, key in enumerate(k for k in keys if k not in colour):
        colour[key] = PALETTE[n % len(PALETTE)]
    peak = max((sum(c.values()) for c in counts), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, len(hours))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 18}" role="img" aria-label="{escape(title)}"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}" stroke="#9ca3af"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end" font-size="10" fill="#4b5563">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end" font-size="10" fill="#4b5563">0</text>',
    ]
    for i, (start, by_key) in enumerate(zip(hours, counts)):
        x = LEFT + i * slot + 1
        y: float = TOP + plot_h
        for key in keys:
            n = by_key.get(key, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            when = _hour(start)
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(1.0, slot - 2):.1f}" height="{h:.1f}" fill="{colour[key]}">'
                f"<title>{escape(when)}: {n} {escape(key)}</title></rect>"
            )
        if i % 6 == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" font-size="10" fill="#4b5563">{escape(_hour(start)[11:])}</text>'
            )
    lx = LEFT
    for key in keys:
        parts.append(f'<rect x="{lx}" y="{HEIGHT + 4}" width="10" height="10" fill="{colour[key]}"/>')
        parts.append(f'<text x="{lx + 14}" y="{HEIGHT + 13}" font-size="11" fill="#111827">{escape(key)}</text>')
        lx += 24 + 7 * len(key)
    if not keys:
        parts.append(f'<text x="{LEFT + 8}" y="{TOP + plot_h / 2}" font-size="12" fill="#4b5563">nothing yet</text>')
    parts.append("</svg>")
    return "".join(parts)


def _hour(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:00")
