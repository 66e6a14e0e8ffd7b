"""Activation throughput: rendered, ledgered messages per second to the outbox and to a loopback SMTP server.

The SMTP server (aiosmtpd) runs in its own process, as a real one would, so it does not share our GIL. Each
figure is a whole campaign run: consent lookup in the lake, planning, rendering, the ledger and delivery.
Also: an SMS gateway rate limit, configured against achieved.
"""

import argparse
import multiprocessing
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import AS_OF, table


def _smtp_server(port_out, stop) -> None:
    from hourglass.sample.channel_servers import LoopbackSmtp

    with LoopbackSmtp() as smtp:
        port_out.put(smtp.port)
        stop.wait()
        port_out.put(smtp.count)


def _world(home: Path, customers: int) -> list[dict]:
    from hourglass import lake, settings
    from hourglass.sources import CONSENT_PURPOSES

    os.environ["HOURGLASS_HOME"] = str(home)
    os.environ["HOURGLASS_AS_OF_DATE"] = AS_OF.isoformat()
    os.environ["HOURGLASS_NOW"] = f"{AS_OF}T10:00:00"
    os.environ["HOURGLASS_FREQUENCY_CAP"] = "1000"
    at = f"{AS_OF}T08:00:00"
    ids = [f"C{i:07d}" for i in range(customers)]
    crm = pa.table(
        {
            "customer_id": ids,
            "email": [f"p{i}@example.nl" for i in range(customers)],
            "updated_at": pa.array([at] * customers).cast(pa.timestamp("us")),
        }
    )
    target = lake.partition_dir(lake.raw_dataset("crm_customers"), AS_OF)
    target.mkdir(parents=True, exist_ok=True)
    for purpose in CONSENT_PURPOSES:  # everyone agreed to marketing by e-mail and SMS; the rest never asked
        granted = purpose in ("email_marketing", "sms_marketing")
        crm = crm.append_column(f"consent_{purpose}", pa.array([True if granted else None] * customers, pa.bool_()))
        stamp = pa.array([at if granted else None] * customers, pa.string()).cast(pa.timestamp("us"))
        crm = crm.append_column(f"consent_{purpose}_at", stamp)
    crm = crm.append_column("_source_file", pa.array(["crm_customers.csv"] * customers))  # as the loader writes it
    pq.write_table(crm, target / "part-0.parquet")
    rows = [
        {
            "customer_key": f"k{c}",
            "customer_id": c,
            "email": f"p{i}@example.nl",
            "phone": f"+316{i:08d}",
            "first_name": "Anouk",
            "language": "nl" if i % 4 else "en",
            "workshop_name": "Keramiek voor beginners",
        }
        for i, c in enumerate(ids)
    ]
    settings.ensure_audience_dir()
    return rows


def _write_audience(name: str, rows: list[dict]) -> None:
    from hourglass import settings

    pq.write_table(pa.Table.from_pylist(rows), settings.audience_export(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--smtp-concurrency", type=int, default=4)
    parser.add_argument("--sms-rate", type=float, default=500.0)
    args = parser.parse_args()

    from hourglass import activation
    from hourglass.campaigns import Campaign
    from hourglass.channels.ads import AdAudienceResource
    from hourglass.channels.http import SmsResource, WebhookResource
    from hourglass.channels.outbox import OutboxResource
    from hourglass.channels.smtp import SmtpResource
    from hourglass.sample.channel_servers import LoopbackHttp

    base = Campaign("workshop_signup_abandoners", ("email",), "workshop_signup_abandoners", "marketing",
                    0.0, 0, 10, "", guard_max_change=100.0)  # fmt: skip
    results = []
    with tempfile.TemporaryDirectory(prefix="hourglass-bench-activation-") as tmp:
        rows = _world(Path(tmp), args.customers)

        def run(campaign: Campaign, smtp: SmtpResource, sms: SmsResource, n: int) -> float:
            _write_audience(campaign.name, rows[:n])
            channels = activation.Channels(OutboxResource(), smtp, sms, WebhookResource(), AdAudienceResource())
            started = time.perf_counter()
            result = activation.run_campaign(campaign, [campaign], channels, run_id=f"bench-{campaign.name}")
            seconds = time.perf_counter() - started
            assert result.get("result_sent") == n, result
            return seconds

        outbox = replace(base, name="bench_outbox")
        seconds = run(outbox, SmtpResource(), SmsResource(), len(rows))
        results.append(["outbox (JSON lines)", len(rows), seconds, len(rows) / seconds, "20,000/s"])

        ctx = multiprocessing.get_context("spawn")
        port_q, stop = ctx.Queue(), ctx.Event()
        server = ctx.Process(target=_smtp_server, args=(port_q, stop))
        server.start()
        port = port_q.get(timeout=60)
        smtp_campaign = replace(base, name="bench_smtp")
        smtp = SmtpResource(host="127.0.0.1", port=port, concurrency=args.smtp_concurrency, tls="off")
        seconds = run(smtp_campaign, smtp, SmsResource(), len(rows))
        stop.set()
        received = port_q.get(timeout=60)
        server.join()
        assert received == len(rows), f"the SMTP server received {received} of {len(rows)}"
        label = f"SMTP, {args.smtp_concurrency} connections"
        results.append([label, len(rows), seconds, len(rows) / seconds, "2,000/s"])

        n_sms = int(args.sms_rate * 10)
        with LoopbackHttp() as gateway:
            sms_campaign = replace(base, name="bench_sms", channels=("sms",))
            sms = SmsResource(url=gateway.url, rate_per_second=args.sms_rate, concurrency=8)
            seconds = run(sms_campaign, SmtpResource(), sms, n_sms)
            arrivals = gateway.state.arrivals
        achieved = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])  # at the gateway, first to last request
        results.append([f"SMS, limit {args.sms_rate:,.0f}/s", n_sms, seconds, achieved, "within 5%"])

    print(
        table(
            ["channel", "messages", "seconds", "messages/s", "target"],
            [[*r[:2], f"{r[2]:.2f}", *r[3:]] for r in results],
        )
    )
    print(f"SMS rate limit held to {achieved / args.sms_rate - 1:+.1%} of the configured {args.sms_rate:,.0f}/s")


if __name__ == "__main__":
    main()
