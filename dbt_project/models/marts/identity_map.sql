-- Every record and the customer it belongs to. customer_key is a hash of the person's anchor record (their
-- smallest CRM record, else their smallest record), so it stays the same from run to run.
select
    record_id,
    source,
    source_key,
    substr(md5(anchor_record_id), 1, 16) as customer_key,
    anchor_record_id
from {{ ref('int_identity_components') }}
