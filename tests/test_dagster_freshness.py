"""Freshness of the sources activation reads, as Dagster's daemon evaluates it on the assets' FreshnessPolicy."""

from datetime import datetime, timedelta

import dagster as dg
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import ModuleTarget
from dagster._daemon.freshness import FreshnessDaemon

from hourglass.freshness import ACTIVATION_SOURCES


def _evaluate(instance: dg.DagsterInstance, at: datetime) -> dict[str, FreshnessState]:
    """One iteration of the freshness daemon at `at`, over the definitions a code server loads."""
    target = ModuleTarget("hourglass.definitions", None, None, "hourglass")
    with create_test_daemon_workspace_context(target, instance) as workspace, freeze_time(at):
        list(FreshnessDaemon().run_iteration(workspace))
    keys = [dg.AssetKey(name) for name in ACTIVATION_SOURCES] + [dg.AssetKey("erp_orders")]
    records = instance.get_freshness_state_records(keys)
    return {key.to_user_string(): record.freshness_state for key, record in records.items()}


def test_a_source_activation_reads_fails_freshness_when_not_loaded_for_a_day(home, dbt_manifest, monkeypatch):
    monkeypatch.setenv("HOURGLASS_FRESHNESS_HOURS", "26")
    with dg.instance_for_test() as instance:
        for name in ACTIVATION_SOURCES:
            if name != "ga4_web":  # the web data never arrived
                instance.report_runless_asset_event(dg.AssetMaterialization(name))
        instance.report_runless_asset_event(dg.AssetMaterialization("erp_orders"))  # not read at send time

        soon = _evaluate(instance, datetime.now().astimezone() + timedelta(hours=1))
        assert soon == {
            **{"crm_customers": "PASS", "leads": "PASS", "esp_events": "PASS", "ga4_web": "UNKNOWN"},
            "erp_orders": "NOT_APPLICABLE",  # no policy: activation does not read it at send time
        }

        late = _evaluate(instance, datetime.now().astimezone() + timedelta(hours=27))
        assert late == {
            **{"crm_customers": "FAIL", "leads": "FAIL", "esp_events": "FAIL", "ga4_web": "UNKNOWN"},
            "erp_orders": "NOT_APPLICABLE",
        }


def test_no_check_job_or_schedule_is_left_for_freshness(dbt_manifest):
    from hourglass.campaigns import audience_nodes
    from hourglass.definitions import defs
    from hourglass.project import manifest

    assert "check_freshness" not in {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert not [s for s in defs.schedules or [] if "freshness" in s.name]
    policies = {
        node.key.to_user_string(): node.freshness_policy
        for node in defs.resolve_asset_graph().asset_nodes
        if node.freshness_policy
    }
    audiences = {node["name"] for node in audience_nodes(manifest())}
    assert audiences and set(policies) == {*ACTIVATION_SOURCES, *audiences}
