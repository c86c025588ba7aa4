"""A chart of one month's daily spend by service category, as markdown metadata for the UI.

Dagster 1.13.28's UI renders `MetadataValue.md` with react-markdown and rehype-sanitize and no
raw-HTML plugin, so an inline `<svg>` element would not be shown. Its sanitize schema does add
`data` to the protocols allowed in an image's `src`, so the chart is a hand-written SVG
document in a markdown image whose source is a `data:image/svg+xml;base64,` URI.

Amounts stay `Decimal` until they become pixel coordinates, which are written with two decimal
places. The table under the chart gives each category's exact total.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from xml.sax.saxutils import escape

import dagster as dg
import pandas as pd

from vultr_pipeline.costs import categories
from vultr_pipeline.costs.breakdown import DAY, SERVICE_CATEGORY, prorate_by_day
from vultr_pipeline.costs.frames import frame_rows, is_missing

CHART_METADATA_KEY = "daily_spend_chart"
WIDTH = 760
HEIGHT = 360
LEFT = 76
RIGHT = 210
TOP = 34
BOTTOM = 42
TICK_TARGET = 5
LEGEND_ROW = 19
PIXEL = Decimal("0.01")
BAR_FILL = Decimal("0.8")

# One color per service category, in the order of `categories.SERVICE_CATEGORIES`, so a
# category keeps its color from chart to chart. Colors are from the Tableau 20 palette.
CATEGORY_COLORS = dict(
    zip(
        categories.SERVICE_CATEGORIES,
        (
            "#4e79a7", "#e15759", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
            "#ff9da7", "#9c755f", "#bab0ac", "#86bcb6", "#d37295", "#8cd17d", "#79706e",
        ),
        strict=True,
    )
)  # fmt: skip
FALLBACK_COLORS = ("#a0cbe8", "#ffbe7d", "#f1ce63", "#b6992d", "#499894", "#fabfd2")


@dataclass(frozen=True)
class DailySpend:
    """The spend of one billing month by UTC day and service category.

    Attributes:
        month: First day of the billing month.
        amounts: Spend by (day, service category). A day may fall outside the month when a
            line's charge period does.
    """

    month: dt.date
    amounts: Mapping[tuple[dt.date, str], Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        """Return the spend of the whole month."""
        return sum(self.amounts.values(), Decimal(0))

    def category_totals(self) -> dict[str, Decimal]:
        """Return each category's total, largest first, ties by name."""
        totals: dict[str, Decimal] = {}
        for (_, category), amount in self.amounts.items():
            totals[category] = totals.get(category, Decimal(0)) + amount
        return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))

    def days(self) -> list[dt.date]:
        """Return every day of the month, widened to cover days outside it that have spend."""
        first = self.month
        last = _next_month(self.month) - dt.timedelta(days=1)
        for day, _ in self.amounts:
            first = min(first, day)
            last = max(last, day)
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _as_date(value: object) -> dt.date:
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(str(value)).date()


def _month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _latest_month(months: Iterable[dt.date], month: dt.date | None) -> dt.date | None:
    if month is not None:
        return _month_of(month)
    return max(months, default=None)


def _add(
    amounts: dict[tuple[dt.date, str], Decimal], key: tuple[dt.date, str], amount: Decimal
) -> None:
    amounts[key] = amounts.get(key, Decimal(0)) + amount


def daily_spend_from_breakdown(
    breakdown: pd.DataFrame, month: dt.date | None = None
) -> DailySpend | None:
    """Collect the day-grain `service_category` rows of `cost_breakdown` for one month.

    Rows of every account add up. A row belongs to the month in its `billing_month` column,
    or to the month of its `period_start` when the frame has no such column.

    Args:
        breakdown: Rows with the columns of `cost_breakdown`.
        month: Any day of the month to chart; the latest month in the frame when None.

    Returns:
        The month's daily spend, or None when the frame has no day rows to chart.
    """
    rows = [
        row
        for row in frame_rows(breakdown)
        if row["grain"] == DAY and row["dimension"] == SERVICE_CATEGORY
    ]
    for row in rows:
        row["day"] = _as_date(row["period_start"])
        billing_month = row.get("billing_month")
        row["chart_month"] = _month_of(
            row["day"] if is_missing(billing_month) else _as_date(billing_month)
        )
    chosen = _latest_month((row["chart_month"] for row in rows), month)
    if chosen is None:
        return None

    amounts: dict[tuple[dt.date, str], Decimal] = {}
    for row in rows:
        if row["chart_month"] == chosen:
            _add(amounts, (row["day"], row["dimension_value"]), row["amount"])
    return DailySpend(month=chosen, amounts=amounts)


def daily_spend_from_line_items(
    line_items: pd.DataFrame, month: dt.date | None = None
) -> DailySpend | None:
    """Spread the cost line items of one billing month over UTC days, exact to the cent.

    Each line is prorated over its charge period as `cost_breakdown` does it, so the days of a
    line add up to the line's amount.

    Args:
        line_items: Rows with the columns of `cost_line_items`.
        month: Any day of the billing month to chart; the latest month in the frame when None.

    Returns:
        The month's daily spend, or None when the frame has no lines.
    """
    lines = frame_rows(line_items)
    for line in lines:
        line["chart_month"] = _month_of(_as_date(line["billing_month"]))
    chosen = _latest_month((line["chart_month"] for line in lines), month)
    if chosen is None:
        return None

    amounts: dict[tuple[dt.date, str], Decimal] = {}
    for line in lines:
        if line["chart_month"] != chosen:
            continue
        for day, amount in prorate_by_day(line):
            _add(amounts, (day, line["service_category"]), amount)
    return DailySpend(month=chosen, amounts=amounts)


@dataclass(frozen=True)
class Axis:
    """The value range of the y axis and the step between its gridlines, in dollars."""

    low: Decimal
    high: Decimal
    step: Decimal

    def ticks(self) -> list[Decimal]:
        """Return the gridline values from `low` to `high`."""
        count = int((self.high - self.low) / self.step)
        return [self.low + self.step * n for n in range(count + 1)]


def nice_step(span: Decimal, target: int = TICK_TARGET) -> Decimal:
    """Return the smallest 1, 2 or 5 times a power of ten that splits `span` in `target` steps."""
    if span <= 0:
        return Decimal(1)
    rough = span / target
    power = Decimal(1).scaleb(rough.adjusted())
    for multiple in (1, 2, 5, 10):
        if power * multiple >= rough:
            return power * multiple
    raise AssertionError("unreachable: 10 times the power of ten is always enough")


def stacked_axis(spend: DailySpend) -> Axis:
    """Fit an axis around the tallest stack of spend and the deepest stack of credits."""
    highs: dict[dt.date, Decimal] = {}
    lows: dict[dt.date, Decimal] = {}
    for (day, _), amount in spend.amounts.items():
        if amount > 0:
            highs[day] = highs.get(day, Decimal(0)) + amount
        elif amount < 0:
            lows[day] = lows.get(day, Decimal(0)) + amount
    top = max(highs.values(), default=Decimal(0))
    bottom = min(lows.values(), default=Decimal(0))
    step = nice_step(top - bottom)
    high = (top / step).to_integral_value(ROUND_CEILING) * step
    low = (bottom / step).to_integral_value(ROUND_FLOOR) * step
    if high == low:
        high = low + step
    return Axis(low=low, high=high, step=step)


def _px(value: Decimal) -> str:
    return str(value.quantize(PIXEL))


def _money(value: Decimal, places: int = 2) -> str:
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{places}f}"


def _color(category: str, order: list[str]) -> str:
    if category in CATEGORY_COLORS:
        return CATEGORY_COLORS[category]
    unknown = [name for name in order if name not in CATEGORY_COLORS]
    return FALLBACK_COLORS[unknown.index(category) % len(FALLBACK_COLORS)]


class _Plot:
    """Pixel geometry of the plot area: days across, dollars up."""

    def __init__(self, days: list[dt.date], axis: Axis) -> None:
        self.days = days
        self.axis = axis
        self.width = Decimal(WIDTH - LEFT - RIGHT)
        self.height = Decimal(HEIGHT - TOP - BOTTOM)
        self.slot = self.width / len(days)

    def y(self, value: Decimal) -> Decimal:
        share = (self.axis.high - value) / (self.axis.high - self.axis.low)
        return TOP + share * self.height

    def x(self, day: dt.date) -> Decimal:
        return LEFT + self.slot * (day - self.days[0]).days


def _gridlines(plot: _Plot) -> list[str]:
    places = 0 if plot.axis.step >= 1 else 2
    parts = []
    for value in plot.axis.ticks():
        y = _px(plot.y(value))
        stroke = "#555" if value == 0 else "#ddd"
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" stroke="{stroke}"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(_money(value, places))}</text>"
        )
    return parts


def _bars(spend: DailySpend, plot: _Plot, order: list[str]) -> list[str]:
    parts = []
    bar_width = _px(plot.slot * BAR_FILL)
    offset = plot.slot * (1 - BAR_FILL) / 2
    for day in plot.days:
        above = below = Decimal(0)
        for category in order:
            amount = spend.amounts.get((day, category), Decimal(0))
            if amount == 0:
                continue
            if amount > 0:
                start, above = above, above + amount
                top, bottom = plot.y(above), plot.y(start)
            else:
                start, below = below, below + amount
                top, bottom = plot.y(start), plot.y(below)
            parts.append(
                f'<rect x="{_px(plot.x(day) + offset)}" y="{_px(top)}" width="{bar_width}" '
                f'height="{_px(bottom - top)}" fill="{_color(category, order)}">'
                f"<title>{day:%Y-%m-%d} {escape(category)}: {escape(_money(amount))}</title>"
                "</rect>"
            )
    return parts


def _day_labels(plot: _Plot) -> list[str]:
    parts = []
    y = HEIGHT - BOTTOM + 16
    for day in plot.days:
        if day.day == 1 or day.day % 5 == 0:
            x = _px(plot.x(day) + plot.slot / 2)
            parts.append(f'<text x="{x}" y="{y}" text-anchor="middle">{day.day}</text>')
    return parts


def _legend(spend: DailySpend, order: list[str]) -> list[str]:
    x = WIDTH - RIGHT + 16
    rows = (HEIGHT - TOP) // LEGEND_ROW
    totals = spend.category_totals()
    shown = order if len(order) <= rows else order[: rows - 1]
    parts = []
    for n, category in enumerate(shown):
        y = TOP + n * LEGEND_ROW
        parts.append(
            f'<rect x="{x}" y="{y}" width="12" height="12" fill="{_color(category, order)}"/>'
        )
        parts.append(
            f'<text x="{x + 18}" y="{y + 10}">{escape(category)} '
            f"{escape(_money(totals[category]))}</text>"
        )
    if len(shown) < len(order):
        y = TOP + len(shown) * LEGEND_ROW + 10
        parts.append(f'<text x="{x}" y="{y}">and {len(order) - len(shown)} more</text>')
    return parts


def render_svg(spend: DailySpend) -> str:
    """Draw the month's spend as one stacked bar per day, with a legend of category totals.

    Credits (negative amounts) stack downwards from zero. Each bar segment has a tooltip
    with its day, category and exact amount.
    """
    order = list(spend.category_totals())
    plot = _Plot(spend.days(), stacked_axis(spend))
    title = f"Daily spend by service category, {spend.month:%Y-%m}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11" fill="#222">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
        *_gridlines(plot),
        *_bars(spend, plot, order),
        *_day_labels(plot),
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) // 2}" y="{HEIGHT - 6}" '
        f'text-anchor="middle">UTC day of {spend.month:%B %Y}</text>',
        *_legend(spend, order),
        "</svg>",
    ]
    return "\n".join(parts)


def svg_data_uri(svg: str) -> str:
    """Encode an SVG document as a base64 `data:` URI."""
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}"


def chart_markdown(spend: DailySpend | None) -> str:
    """Render the chart of `spend` as markdown: a heading line, the image and a totals table."""
    if spend is None:
        return "_No daily spend to chart._"
    title = f"Daily spend by service category, {spend.month:%Y-%m}"
    lines = [
        f"**{title}**: {_money(spend.total)} in total.",
        "",
        f"![{title}]({svg_data_uri(render_svg(spend))})",
        "",
        "| service category | spend |",
        "|---|---:|",
    ]
    for category, amount in spend.category_totals().items():
        lines.append(f"| {category} | {_money(amount)} |")
    return "\n".join(lines)


def daily_spend_metadata(spend: DailySpend | None) -> dict[str, dg.MetadataValue]:
    """Return the chart of `spend` as materialization metadata under `CHART_METADATA_KEY`."""
    return {CHART_METADATA_KEY: dg.MetadataValue.md(chart_markdown(spend))}
