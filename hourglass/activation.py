"""The rules that hold on every send, and the send itself.

`plan_window` decides, for every campaign of one send window in priority order, what happens to each audience
row: held out, suppressed (with a reason) or sent on a channel. Planning over all campaigns at once makes the
cross-channel frequency cap come out the same whichever campaign's asset runs first. `send_campaign` then
claims each key in the ledger before sending it and records its outcome after, so a re-run, a retry or a
restart after a crash resumes exactly what is missing, and a second sender at the same time leaves it alone.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from hourglass import lake, messages, settings
from hourglass.campaigns import Campaign
from hourglass.channels import MESSAGE_CHANNELS, ChannelUnavailable, Sender, valid_email, valid_phone
from hourglass.channels.ads import PLATFORMS, hashed_identifiers
from hourglass.channels.smtp import RESENT
from hourglass.consent import Consent, current_consent
from hourglass.ledger import ClaimOwner, Ledger, Outcome
from hourglass.redact import describe

SEND, SUPPRESSED, HELD_OUT = "send", "suppressed", "held_out"
RECEIPTS = "activation_receipts"
PROFILE_FIELDS = ("lifecycle_stage", "age_band", "region", "main_interest", "value_tier")


class ActivationError(Exception):
    """A channel could not send at all (not a failed delivery, which is retried): the run fails after the rest."""


class GuardError(Exception):
    """The audience changed more than the campaign allows: nothing was sent."""


@dataclass(frozen=True)
class Rules:
    frequency_cap: int  # marketing messages per customer ...
    frequency_days: int  # ... within this many days, all campaigns and channels together

    @classmethod
    def from_env(cls) -> Rules:
        return cls(
            frequency_cap=settings.int_setting("HOURGLASS_FREQUENCY_CAP", 3),
            frequency_days=settings.int_setting("HOURGLASS_FREQUENCY_DAYS", 7),
        )


@dataclass
class Decision:
    campaign: str
    customer_key: str
    channel: str | None
    status: str  # send, suppressed, held_out
    reason: str | None
    key: str | None
    row: dict[str, Any] = field(repr=False)


def in_holdout(campaign: str, customer_key: str, share: float) -> bool:
    """Deterministic: the same person is always in or out of a campaign's holdout, whatever else changes."""
    if share <= 0:
        return False
    digest = hashlib.sha256(f"holdout|{campaign}|{customer_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _address_ok(channel: str, row: dict[str, Any]) -> bool:
    if channel == "email":
        return valid_email(row.get("email"))
    if channel == "sms":
        return valid_phone(row.get("phone"))
    if channel in PLATFORMS:
        return any(hashed_identifiers(row, channel))
    return True  # webhook: the customer key is the address


def _consent_needed(channel: str, purpose: str) -> str | None:
    if channel in MESSAGE_CHANNELS:
        return f"{channel}_{purpose}"
    if channel in PLATFORMS:
        return "ads_personalisation"
    return None  # webhook: hands membership to our own CRM, no message to the person


def _decide_row(
    campaign: Campaign,
    row: dict[str, Any],
    granted: Consent,
    cooling: dict[str, str],
    quiet: bool,
    used: Counter,
    rules: Rules,
    window: date,
) -> list[Decision]:
    ck = row["customer_key"]
    decisions: list[Decision] = []

    def decide(channel: str | None, status: str, reason: str | None = None) -> None:
        key = messages.message_key(campaign.name, ck, channel, window.isoformat()) if channel else None
        decisions.append(Decision(campaign.name, ck, channel, status, reason, key, row))

    # Who is in the experiment at all: the holdout is drawn among people the campaign would message now, so that
    # treated and held-out people are alike and the comparison measures the message, not consent, cooldown, the
    # cap or quiet hours. A held-out person stands in for a message: cooldown and the cap count them as touched.
    consented = [c for c in campaign.message_channels if _consent_needed(c, campaign.purpose) in granted]
    reachable = [c for c in consented if _address_ok(c, row)]
    blocked = None  # why the message cannot go now, for treated and held-out people alike
    last = cooling.get(ck)  # the cooldown holds on every channel: a webhook-only hand-over is not repeated either
    if last and (window - date.fromisoformat(last)).days < campaign.cooldown_days:
        decide((campaign.message_channels or campaign.channels)[0], SUPPRESSED, "cooldown")
        return decisions
    if campaign.message_channels:
        first = campaign.message_channels[0]
        if not consented:
            decide(first, SUPPRESSED, granted.refusal(_consent_needed(first, campaign.purpose)))
            return decisions
        if not reachable:
            decide(consented[0], SUPPRESSED, "invalid_address")
            return decisions
        if quiet:
            blocked = "quiet_hours"
        elif used[ck] >= rules.frequency_cap:
            blocked = "frequency_cap"
    if in_holdout(campaign.name, ck, campaign.holdout_share):
        if blocked:
            decide(reachable[0], SUPPRESSED, blocked)
        elif campaign.message_channels:
            used[ck] += 1
            decide(reachable[0], HELD_OUT, "holdout")
        else:
            decide(None, HELD_OUT, "holdout")
        return decisions
    for channel in campaign.audience_channels:
        needed = _consent_needed(channel, campaign.purpose)
        if needed and needed not in granted:
            decide(channel, SUPPRESSED, granted.refusal(needed))
        elif not _address_ok(channel, row):
            decide(channel, SUPPRESSED, "invalid_address")
        else:
            decide(channel, SEND)
    if not campaign.message_channels:
        return decisions
    # One message per person, on the first channel in the campaign's order with consent and a usable address.
    if blocked:
        decide(reachable[0], SUPPRESSED, blocked)
    else:
        used[ck] += 1
        decide(reachable[0], SEND)
    return decisions


def plan_window(
    campaigns: Iterable[Campaign],
    audiences: dict[str, list[dict[str, Any]]],
    consents: dict[str, Consent],
    ledger: Ledger,
    window: date,
    now: datetime,
    rules: Rules,
) -> dict[str, list[Decision]]:
    """Every campaign's decisions for one send window; higher priority (lower number) claims the cap first."""
    since = (window - timedelta(days=rules.frequency_days - 1)).isoformat()
    used = ledger.touched_per_customer(since, window.isoformat(), MESSAGE_CHANNELS)
    plans: dict[str, list[Decision]] = {}
    for campaign in sorted(campaigns, key=lambda c: (c.priority, c.name)):
        rows = audiences.get(campaign.name)
        if rows is None:
            continue
        cooling = ledger.last_touched(campaign.name, window.isoformat()) if campaign.cooldown_days else {}
        quiet = campaign.is_quiet(now)
        plans[campaign.name] = [
            d
            for row in rows
            for d in _decide_row(
                campaign, row, consents.get(row["customer_key"], Consent()), cooling, quiet, used, rules, window
            )
        ]
    return plans


def summarise(decisions: list[Decision]) -> dict[str, int]:
    """Counts for the plan: people held out, and per channel sent / suppressed by reason."""
    counts: Counter = Counter()
    for d in decisions:
        if d.status == HELD_OUT:
            counts["held_out"] += 1
        elif d.status == SEND:
            counts[f"{d.channel}_to_send"] += 1
        else:
            counts[f"{d.channel}_suppressed_{d.reason}"] += 1
    return dict(sorted(counts.items()))


def check_guard(campaign: Campaign, size: int, last: int | None, approved: bool) -> str | None:
    """None when the audience size is within the campaign's guard against its last run, else why not."""
    if last is None:
        return None
    change = size - last
    if abs(change) < campaign.guard_min_rows or abs(change) <= campaign.guard_max_change * max(last, 1):
        return None
    message = (
        f"{campaign.name}: the audience has {size} people against {last} at the last run ({change:+d}, "
        f"{change / max(last, 1):+.0%}), beyond guard_max_change {campaign.guard_max_change:.0%}"
    )
    if approved:
        return None
    return message + (
        "; nothing was sent. Check the audience, then re-run with approve_audience_change: true"
        f" (from the command line: hourglass activate {campaign.name} --approve)."
    )


def build_message(campaign: Campaign, decision: Decision, window: str) -> dict[str, Any]:
    row, channel = decision.row, decision.channel
    message = {
        "key": decision.key,
        "campaign": campaign.name,
        "channel": channel,
        "send_window": window,
        "customer_key": decision.customer_key,
        "customer_id": row.get("customer_id"),
    }
    if channel == "email":
        message.update(
            to=row["email"],
            language=row.get("language"),
            **messages.render_email(campaign.template, row, campaign.name),
        )
    elif channel == "sms":
        _, text = messages.render(campaign.template, "sms", row, campaign.name)
        message.update(to=row["phone"], payload={"to": row["phone"], "text": text.strip(), "reference": decision.key})
    elif channel in PLATFORMS:
        message["payload"] = {"hashes": hashed_identifiers(row, channel)}
    else:  # webhook: what the CRM needs to know, no contact details
        message["payload"] = {
            "customer_key": decision.customer_key,
            "customer_id": row.get("customer_id"),
            "campaign": campaign.name,
            "send_window": window,
            "member": True,
            **{f: row[f] for f in PROFILE_FIELDS if f in row},
            **{f: row.get(f) for f in campaign.webhook_fields},  # e.g. why the service desk should follow up
        }
    return message


def record_plan(ledger: Ledger, campaign: str, decisions: list[Decision], window: str) -> None:
    """Before anything goes out: the window's sends as planned, and the messages its holdout stands in for as held
    out (so that cooldown and the frequency cap count the held-out people as they count the sent ones)."""
    ledger.plan((d.key, campaign, d.customer_key, d.channel, window) for d in decisions if d.status == SEND)
    ledger.hold_out(
        (d.key, campaign, d.customer_key, d.channel, window) for d in decisions if d.status == HELD_OUT and d.key
    )


@dataclass
class SendReport:
    counts: Counter = field(default_factory=Counter)  # sent, failed, rejected, already_sent, waiting_retry, ...
    errors: list[str] = field(default_factory=list)

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] += n


def send_campaign(
    campaign: Campaign,
    decisions: list[Decision],
    senders: dict[str, Sender],
    ledger: Ledger,
    window: str,
    batch_size: int = 200,
    log: Callable[[str], None] = print,
    backoff_seconds: float = 60.0,
    owner: ClaimOwner | None = None,
    claim_seconds: float = 300.0,
) -> SendReport:
    """Deliver every planned message that has not gone out yet; one channel failing leaves the others going.

    Each batch is claimed in the ledger just before it goes out, so another sender of the campaign running at
    the same time takes the keys this one has not claimed, and each key goes out from one sender.
    """
    report = SendReport()
    owner = owner or ClaimOwner(run_id="send")
    to_send = [d for d in decisions if d.status == SEND]
    record_plan(ledger, campaign.name, decisions, window)
    unavailable = ledger.unavailable((d.key for d in to_send), owner)
    due: dict[str, list[Decision]] = defaultdict(list)
    for d in to_send:
        if d.key in unavailable:
            report.add(unavailable[d.key])
        else:
            due[d.channel].append(d)
    for channel, pending in due.items():
        sender = senders[channel]
        try:
            for start in range(0, len(pending), batch_size):
                built = [build_message(campaign, d, window) for d in pending[start : start + batch_size]]
                claimed = ledger.claim([m["key"] for m in built], owner, claim_seconds)
                for why in claimed.left.values():
                    report.add(why)
                batch = [m for m in built if m["key"] not in claimed.left]
                if not batch:
                    continue
                if claimed.resumed:  # another sender had them out: its claim expired or its process is gone
                    report.add("resumed_in_flight", len(claimed.resumed))
                    if not sender.idempotent:
                        report.add("possibly_duplicated", len(claimed.resumed))
                stopped = None
                try:
                    with ledger.holding(claimed.taken, owner, claim_seconds):
                        outcomes = sender.deliver(batch)
                except ChannelUnavailable as exc:  # nothing more goes out on it: what was not tried is due again now
                    stopped, tried = exc, {o.key for o in exc.outcomes}
                    untried = [
                        Outcome(k, "failed", f"not sent: {describe(exc)}", 0.0) for k in claimed.taken if k not in tried
                    ]
                    outcomes = [*exc.outcomes, *untried]
                except Exception as exc:  # noqa: BLE001 - one destination's failure must not stop the others
                    outcomes = [Outcome(k, "failed", describe(exc)) for k in claimed.taken]
                except BaseException:
                    ledger.release(claimed.taken, owner)  # interrupted: whoever sends next resumes the batch
                    raise
                lost = set(ledger.record(outcomes, owner, backoff_seconds))
                for o in outcomes:
                    if o.key in lost:  # this sender stalled past its claim: another took the key over
                        report.add("claim_lost")
                        if o.status == "sent" and not sender.idempotent:
                            report.add("possibly_duplicated")
                        continue
                    report.add(o.status)
                    if o.status == "sent" and o.reason == RESENT:
                        report.add("possibly_duplicated")
                    if o.status == "rejected":
                        report.add(f"{channel}_rejected")
                    elif o.status == "failed":
                        report.add(f"{channel}_failed")
                if lost:
                    log(f"{campaign.name}: {len(lost)} {channel} keys were taken over by another sender mid-send")
                if stopped:
                    raise stopped
        except Exception as exc:  # noqa: BLE001
            problem = describe(exc, limit=None)
            report.errors.append(f"{channel}: {problem}")
            log(f"{campaign.name}: channel {channel} stopped: {problem}")
    for sender in senders.values():
        try:
            sender.finish()
        except Exception as exc:  # noqa: BLE001
            report.errors.append(f"finish: {describe(exc, limit=None)}")
    return report


RECEIPT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("campaign", pa.string()),
        ("send_window", pa.date32()),
        ("customer_key", pa.string()),
        ("channel", pa.string()),
        ("message_key", pa.string()),
        ("status", pa.string()),  # sent, failed, rejected, suppressed, held_out (on the channel it stood in for)
        ("reason", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)


def import_landed_receipts() -> int:
    """Receipts of sends made elsewhere (an earlier sender, the sample's campaign history), delivered to
    landing/activation_receipts/load_date=<send window>/*.parquet in RECEIPT_SCHEMA, moved into the lake beside
    this activation's own; how many files. Moved, not copied: what the lake holds is the one copy to forget from."""
    moved = 0
    for file in sorted((settings.landing_dir() / RECEIPTS).glob(f"{lake.PARTITION_COLUMN}=*/*.parquet")):
        schema = pq.read_schema(file)
        if not schema.remove_metadata().equals(RECEIPT_SCHEMA):
            raise ValueError(f"{file}: not in the receipts' schema ({', '.join(RECEIPT_SCHEMA.names)})")
        target = lake.raw_dataset(RECEIPTS) / file.parent.name / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            file.replace(target)
        except FileNotFoundError:  # another process moved it first
            continue
        moved += 1
    return moved


def ensure_receipts() -> None:
    """dbt reads the receipts as a source before any campaign has run: give it an empty typed file to read."""
    import_landed_receipts()
    lake.ensure_table(lake.raw_dataset(RECEIPTS), lake.STUB_DAY, RECEIPT_SCHEMA.empty_table())


def write_receipts(campaign: str, decisions: list[Decision], ledger: Ledger, window: date, run_id: str) -> int:
    """Every decision of this run, with the ledger's final state for sends, as a Parquet file in the lake."""
    states = ledger.states(d.key for d in decisions if d.status == SEND)
    moment = datetime.now().astimezone()
    rows = []
    for d in decisions:
        status, reason = d.status, d.reason
        if d.status == SEND:
            status = states[d.key][0] if d.key in states else "planned"
            status = {"planned": "failed", "sending": "failed"}.get(status, status)
        rows.append(
            {
                "run_id": run_id,
                "campaign": campaign,
                "send_window": window,
                "customer_key": d.customer_key,
                "channel": d.channel,
                "message_key": d.key,
                "status": status,
                "reason": reason,
                "recorded_at": moment,
            }
        )
    folder = lake.partition_dir(lake.raw_dataset(RECEIPTS), window)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{campaign}-{run_id}.parquet"
    tmp = folder / f".{target.name}.tmp"
    pq.write_table(pa.Table.from_pylist(rows, schema=RECEIPT_SCHEMA), tmp)
    tmp.replace(target)
    return len(rows)


@dataclass
class Channels:
    """The channel resources; a message channel without its endpoint configured writes to the outbox."""

    outbox: Any
    smtp: Any
    sms: Any
    webhook: Any
    ad_audiences: Any

    def senders(self, campaign: Campaign, window: str) -> dict[str, Sender]:
        found: dict[str, Sender] = {}
        for channel in campaign.channels:
            if channel in PLATFORMS:
                found[channel] = self.ad_audiences.sender_for(channel, campaign.name, window)
                continue
            resource = {"email": self.smtp, "sms": self.sms, "webhook": self.webhook}[channel]
            if resource.configured():
                found[channel] = resource.sender_for()
            else:
                found[channel] = self.outbox.sender(channel, campaign.name, window)
        return found


def read_audience(model_name: str) -> list[dict[str, Any]]:
    path = settings.audience_export(model_name)
    if not path.exists():
        raise FileNotFoundError(f"audience export {path} is missing: materialise the dbt model {model_name} first")
    rows = pq.read_table(path).sort_by("customer_key").to_pylist()
    # dbt-duckdb writes an empty external model as one all-null row to keep the schema (its view filters it).
    return [row for row in rows if any(value is not None for value in row.values())]


def run_campaign(
    campaign: Campaign,
    campaigns: list[Campaign],
    channels: Channels,
    run_id: str,
    approve_audience_change: bool = False,
    window: date | None = None,
    observe: Callable[[dict[str, Any]], None] = lambda _: None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Plan the window over every campaign, check the guard, send this campaign's part, write receipts."""
    window, now, rules = window or settings.as_of_date(), settings.now(), Rules.from_env()
    audiences = {campaign.name: read_audience(campaign.name)}
    for other in campaigns:
        if other.name != campaign.name and settings.audience_export(other.name).exists():
            audiences[other.name] = read_audience(other.name)
    people = {row["customer_key"]: row for rows in audiences.values() for row in rows}
    consents = current_consent(people.values())
    rows = audiences[campaign.name]
    with Ledger(settings.ledger_path()) as ledger:
        decisions = plan_window(campaigns, audiences, consents, ledger, window, now, rules)[campaign.name]
        plan = {"audience_size": len(rows), "send_window": window.isoformat(), **summarise(decisions)}
        observe(plan)
        problem = check_guard(campaign, len(rows), ledger.last_run(campaign.name), approve_audience_change)
        if problem:
            raise GuardError(problem)
        claim_seconds = settings.float_setting("HOURGLASS_CLAIM_SECONDS", 300.0)
        if claim_seconds <= 0:
            raise ValueError(f"HOURGLASS_CLAIM_SECONDS must be more than 0, got {claim_seconds}")
        senders = channels.senders(campaign, window.isoformat())
        try:
            report = send_campaign(
                campaign,
                decisions,
                senders,
                ledger,
                window.isoformat(),
                settings.int_setting("HOURGLASS_SEND_BATCH", 200),
                log,
                settings.float_setting("HOURGLASS_RETRY_BACKOFF_SECONDS", 60.0),
                ClaimOwner(run_id),
                claim_seconds,
            )
        finally:
            for sender in senders.values():
                sender.close()
        receipts = write_receipts(campaign.name, decisions, ledger, window, run_id)
        if report.errors:  # a broken template or channel set-up: the other channels went out, this one must be fixed
            raise ActivationError(f"{campaign.name}: " + "; ".join(report.errors))
        planned = sum(1 for d in decisions if d.status == SEND)
        ledger.record_run(campaign.name, window.isoformat(), run_id, len(rows), planned)
        outcomes = ledger.counts(campaign.name)
    return {
        **plan,
        **{f"result_{name}": n for name, n in sorted(report.counts.items())},
        "receipts": receipts,
        "ledger_sent_total": outcomes.get("sent", 0),
    }
