"""Google Analytics 4 as a Dagster resource: the real Data API, or the project's emulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from hourglass import settings
from hourglass.ga4 import MAX_PAGE, SOURCE

if TYPE_CHECKING:  # the gRPC client is imported when a connection is made, not at definitions load
    from google.analytics.data_v1beta import BetaAnalyticsDataClient
    from google.api_core import retry

EMULATOR_PROPERTY = "properties/000000"


@dataclass
class Ga4Connection:
    client: BetaAnalyticsDataClient
    property_id: str
    policy: retry.Retry
    embedded: bool


class Ga4Resource(dg.ConfigurableResource):
    """With neither `endpoint` nor `credentials_file`, the embedded emulator serves the generated web data."""

    property_id: str = ""  # HOURGLASS_GA4_PROPERTY_ID, e.g. properties/123456789
    endpoint: str = ""  # HOURGLASS_GA4_ENDPOINT: host:port of a plaintext endpoint (an emulator)
    credentials_file: str = ""  # GOOGLE_APPLICATION_CREDENTIALS: service-account JSON for the real API
    page_size: int = MAX_PAGE
    refetch_days: int = 3
    backfill_days: int = 400  # how far back the first load reaches
    timeout_seconds: float = 120.0
    retry_initial_seconds: float = 1.0
    retry_maximum_seconds: float = 60.0
    retry_deadline_seconds: float = 900.0

    def _emulator_files(self) -> list[Path]:
        return sorted((settings.landing_dir() / SOURCE).glob(f"{SOURCE}_*.csv"))

    def has_source(self) -> bool:
        """Whether there is GA4 to ask: a property, endpoint or credentials (half a setting fails in connect), or a
        landing file for the embedded emulator."""
        return bool(self.property_id or self.endpoint or self.credentials_file or self._emulator_files())

    @contextmanager
    def connect(self) -> Iterator[Ga4Connection]:
        from hourglass.ga4 import report

        policy = report.retry_policy(
            self.retry_initial_seconds, self.retry_maximum_seconds, self.retry_deadline_seconds
        )
        if self.endpoint or self.credentials_file:
            if not self.property_id:
                raise dg.DagsterInvariantViolationError(
                    "HOURGLASS_GA4_PROPERTY_ID is required with a GA4 endpoint or credentials"
                )
            client = report.make_client(self.endpoint, self.credentials_file)
            yield Ga4Connection(client, self.property_id, policy, embedded=False)
            return
        from hourglass.sample.ga4_emulator import Ga4Emulator

        fixtures = self._emulator_files()
        if not fixtures:
            raise FileNotFoundError(
                f"no GA4 data for the embedded emulator in {settings.landing_dir() / SOURCE}: run "
                "`hourglass generate`, or set HOURGLASS_GA4_PROPERTY_ID and GOOGLE_APPLICATION_CREDENTIALS"
            )
        with Ga4Emulator(fixtures[-1], property_id=EMULATOR_PROPERTY) as emulator:
            yield Ga4Connection(report.make_client(emulator.address), EMULATOR_PROPERTY, policy, embedded=True)
