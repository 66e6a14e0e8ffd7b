{#- Whether an order of int_orders (under alias `orders`, if given) is a purchase: it has a completed (or
    refunded) line, whatever its net amount, so a free order is one too; an order of cancelled lines only is
    none. -#}
{% macro is_purchase(orders=none) -%}
  {% if orders %}{{ orders }}.{% endif %}counted_lines > 0
{%- endmacro %}
