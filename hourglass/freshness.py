"""Freshness of what activation reads: stale consent, web data or audiences show in asset health before a send.

A source activation reads, or an audience, not materialised for HOURGLASS_FRESHNESS_HOURS (default 26: a
nightly run plus slack) fails its freshness policy. Dagster's daemon evaluates the policies (`dagster dev`,
`dg dev`, dagster-daemon), so no job or schedule of ours is needed; the state shows on the asset page and in
asset health.
"""

from datetime import timedelta

import dagster as dg

from hourglass import settings
from hourglass.ga4 import SOURCE as GA4_SOURCE
from hourglass.sources import CONSENT_SOURCES

# Consent and the web funnel the abandoner journey reads.
ACTIVATION_SOURCES = (*CONSENT_SOURCES, GA4_SOURCE)


def freshness_policy(source: str) -> dg.FreshnessPolicy | None:
    """The policy of a source asset: a time window for those activation reads, none for the others."""
    return activation_input_policy() if source in ACTIVATION_SOURCES else None


def activation_input_policy() -> dg.FreshnessPolicy:
    """The policy of everything a send reads (its sources, its audience): materialised within the window."""
    return dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=settings.float_setting("HOURGLASS_FRESHNESS_HOURS", 26.0))
    )
