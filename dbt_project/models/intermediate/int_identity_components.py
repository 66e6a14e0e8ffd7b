"""Connected components over records and the identifiers they share: one component is one person.

Records and identifiers are the nodes of one undirected graph; each unblocked link is an edge. SciPy's
connected_components labels the graph exactly (no fixed number of SQL iterations to get wrong). DuckDB
numbers the nodes, so Python handles integer arrays only; the strings stay in Arrow.
Each component is named by its anchor: its smallest CRM record, else its smallest record; the customer key
(identity_map) is a hash of the anchor, so keys stay the same from run to run while the data does not change.
"""

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

RECORDS = """
    select record_id, any_value(source) as source, any_value(source_key) as source_key
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
    dbt.config(materialized="table")
    links = dbt.ref("int_identity_guarded_links")
    records = links.query("links", RECORDS).to_arrow_table()
    edges = links.query("links", EDGES).fetchnumpy()
    rows = edges["record_number"].astype(np.int64)
    identifiers = edges["identifier_number"].astype(np.int64)

    n_records = records.num_rows
    if n_records == 0:  # an empty warehouse
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
