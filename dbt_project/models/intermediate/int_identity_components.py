"""Connected components over records and the identifiers they share: one component is one person.

Records and identifiers are the nodes of one undirected graph; each unblocked link is an edge. SciPy's
connected_components labels the graph exactly (no fixed number of SQL iterations to get wrong).
Each component is named by its anchor: its smallest CRM record, else its smallest record; the customer key
(identity_map) is a hash of the anchor, so keys stay the same from run to run while the data does not change.
"""

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def model(dbt, session):
    dbt.config(materialized="table")
    links = dbt.ref("int_identity_guarded_links").df()

    records, record_codes = np.unique(links["record_id"].to_numpy(dtype=object), return_inverse=True)
    usable = (~links["is_blocked"].to_numpy(dtype=bool)) & links["identifier_value"].notna().to_numpy()
    identifier = (links["identifier_type"] + ":" + links["identifier_value"]).to_numpy(dtype=object)[usable]
    identifiers, identifier_codes = np.unique(identifier, return_inverse=True)

    n = len(records) + len(identifiers)
    rows = record_codes[usable]
    cols = len(records) + identifier_codes
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)

    people = pd.DataFrame({"record_id": records, "component": labels[: len(records)]})
    people["is_crm"] = people["record_id"].str.startswith("crm:")
    # Anchor: smallest CRM record of the component, else its smallest record.
    ranked = people.sort_values(["component", "is_crm", "record_id"], ascending=[True, False, True])
    anchors = ranked.drop_duplicates("component").set_index("component")["record_id"]
    people["anchor_record_id"] = people["component"].map(anchors)
    sources = links.drop_duplicates("record_id").set_index("record_id")[["source", "source_key"]]
    people = people.join(sources, on="record_id")
    return people[["record_id", "source", "source_key", "anchor_record_id"]]
