"""Sample landing data for hourglass: a fictional Dutch cultural organisation, with planted defects.

generate(out, customers, seed, as_of) -> {file name: data rows}
write_postcode_seed() rewrites dbt_project/seeds/ref_postcode_regions.csv
"""

from .landing import generate
from .postcodes import postcode_seed_csv, write_postcode_seed

__all__ = ["generate", "postcode_seed_csv", "write_postcode_seed"]
