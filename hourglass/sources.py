"""Landing contracts: what each source delivers, column by column.

One definition serves three readers: the generator writes exactly this, the loader checks files against
it, and docs/sources.md describes it for users. Types are the *logical* types a column is read as; every
landing file is read as text first so that a bad value quarantines its row instead of failing the load.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hourglass import settings

# The loader's own columns beside a file's are named with this prefix; a source column may not start with it.
RESERVED_PREFIX = "__hg_"

# A value of the type `email`: something@domain.tld, without spaces. The loader quarantines any other value (in
# DuckDB) and activation sends to no other address (in Python).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

# Accepted spellings, tried in order. Dutch exports write day-month-year.
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y")
TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M")


# The type each contract type has in the lake; the others (string, email, phone) are text.
SQL_TYPES = {
    "integer": "bigint",
    "decimal": "decimal(18, 2)",
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # string | integer | decimal | date | timestamp | boolean | email | phone
    required: bool = False
    description: str = ""
    min_value: float | None = None  # numbers outside [min_value, max_value] are quarantined
    max_value: float | None = None

    @property
    def sql_type(self) -> str:
        return SQL_TYPES.get(self.type, "varchar")


@dataclass(frozen=True)
class SourceContract:
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    encoding: str = "utf-8"  # utf-8 files may start with a byte-order mark
    delimiter: str = ","
    decimal: str = "."
    file_pattern: str = "{name}_YYYY-MM-DD.csv"
    version_column: str | None = None  # newest version of a duplicated key wins downstream
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Row rules beyond single values: (SQL condition that makes a row bad, reason). `{column}` stands for the
    # column's typed value.
    rules: tuple[tuple[str, str], ...] = ()

    @property
    def duplicate_keys_allowed(self) -> bool:
        """Without a version column a repeated key is a duplicate delivery: the repeat is quarantined."""
        return self.version_column is not None

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _consent(channel_purpose: str) -> tuple[Column, Column]:
    return (
        Column(f"consent_{channel_purpose}", "boolean", description="true, false or empty (never asked)"),
        Column(
            f"consent_{channel_purpose}_at", "timestamp", description="when the consent was last given or withdrawn"
        ),
    )


# The consents each source records (dbt_project.yml vars, shared with the consent rules in dbt).
CONSENT_PURPOSES = tuple(settings.dbt_vars()["consent_purposes"])
LEAD_CONSENT_PURPOSES = tuple(settings.dbt_vars()["lead_consent_purposes"])
# Where consent decisions come from (CRM consents, lead forms, ESP unsubscribes and complaints), in the order the
# dbt macro consent_states takes them: activation reads them at send time, so they feed every campaign.
CONSENT_SOURCES = ("crm_customers", "leads", "esp_events")

CONTRACTS: dict[str, SourceContract] = {
    c.name: c
    for c in (
        SourceContract(
            name="crm_customers",
            description="Customer records from the CRM, a full export; a customer updated twice appears twice.",
            key=("customer_id",),
            version_column="updated_at",
            columns=(
                Column("customer_id", "string", True, "CRM id, e.g. C0000001"),
                Column("first_name", "string"),
                Column("last_name", "string"),
                Column("email", "email", description="as typed: case and surrounding spaces vary"),
                Column("phone", "phone", description="as typed: national (in `country`) or international"),
                Column("birth_date", "date"),
                Column("postcode", "string", description="Dutch postcode, 1234 AB"),
                Column("city", "string"),
                Column("country", "string", description="ISO 3166-1 alpha-2; empty: NL"),
                Column("household_partner", "boolean"),
                Column("household_children", "integer"),
                Column("language", "string", description="preferred language: nl, en, de, fr"),
                Column("created_at", "timestamp", True),
                Column("updated_at", "timestamp", True),
                *(col for p in CONSENT_PURPOSES for col in _consent(p)),
            ),
        ),
        SourceContract(
            name="leads",
            description="Prospects from web forms and events; they have no CRM id yet.",
            key=("lead_id",),
            columns=(
                Column("lead_id", "string", True, "form or event registration id, e.g. L0000001"),
                Column("email", "email"),
                Column("first_name", "string"),
                Column("last_name", "string"),
                Column("phone", "phone", description="as typed; a national number is Dutch"),
                Column("source", "string", description="web_form, event, newsletter_signup, competition"),
                Column("event_name", "string"),
                Column("interest", "string", description="theatre, workshop, magazine"),
                Column("created_at", "timestamp", True),
                *(col for p in LEAD_CONSENT_PURPOSES for col in _consent(p)),
            ),
        ),
        SourceContract(
            name="subscriptions",
            description="Magazine and season-ticket subscriptions.",
            key=("subscription_id",),
            version_column="updated_at",
            columns=(
                Column("subscription_id", "string", True),
                Column("customer_id", "string", True),
                Column("product", "string", True, "magazine_print, magazine_digital, season_ticket"),
                Column("start_date", "date", True),
                Column("end_date", "date", description="empty while open-ended"),
                Column("status", "string", True, "active, paused, cancelled, expired"),
                Column("price_eur", "decimal"),
                Column("updated_at", "timestamp", True),
            ),
        ),
        SourceContract(
            name="erp_orders",
            description="Order lines from the ERP: tickets, workshop registrations, merchandise.",
            key=("order_id", "line_no"),
            version_column="updated_at",
            encoding="latin-1",
            delimiter=";",
            decimal=",",
            notes=(
                "A Dutch-locale export: Latin-1, `;` between fields, decimal commas, day-month-year dates.",
                "A refund arrives as a new line with status `refunded` and negative quantity and amount; the "
                "original line stays `completed`.",
            ),
            # CASE, not AND: DuckDB evaluates both sides of an AND for every row, and lower(trim(status)) on
            # all of them cost the loader more than the rest of the rule; a CASE looks at the status of a
            # negative line only (the outcome is the same, a NULL counting as false).
            rules=(
                (
                    "case when {line_amount} < 0 or {quantity} < 0 then lower(trim({status})) <> 'refunded' end",
                    "negative amount on a line that is not a refund",
                ),
            ),
            columns=(
                Column("order_id", "string", True),
                Column("line_no", "integer", True),
                Column("customer_id", "string", description="empty for guest orders, which carry an e-mail"),
                Column("email", "email", description="guest checkout e-mail"),
                Column("order_at", "timestamp", True),
                Column("product_id", "string", True, "e.g. WS-keramiek-voor-beginners, TH-2026-11-12-hamlet"),
                Column("product_name", "string"),
                Column("category", "string", True, "ticket, workshop, merchandise"),
                Column("event_date", "date", description="performance or workshop date"),
                Column("quantity", "integer", True),
                Column("unit_price", "decimal", True),
                Column("line_amount", "decimal", True, "negative only on refund lines"),
                Column("currency", "string", True, "ISO 4217, EUR"),
                Column("status", "string", True, "completed, cancelled, refunded"),
                Column("updated_at", "timestamp", True),
            ),
        ),
        SourceContract(
            name="esp_events",
            description="The e-mail service provider's event export.",
            key=("event_id",),
            notes=("UTF-8 with a byte-order mark, as the ESP writes it.",),
            columns=(
                Column("event_id", "string", True),
                Column("subscriber_id", "string", True, "the ESP's own id for an address"),
                Column("email", "email"),
                Column(
                    "event_type", "string", True, "send, delivered, open, click, bounce, unsubscribe, spam_complaint"
                ),
                Column("event_at", "timestamp", True),
                Column("mailing_id", "string", description="the ESP mailing (newsletter issue or campaign)"),
                Column("url", "string", description="clicked URL, for clicks"),
                Column("tracking_id", "string", description="opaque visitor id carried by the link into GA4"),
            ),
        ),
        SourceContract(
            name="ga4_web",
            description=(
                "Google Analytics 4 report rows, one per day, visitor, source/medium, page and event. In production "
                "they come from the Data API; the emulator serves this file over the same API."
            ),
            key=("date", "visitor_id", "session_source_medium", "page_path", "event_name"),
            columns=(
                Column("date", "date", True, "the property's local date"),
                Column("visitor_id", "string", True, "user-scoped custom dimension customUser:hg_visitor_id"),
                Column("session_source_medium", "string", True, "e.g. newsletter / email, google / organic"),
                Column("page_path", "string", True),
                Column("event_name", "string", True, "page_view, workshop_signup_start, workshop_signup_complete, ..."),
                Column("event_count", "integer", True),
                Column("sessions", "integer", True),
                Column("engagement_seconds", "decimal", True),
            ),
        ),
        SourceContract(
            name="service_tickets",
            description="Questions and complaints from the service desk.",
            key=("ticket_id",),
            columns=(
                Column("ticket_id", "string", True),
                Column("customer_id", "string"),
                Column("email", "email"),
                Column("opened_at", "timestamp", True),
                Column("channel", "string", True, "email, phone, chat, counter"),
                Column("category", "string", True, "tickets, workshops, magazine, billing, accessibility, other"),
                Column("is_complaint", "boolean", True),
                Column("satisfaction", "integer", description="1-5, empty when not rated", min_value=1, max_value=5),
                Column("resolution_hours", "decimal"),
                Column("status", "string", True, "open, resolved"),
            ),
        ),
        SourceContract(
            name="nps_responses",
            description="Net Promoter Score survey answers.",
            key=("response_id",),
            notes=("Comments are free text: quoted, and may contain line breaks and `;`.",),
            columns=(
                Column("response_id", "string", True),
                Column("customer_id", "string"),
                Column("email", "email"),
                Column("score", "integer", True, "0-10", min_value=0, max_value=10),
                Column("comment", "string"),
                Column("touchpoint", "string", True, "performance, workshop, magazine, website, service"),
                Column("responded_at", "timestamp", True),
            ),
        ),
        SourceContract(
            name="social_mentions",
            description="Mentions of the organisation on social media, from the listening tool.",
            key=("mention_id",),
            columns=(
                Column("mention_id", "string", True),
                Column("platform", "string", True, "instagram, facebook, x, tiktok, linkedin"),
                Column("handle", "string", True),
                Column("text", "string"),
                Column("sentiment", "string", description="positive, neutral, negative"),
                Column("customer_id", "string", description="where the listening tool knows the customer"),
                Column("posted_at", "timestamp", True),
            ),
        ),
    )
}
