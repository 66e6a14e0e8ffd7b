-- Every goal names a KPI that kpi_values computes (macros/kpis.sql), whether or not its sources have data yet.
select goals.kpi
from {{ ref('kpi_goals') }} as goals
where goals.kpi not in (
    {%- for kpi in kpi_definitions() %}
        '{{ kpi[0] }}'{% if not loop.last %},{% endif %}
    {%- endfor %}
)
