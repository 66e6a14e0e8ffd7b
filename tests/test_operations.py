"""Operating signals: stale sources are flagged before activation reads them, failed runs are reported."""

import dagster as dg

from hourglass.freshness import ACTIVATION_SOURCES, freshness_checks, freshness_job


def test_freshness_checks_flag_a_source_that_was_not_loaded():
    instance = dg.DagsterInstance.ephemeral()
    defs = dg.Definitions(
        assets=[dg.AssetSpec(name) for name in ACTIVATION_SOURCES], asset_checks=freshness_checks, jobs=[freshness_job]
    )
    for name in ACTIVATION_SOURCES:
        if name != "ga4_web":  # the web data did not arrive
            instance.report_runless_asset_event(dg.AssetMaterialization(name))
    result = defs.resolve_job_def("check_freshness").execute_in_process(instance=instance)
    outcome = {e.asset_key.to_user_string(): e.passed for e in result.get_asset_check_evaluations()}
    assert outcome == {"crm_customers": True, "leads": True, "esp_events": True, "ga4_web": False}
    severities = {e.severity for e in result.get_asset_check_evaluations()}
    assert severities == {dg.AssetCheckSeverity.WARN}  # visible, but it does not stop the run by itself
