"""GA4: the Data API client path (report; its loopback emulator is hourglass.sample.ga4_emulator). The names
here are what Dagster needs at definitions load, without importing the gRPC client."""

SOURCE = "ga4_web"
MAX_PAGE = 250_000  # rows per runReport page, the API's maximum
