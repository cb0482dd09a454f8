"""CloudFront's own view of the site from CloudWatch: requests and error rates, 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config as BotoConfig

from sitegen.model import Panel, Series, labels_of
from sitegen.sources.base import Part, SourceContext

NAME = "cloudfront"
WINDOW_SECONDS = 86400
PERIOD_SECONDS = 300  # CloudFront publishes these metrics per minute; 5 min reads calmer
ERROR_RATES = (("4xxErrorRate", "Average"), ("5xxErrorRate", "Average"))
METRICS = (
    ("CloudFront requests", "req/5m", (("Requests", "Sum"),)),
    (
        "CloudFront error rates",
        "percent",
        (("4xxErrorRate", "Average"), ("5xxErrorRate", "Average")),
    ),
)


def collect(ctx: SourceContext) -> Part:
    """Read the distribution's metrics (CloudFront metrics live in us-east-1, region Global)."""
    cw = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=ctx.cfg.publish.endpoint_url or None,  # [publish] endpoint_url, like S3
        config=BotoConfig(retries={"mode": "standard", "max_attempts": 3}, read_timeout=10),
    )
    end = datetime.fromtimestamp(ctx.now, UTC)
    dimensions = [
        {"Name": "DistributionId", "Value": ctx.cfg.publish.distribution_id},
        {"Name": "Region", "Value": "Global"},
    ]
    panels = []
    for title, unit, metrics in METRICS:
        series = []
        for metric, statistic in metrics:
            answer = cw.get_metric_statistics(
                Namespace="AWS/CloudFront", MetricName=metric, Dimensions=dimensions,
                StartTime=end - timedelta(seconds=WINDOW_SECONDS), EndTime=end,
                Period=PERIOD_SECONDS, Statistics=[statistic],
            )  # fmt: skip
            points = sorted(
                (p["Timestamp"].timestamp(), p[statistic]) for p in answer["Datapoints"]
            )
            series.append(
                Series(labels_of({"metric": metric}), tuple(points), metric, PERIOD_SECONDS)
            )
        query = "AWS/CloudFront " + ", ".join(m for m, _ in metrics)
        panels.append(Panel(title, query, unit, NAME, tuple(series), WINDOW_SECONDS))
    return Part(panels=tuple(panels), detail=f"distribution {ctx.cfg.publish.distribution_id}")
