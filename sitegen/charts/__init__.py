"""Charts as pure functions from data to SVG (markupsafe.Markup), with deterministic bytes."""

from sitegen.charts.axes import nice_ticks
from sitegen.charts.bars import hbars
from sitegen.charts.depmap import depmap
from sitegen.charts.downsample import downsample
from sitegen.charts.gantt import gantt
from sitegen.charts.heatmap import buckets as heatmap_buckets
from sitegen.charts.heatmap import heatmap
from sitegen.charts.line import line_chart
from sitegen.charts.spark import sparkline
from sitegen.charts.waterfall import waterfall

__all__ = [
    "depmap",
    "downsample",
    "gantt",
    "hbars",
    "heatmap",
    "heatmap_buckets",
    "line_chart",
    "nice_ticks",
    "sparkline",
    "waterfall",
]
