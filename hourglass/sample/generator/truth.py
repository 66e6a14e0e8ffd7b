"""_truth/: who is really behind every record (persons.parquet) and what was planted (planted.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .defects import SourceResult
from .people import People

SYSTEM_SOURCES = {
    "crm": ("crm_customers", "subscriptions"),
    "leads": ("leads",),
    "erp": ("erp_orders",),
    "esp": ("esp_events",),
    "ga4": ("ga4_web",),
    "service_desk": ("service_tickets",),
    "nps": ("nps_responses",),
    "social": ("social_mentions",),
}
SYSTEMS = tuple(SYSTEM_SOURCES)
SYSTEM_OF_SOURCE = {src: sys for sys, srcs in SYSTEM_SOURCES.items() for src in srcs}


def normalised_email(col: pa.Array) -> pa.Array:
    return pc.utf8_lower(pc.utf8_trim_whitespace(col))


def email_stats(res: SourceResult, p: People) -> dict | None:
    """For one source: rows whose e-mail differs from its normalised form, and rows per shared address."""
    if res.email_rows is not None:
        col, weight = res.email_rows
    else:
        col = res.columns.get("email")
        if col is None:
            return None
        weight = np.ones(len(col), np.int64)
    norm = normalised_email(col)
    differs = pc.fill_null(pc.not_equal(col, norm), False).to_numpy(zero_copy_only=False)
    idx = pc.index_in(norm, value_set=pa.array(p.shared_emails, pa.string())).to_numpy(zero_copy_only=False)
    known = ~np.isnan(idx) if idx.dtype.kind == "f" else idx >= 0
    per_address = np.bincount(idx[known].astype(np.int64), weights=weight[known], minlength=len(p.shared_emails))
    return {"variants": int(weight[differs].sum()), "per_address": per_address.astype(np.int64)}


def email_facts(stats: dict[str, dict | None], p: People) -> dict:
    """Per source: rows whose e-mail differs only in case or surrounding spaces; rows per shared address."""
    variants = {name: st["variants"] for name, st in stats.items() if st is not None}
    members = np.bincount(p.shared_group[p.shared_group >= 0], minlength=len(p.shared_emails))
    addresses = []
    for g, address in enumerate(p.shared_emails):
        by_source = {
            name: int(st["per_address"][g]) for name, st in stats.items() if st is not None and st["per_address"][g]
        }
        addresses.append(
            {
                "email": address,
                "kind": p.shared_kind[g],
                "persons": int(members[g]),
                "records": int(sum(by_source.values())),
                "records_by_source": by_source,
            }
        )
    return {"case_or_whitespace_variant_rows": variants, "shared_emails": addresses}


def persons_table(results: dict[str, SourceResult]) -> pa.Table:
    sources, ids, persons = [], [], []
    for name, res in results.items():
        sources.append(pa.array(np.full(len(res.record_ids), name, dtype=object), pa.string()))
        ids.append(res.record_ids.cast(pa.string()))
        rp = np.asarray(res.record_person, dtype=np.int64)
        persons.append(pa.array(rp, mask=rp <= 0))
    return pa.table(
        {
            "source": pa.concat_arrays(sources) if sources else pa.array([], pa.string()),
            "record_id": pa.concat_arrays(ids) if ids else pa.array([], pa.string()),
            "person_id": pa.concat_arrays(persons) if persons else pa.array([], pa.int64()),
        }
    )


def identity_facts(table: pa.Table, p: People) -> dict:
    person = table["person_id"].to_numpy(zero_copy_only=False)
    src = pc.dictionary_encode(table["source"]).combine_chunks().indices.to_numpy()
    known = ~np.isnan(person) if person.dtype.kind == "f" else np.ones(len(person), bool)
    pid = person[known].astype(np.int64)
    names = pc.dictionary_encode(table["source"]).combine_chunks().dictionary.to_pylist()
    present = np.zeros((p.n + 1, len(names)), bool)
    present[pid, src[known]] = True
    per_person = present.sum(axis=1)[1:]
    hist = np.bincount(per_person)
    system_of = np.array([SYSTEMS.index(SYSTEM_OF_SOURCE.get(s, s)) for s in names])
    in_system = np.zeros((p.n + 1, len(SYSTEMS)), bool)
    for j, sys_idx in enumerate(system_of):
        in_system[:, sys_idx] |= present[:, j]
    per_person_sys = in_system.sum(axis=1)[1:]
    return {
        "persons": p.n,
        "persons_with_crm_record": int(p.has_crm.sum()),
        "prospects_without_crm_record": int((~p.has_crm).sum()),
        "persons_in_more_than_one_source": int((per_person > 1).sum()),
        "persons_in_more_than_one_system": int((per_person_sys > 1).sum()),
        "systems": {s: [k for k in SYSTEM_SOURCES[s]] for s in SYSTEMS},
        "persons_by_number_of_sources": {str(k): int(v) for k, v in enumerate(hist) if k and v},
        "crm_customers_who_were_leads": int((p.has_crm & p.in_leads).sum()),
        "segments": {
            "young_16_30": int((p.young & p.has_crm).sum()),
            "double_income_no_kids": int((p.dink & p.has_crm).sum()),
            "expats": int((p.expat & p.has_crm).sum()),
            "note": "counts among persons with a CRM record",
        },
    }


def write(
    folder: Path,
    results: dict[str, SourceResult],
    files: dict[str, str],
    p: People,
    funnel: dict,
    meta: dict,
    emails: dict,
    campaigns: dict,
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    table = persons_table(results)
    pq.write_table(table, folder / "persons.parquet", compression="zstd")
    sources = {}
    for name, res in results.items():
        bad = sum(res.defects.values())
        sources[name] = {
            "file": files[name],
            "rows": res.rows,
            "valid": res.rows - bad,
            "bad": bad,
            "defects": dict(sorted(res.defects.items())),
            "valid_variants": dict(sorted(res.variants.items())),
        }
        if res.facts:
            sources[name]["facts"] = dict(sorted(res.facts.items()))
    identity = identity_facts(table, p)
    identity.update(emails)
    planted = {
        "generator": meta,
        "sources": sources,
        "identity": identity,
        "web_funnel": funnel,
        "campaign_history": {
            "definition": (
                "past sends of each campaign (landing/activation_receipts, see hourglass/sample/generator/history.py);"
                " planted_uplift: the true difference in the share converting within the attribution window,"
                " treated against held out, over the people and send windows of the campaign's experiment"
            ),
            "campaigns": campaigns,
        },
    }
    (folder / "planted.json").write_text(
        json.dumps(planted, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8"
    )
