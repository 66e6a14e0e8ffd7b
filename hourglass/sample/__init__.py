"""The outside world, played on this machine for the demo, the tests and the benchmarks; not the product.

- generator/: the sources' landing files for a fictional organisation, defects planted, and the truth behind them;
- ga4_emulator: the GA4 Data API on loopback (real gRPC), serving the generated web data, faults on request;
- channel_servers: an SMTP server and an SMS gateway / webhook receiver on loopback, faults on request.

The product reads and sends through the clients it uses against the real systems (hourglass.ga4,
hourglass.channels). Product code reaches in here in three places only: `hourglass generate` and `demo`, the
examples in docs/sources.md, and the GA4 resource, which serves the landed web data through the emulator when
no GA4 property is configured.
"""
