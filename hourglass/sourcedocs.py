"""docs/sources.md, written from the contracts so the page and the loader cannot disagree.

Regenerate with `hourglass docs`; a test fails when the committed page is out of date.
"""

import csv
import io
import tempfile
from datetime import date
from pathlib import Path

from hourglass import lake, phone, settings
from hourglass.sources import CONTRACTS, DATE_FORMATS, RESERVED_PREFIX, TIMESTAMP_FORMATS, SourceContract

DOC_PATH = settings.PROJECT_ROOT / "docs" / "sources.md"
EXAMPLE_AS_OF = date(2026, 11, 20)


def _phone_lengths() -> str:
    spans = {iso: c["nsn"] for iso, c in phone.countries().items()}
    return ", ".join(f"{iso} {lo}" + (f"-{hi}" if hi > lo else "") for iso, (lo, hi) in spans.items())


INTRO = f"""# Landing contracts

Every source delivers CSV files into `HOURGLASS_HOME/landing/<source>/`, named `<source>_YYYY-MM-DD.csv` (more
files for the same day may add a suffix: `<source>_YYYY-MM-DD_<anything>.csv`). The date in the name is the
**load date**: the lake keeps one partition per source and load date, `lake/raw/<source>/load_date=YYYY-MM-DD/`,
and loading a date again replaces that partition. A file without a date in its name takes the day it was last
modified. Files starting with `.` or `_` are ignored.

How a file is read:
- The first line is the header; columns are matched by name, in any order, ignoring case as SQL does (`EMAIL`
  is the contract's `email` and lands as `email`).
- **Required columns** must be in the header; an optional column a file lacks lands empty, with its type.
- **Refused files.** A file the loader cannot read as a whole is refused: its load date fails with an error
  naming the file and, where there is one, the column, and the lake keeps the data it had. The source's other
  load dates still load; the error lists every refused file. Errors never quote values from the file's rows.
  A file is refused when
  - it has no header line (its first line names none of the contract's columns), or lacks a required column;
  - a header column has no name, a broken name (a quote, the delimiter or a control character), or a name
    that appears twice, ignoring case (`email` and `EMAIL`);
  - a column takes a reserved name: any name starting with `{RESERVED_PREFIX}` (the loader's own columns), or
    `{lake.PARTITION_COLUMN}` or `{lake.SOURCE_FILE_COLUMN}` (the lake's partition and lineage columns), in any case;
  - a quote does not close where its field ends and runs over line breaks: which of the lines after it are
    rows cannot be told, so none is guessed at (a quote left open on the last line quarantines that line only);
  - the CSV reader gives up on it (line endings mixed within the file);
  - its name holds an impossible date (`2026-02-31`): that file alone, until it is renamed.
- **Required values** must be non-empty; a row without one is quarantined.
- **Types** are checked per value: `integer`, `decimal` (the source's decimal mark; Dutch exports may write
  `1.234,50`), `date` ({", ".join(f"`{f}`" for f in DATE_FORMATS)}), `timestamp`
  ({", ".join(f"`{f}`" for f in TIMESTAMP_FORMATS)}), `boolean` (`true/false`, `1/0`, `yes/no`, `ja/nee`),
  `email` (something@domain.tld, surrounding spaces allowed). An empty value is missing, never invalid.
- **Phone numbers** (`phone`) land as typed. Staging writes them in E.164 (`+31201234567`) by one rule,
  `dbt_project/macros/phone.sql`, which the ad audiences' hashing and the SMS check use too. Spaces, dots,
  dashes, slashes and parentheses are ignored. `+` or `00` starts the country code, and a trunk 0 after it is
  dropped: `+31 (0)20 123 4567`, `0031 020 1234567` -> `+31201234567`. A number with one leading 0 is national,
  of the row's `country` ({", ".join(phone.countries())}; leads, and a row without a country: NL): `06 12 34 56 78` ->
  `+31612345678`, `0470 12 34 56` in a BE row -> `+32470123456`. Anything else becomes empty, never a guess
  (a guessed number reaches somebody else): letters, a lone `+`, digits without `+`, `00` or `0` in front, a
  national number of another country, or a wrong length. Lengths after the country code:
  {_phone_lengths()}; other countries 8-15 digits in all.
- A row that breaks a rule, and a line the CSV reader cannot split (wrong number of fields, broken quotes,
  a truncated last line), goes to `lake/quarantine/<source>/load_date=.../` with the reason and the raw fields.
  rows in = rows loaded + rows quarantined, shown on the asset in Dagster; the check `quarantined_share`
  warns above `HOURGLASS_QUARANTINE_WARN_SHARE` (default 0.02).
- **Other columns** are kept as text: a source that gains a column can be selected downstream at once.
- Fields may be quoted with `"` (a quote inside is doubled); quoted fields may contain line breaks and the
  delimiter. UTF-8 files may start with a byte-order mark. An empty file is a load of zero rows, and a source
  that has delivered nothing yet is an empty table with the contract's columns, so the models downstream run.
- Several versions of the same key may arrive (an updated customer): the lake keeps them all, and staging
  keeps the newest by the version column.
"""


def _range(column) -> str:
    if column.min_value is None and column.max_value is None:
        return ""
    return f" {column.min_value:g}..{column.max_value:g}"


def _section(contract: SourceContract, example: list[str]) -> str:
    fmt = [
        f"- encoding: {contract.encoding}, delimiter: `{contract.delimiter}`, decimal mark: `{contract.decimal}`",
        f"- key: {', '.join(f'`{k}`' for k in contract.key)}"
        + (f"; newest version by `{contract.version_column}`" if contract.version_column else ""),
        *(f"- {note}" for note in contract.notes),
        *(f'- a row is quarantined as "{reason}" when `{cond}`' for cond, reason in contract.rules),
        *(
            [f"- a repeated {'/'.join(f'`{k}`' for k in contract.key)} within a file is quarantined as a duplicate"]
            if not contract.duplicate_keys_allowed
            else []
        ),
    ]
    rows = "\n".join(
        f"| `{c.name}` | {c.type}{_range(c)} | {'yes' if c.required else ''} | {c.description} |"
        for c in contract.columns
    )
    parts = [
        f"## `{contract.name}`",
        "",
        contract.description,
        "",
        *fmt,
        "",
        "| column | type | required | meaning |",
        "|---|---|---|---|",
        rows,
    ]
    if example:
        parts += ["", "Example (from `hourglass generate`):", "", "```csv", *example, "```"]
    return "\n".join(parts)


def _examples() -> dict[str, list[str]]:
    from hourglass.sample.generator import generate

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out=out, customers=400, seed=1, as_of=EXAMPLE_AS_OF)
        examples = {}
        for name, contract in CONTRACTS.items():
            path = out / name / f"{name}_{EXAMPLE_AS_OF}.csv"
            encoding = "utf-8-sig" if contract.encoding == "utf-8" else contract.encoding
            with path.open(encoding=encoding, newline="") as fh:
                rows = list(csv.reader(fh, delimiter=contract.delimiter))
            # Rows from the middle: the planted defects are spread thin there, and multi-line texts stay whole.
            middle = [r for r in rows[len(rows) // 2 :] if not any("\n" in v for v in r)][:2]
            buffer = io.StringIO()
            csv.writer(buffer, delimiter=contract.delimiter, lineterminator="\n").writerows([rows[0], *middle])
            examples[name] = buffer.getvalue().splitlines()
        return examples


def render() -> str:
    examples = _examples()
    reference = (
        "## Reference data\n\n`dbt_project/seeds/ref_postcode_regions.csv` (a dbt seed): Dutch 4-digit postcode "
        "area -> city, province, region, urbanity (CBS scale, 1 = very strongly urban ... 5 = not urban) and "
        "income band."
    )
    sections = [_section(c, examples.get(c.name, [])) for c in CONTRACTS.values()]
    return "\n\n".join([INTRO.rstrip(), *sections, reference]) + "\n"


def write() -> Path:
    DOC_PATH.write_text(render(), encoding="utf-8")
    return DOC_PATH
