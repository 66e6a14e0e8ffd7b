"""Connected components over records and the identifiers they share: one component is one person.

Records and identifiers are the nodes of one undirected graph; each unblocked link is an edge. SciPy's
connected_components labels the graph exactly (no fixed number of SQL iterations to get wrong). DuckDB
numbers the nodes, so Python handles integer arrays only; the strings stay in Arrow.
Each component is named by its anchor: its smallest CRM record, else its smallest record; the customer key
(identity_map) is a hash of the anchor, so keys stay the same from run to run while the data does not change.

Incremental: a nightly run recomputes only the components that changed. int_identity_guarded_links writes
again every record whose links changed and every record carrying an identifier that changed (gained or lost a
record, or its guard); those records and everyone in their old components is the scope. No unchanged link
leaves the scope: the other end of such a link was in the same old component. So the components within it are
the whole graph's, and the rest of the table stays as it is.
"""

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SCOPE = """
    with changed as (
        select distinct record_id from links
        where guarded_at > (select coalesce(max(resolved_at), timestamp '1970-01-01') from {this})
    ),
    old_components as (
        select distinct anchor_record_id from {this} where record_id in (select record_id from changed)
    )
    select * from links
    where record_id in (
        select record_id from changed
        union
        select record_id from {this} where anchor_record_id in (select anchor_record_id from old_components)
    )
"""
RECORDS = """
    select record_id, any_value(source) as source, any_value(source_key) as source_key,
           (select max(guarded_at) from links) as resolved_at
    from links group by record_id order by record_id
"""
EDGES = """
    with records as (
        select record_id, row_number() over (order by record_id) - 1 as record_number
        from (select distinct record_id from links)
    ),
    identifiers as (
        select identifier_type, identifier_value,
               row_number() over (order by identifier_type, identifier_value) - 1 as identifier_number
        from (select distinct identifier_type, identifier_value from links
              where not is_blocked and identifier_value is not null)
    )
    select records.record_number, identifiers.identifier_number
    from links
    inner join records using (record_id)
    inner join identifiers using (identifier_type, identifier_value)
    where not links.is_blocked
"""


def model(dbt, session):
    dbt.config(
        materialized="incremental", unique_key="record_id", incremental_strategy="delete+insert",
        on_schema_change="append_new_columns",
    )  # fmt: skip
    links = dbt.ref("int_identity_guarded_links")
    # A table built before this model was incremental has no stamp: it is built whole once.
    if dbt.is_incremental and "resolved_at" in session.table(str(dbt.this)).columns:
        links = session.from_arrow(links.query("links", SCOPE.format(this=dbt.this)).to_arrow_table())
    records = links.query("links", RECORDS).to_arrow_table()
    edges = links.query("links", EDGES).fetchnumpy()
    rows = edges["record_number"].astype(np.int64)
    identifiers = edges["identifier_number"].astype(np.int64)

    n_records = records.num_rows
    if n_records == 0:  # nothing changed since the last run
        return records.append_column("anchor_record_id", pa.array([], pa.string()))
    n = n_records + (int(identifiers.max()) + 1 if len(identifiers) else 0)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, n_records + identifiers)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1][:n_records]

    # Records are sorted by id, so a component's first record is its smallest; the same among its CRM records.
    position = np.arange(n_records)
    is_crm = np.char.startswith(records["record_id"].to_numpy(zero_copy_only=False).astype(str), "crm:")
    anchor = np.empty(labels.max() + 1, dtype=np.int64)
    components, first = np.unique(labels, return_index=True)
    anchor[components] = first
    crm_components, crm_first = np.unique(labels[is_crm], return_index=True)
    anchor[crm_components] = position[is_crm][crm_first]

    return records.append_column("anchor_record_id", records["record_id"].take(pa.array(anchor[labels])))
