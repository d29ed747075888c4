"""Charts as server-side SVG: no script, readable text, a text alternative on every chart.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by
its ``<desc>`` (the findings in words); the same figures are in the table
beside it. Colours come from the GOV.UK palette with at least 3:1 contrast
against white, segments are separated by white gaps, and line series also
differ by dash pattern, so colour is never the only cue. Every piece of text
is escaped.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from insights.reports import Chart

PALETTE = ("#1d70b8", "#00703c", "#4c2c92", "#d4351c", "#505a5f", "#d53880", "#b35900", "#003078")
OUTCOME_COLOURS = {
    "Completed": "#00703c",
    "Informed": "#1d70b8",
    "Handed over": "#4c2c92",
    "Not understood": "#d53880",
    "Unsupported": "#6f72af",
    "System failed": "#d4351c",
    "Abandoned": "#b35900",
    "Cancelled": "#505a5f",
}
DASHES = ("", "6 3", "2 3", "10 4 2 4", "1 2", "12 3", "4 4 1 4", "8 2")
TEXT = "#0b0c0c"
GRID = "#b1b4b6"
_ids = itertools.count(1)


def render(chart: Chart) -> Markup:
    draw = {"bars": _bars, "stacked": _stacked, "lines": _lines, "heatmap": _heatmap}[chart.kind]
    return draw(chart)


def _svg(chart: Chart, width: int, height: int, body: list[str]) -> Markup:
    n = next(_ids)
    return Markup(
        f'<svg class="app-chart" role="img" aria-labelledby="chart-{n}-title chart-{n}-desc" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="arial, sans-serif" font-size="14" fill="{TEXT}">'
        f'<title id="chart-{n}-title">{escape(chart.title)}</title>'
        f'<desc id="chart-{n}-desc">{escape(chart.description)}</desc>' + "".join(body) + "</svg>"
    )


def _number(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:,.0f}"


def _text(
    x: float, y: float, text: str, anchor: str = "start", size: int = 14, weight: str = "normal"
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}">'
        f"{escape(text)}</text>"
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bars(chart: Chart) -> Markup:
    bars: Sequence[tuple[str, float]] = chart.data["bars"]
    percent = bool(chart.data.get("percent"))
    if not bars:
        return _empty(chart)
    label_w, width, row = 300, 900, 30
    plot = width - label_w - 90
    top = max(v for _, v in bars) or 1
    body = []
    for i, (name, value) in enumerate(bars):
        y = 10 + i * row
        w = max(1.0, plot * value / top) if value else 0
        body.append(_text(label_w - 10, y + 19, _clip(str(name), 40), "end"))
        body.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 10}" fill="{PALETTE[0]}">'
            f"<title>{escape(str(name))}: {escape(_number(value, percent))}</title></rect>"
        )
        body.append(_text(label_w + w + 8, y + 19, _number(value, percent)))
    return _svg(chart, width, 20 + len(bars) * row, body)


def _stacked(chart: Chart) -> Markup:
    categories: Sequence[str] = chart.data["categories"]
    series: dict[str, Sequence[float]] = chart.data["series"]
    percent = bool(chart.data.get("percent"))
    if not categories:
        return _empty(chart)
    label_w, width, row, legend_h = 240, 900, 34, 30 + 24 * ((len(series) + 3) // 4)
    plot = width - label_w - 110
    totals = [sum(values[i] for values in series.values()) for i in range(len(categories))]
    top = 1.0 if percent else (max(totals) or 1)
    colours = {name: OUTCOME_COLOURS.get(name, PALETTE[k % len(PALETTE)]) for k, name in enumerate(series)}
    body = []
    for k, name in enumerate(series):  # legend: four to a line
        lx, ly = 10 + (k % 4) * 220, 10 + (k // 4) * 24
        body.append(f'<rect x="{lx}" y="{ly}" width="16" height="16" fill="{colours[name]}"/>')
        body.append(_text(lx + 22, ly + 13, name))
    for i, category in enumerate(categories):
        y = legend_h + i * row
        body.append(_text(label_w - 10, y + 21, _clip(category, 32), "end"))
        x = float(label_w)
        for name, values in series.items():
            w = plot * values[i] / top
            if w <= 0:
                continue
            body.append(
                f'<rect x="{x:.1f}" y="{y + 6}" width="{w:.1f}" height="{row - 12}" fill="{colours[name]}" '
                f'stroke="#ffffff" stroke-width="1.5"><title>{escape(category)}, {escape(name)}: '
                f"{escape(_number(values[i], percent))}</title></rect>"
            )
            x += w
        if not percent:
            body.append(_text(x + 8, y + 21, _number(totals[i], False)))
    return _svg(chart, width, legend_h + len(categories) * row + 10, body)


def _lines(chart: Chart) -> Markup:
    xs: Sequence[str] = chart.data["x"]
    series: dict[str, dict[str, float]] = chart.data["series"]
    if not xs:
        return _empty(chart)
    width, height, left, right, top, bottom = 900, 380, 70, 20, 20, 60 + 22 * ((len(series) + 2) // 3)
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for s in series.values() for v in s.values()), default=0) or 1
    step = plot_w / max(1, len(xs) - 1)
    body = []
    for k in range(5):  # gridlines and the value axis
        value = peak * k / 4
        y = top + plot_h - plot_h * k / 4
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}" '
            'stroke-width="1"/>'
        )
        body.append(_text(left - 6, y + 5, _number(value, False), "end", 12))
    labels: Sequence[str] = chart.data.get("labels") or [str(x) for x in xs]
    every = max(1, len(xs) // 8)
    for i in range(0, len(xs), every):
        body.append(_text(left + i * step, top + plot_h + 18, labels[i], "middle", 12))
    for k, (name, values) in enumerate(series.items()):
        colour, dash = PALETTE[k % len(PALETTE)], DASHES[k % len(DASHES)]
        points = " ".join(
            f"{left + i * step:.1f},{top + plot_h - plot_h * values.get(x, 0) / peak:.1f}"
            for i, x in enumerate(xs)
        )
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"{dashed}>'
            f"<title>{escape(name)}</title></polyline>"
        )
        if len(xs) <= 24:  # few points: mark each, so a single period still shows
            for i, x in enumerate(xs):
                value = values.get(x, 0)
                cy = top + plot_h - plot_h * value / peak
                body.append(
                    f'<circle cx="{left + i * step:.1f}" cy="{cy:.1f}" r="4" fill="{colour}"><title>'
                    f"{escape(name)}, {escape(labels[i])}: {escape(_number(value, False))}</title></circle>"
                )
        lx, ly = left + (k % 3) * 280, height - bottom + 40 + (k // 3) * 22
        body.append(
            f'<line x1="{lx}" x2="{lx + 30}" y1="{ly - 5}" y2="{ly - 5}" stroke="{colour}" '
            f'stroke-width="3"{dashed}/>'
        )
        body.append(_text(lx + 36, ly, _clip(name, 30)))
    return _svg(chart, width, height, body)


def _heatmap(chart: Chart) -> Markup:
    rows: Sequence[str] = chart.data["rows"]
    grid: Sequence[Sequence[int]] = chart.data["grid"]
    marks: Sequence[Sequence[str]] = chart.data["marks"]
    left, top, cell_w, cell_h = 50, 30, 34, 30
    width, height = left + 24 * cell_w + 10, top + len(rows) * cell_h + 70
    peak = max((v for r in grid for v in r), default=0) or 1
    body = [_text(left + h * cell_w + cell_w / 2, top - 10, f"{h:02d}", "middle", 12) for h in range(24)]
    for d, name in enumerate(rows):
        y = top + d * cell_h
        body.append(_text(left - 8, y + cell_h / 2 + 5, name, "end"))
        for h in range(24):
            value = grid[d][h]
            body.append(
                f'<rect x="{left + h * cell_w}" y="{y}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{_shade(value / peak)}"><title>{escape(name)} {h:02d}:00: {value:,} requests'
                f"{' (contact centre open)' if marks[d][h] == 'yes' else ''}</title></rect>"
            )
        open_hours = [h for h in range(24) if marks[d][h] != "no"]
        if open_hours:
            x0 = left + open_hours[0] * cell_w + (cell_w / 2 if marks[d][open_hours[0]] == "partly" else 0)
            x1 = left + (open_hours[-1] + 1) * cell_w - 2
            body.append(
                f'<rect x="{x0:.1f}" y="{y - 1}" width="{x1 - x0:.1f}" height="{cell_h}" fill="none" '
                f'stroke="{TEXT}" stroke-width="3"/>'
            )
    ly = top + len(rows) * cell_h + 25
    body.append(
        f'<rect x="{left}" y="{ly - 13}" width="30" height="16" fill="none" stroke="{TEXT}" '
        'stroke-width="3"/>'
    )
    body.append(_text(left + 38, ly, f"Contact centre open ({chart.data.get('office', 'office hours')})"))
    for k in range(5):
        x = left + 420 + k * 60
        body.append(f'<rect x="{x}" y="{ly - 13}" width="28" height="16" fill="{_shade(k / 4)}"/>')
        body.append(_text(x + 32, ly, _number(peak * k / 4, False), "start", 11))
    body.append(_text(left + 420, ly + 26, "Requests in the hour (darker is more)", "start", 12))
    return _svg(chart, width, height + 20, body)


def _shade(fraction: float) -> str:
    """White to GOV.UK dark blue."""
    low, high = (243, 242, 241), (0, 48, 120)
    f = max(0.0, min(1.0, fraction)) ** 0.8
    return "#" + "".join(f"{round(a + (b - a) * f):02x}" for a, b in zip(low, high, strict=True))


def _empty(chart: Chart) -> Markup:
    return _svg(chart, 900, 60, [_text(10, 35, "No requests in this range.")])


def render_all(charts: Sequence[Chart]) -> list[dict[str, Any]]:
    return [{"chart": chart, "svg": render(chart)} for chart in charts]
