"""Privacy by design (AVG/GDPR): erasure, access and retention across everything under HOURGLASS_HOME.

- identifiers: what identifies a person in each source, normalised by the project's own rules, and the salted
  hash a suppression entry keeps of it;
- suppression: the hashed identifiers of forgotten people (in the ledger's SQLite file), and the SQL test of "this
  source row is theirs"; scrub: a landing file without their rows, which the loader applies before every load;
- person: an identifier -> everything identity_map links to the same person; rows: "this row is theirs" for any
  table (lake, warehouse, audiences, receipts);
- forget: rewrites every file that holds them; export: everything held on them as JSON;
- retention: removes what is older than its retention period; audit: the append-only log of all three;
  places: where the outbox and ad files are.

docs/privacy.md explains it for a data protection officer.
"""
