"""The GA4 emulator in a process of its own, as the real Data API is to the pipeline: bench.nightly points the
job at it (HOURGLASS_GA4_ENDPOINT), so the job's memory and time are the pipeline's, not the emulator's.

    python -m bench.ga4_server FILE PROPERTY

Prints the address it serves on, then serves until its standard input closes.
"""

import sys

from hourglass.sample.ga4_emulator import Ga4Emulator


def main() -> None:
    data_file, property_id = sys.argv[1:3]
    # it lives as long as the job, beside dbt: at 3M customers the answers it keeps took 12 GB
    with Ga4Emulator(data_file, property_id=property_id, keep_answers=False) as emulator:
        print(emulator.address, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    main()
