"""Privacy by design (AVG/GDPR): erasure, access and retention across everything under HOURGLASS_HOME.

- identifiers: what identifies a person in each source, normalised by the project's own rules, and the salted
  hash a suppression entry keeps of it;
- suppression: the hashed identifiers of forgotten people (in the ledger's SQLite file), and the one SQL test of
  "this row is theirs" that the loader, forget and export-person all use;
- person: an identifier -> everything identity_map links to the same person;
- forget: rewrites every file that holds them; export: everything held on them as JSON;
- retention: removes what is older than its retention period; audit: the append-only log of all three.

docs/privacy.md explains it for a data protection officer.
"""
