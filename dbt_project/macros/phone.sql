{#-
  Phone numbers in E.164 (+31201234567): the one rule. Staging applies it in SQL; hourglass/phone.py renders this
  file with plain Jinja (so no dbt context functions here) and runs the same SQL through DuckDB for the ad
  audiences, and compiles phone_pattern() for the SMS send-time check. docs/sources.md states the rule, with
  the countries below (phone_rule('countries')).
-#}

{#- `column` in E.164, or null when it is no phone number. International: '+' or '00', then the country code.
    National (one leading 0): in the country of the expression `country` (ISO code; empty or none: NL), null for a
    country not listed in phone_rule. Spaces, dots, dashes, slashes and parentheses are ignored; letters, digits
    without '+', '00' or '0' in front, or a wrong length give null: a guessed number reaches somebody else. -#}
{% macro normalise_phone(column, country=none) -%}
  {{ phone_rule('normalise', column, country) }}
{%- endmacro %}

{#- A number in normal form, as a regular expression that RE2 (DuckDB) and Python's re read alike. -#}
{% macro phone_pattern() -%}
  {{ phone_rule('pattern') }}
{%- endmacro %}

{% macro phone_rule(part, column=none, country=none) -%}
  {#- Countries whose national notation is understood. Each dials a trunk prefix 0 at home, which is dropped
      after the country code too (+31 (0)20 ..., +31 020 ...); nsn: the length range of the national significant
      number. Codes must be two digits: the pattern's catch-all for other countries relies on it. -#}
  {%- set countries = {
    'NL': {'code': '31', 'nsn': (9, 9)},
    'BE': {'code': '32', 'nsn': (8, 9)},
    'DE': {'code': '49', 'nsn': (5, 13)},
  } -%}
  {%- set codes = countries.values() | map(attribute='code') | list -%}
  {#- A listed country's code and an NSN of its length, not starting with 0; any other code: 8-15 digits. -#}
  {%- set pattern -%}
    \+(?:
    {%- for c in countries.values() -%}
      {{ c.code }}[1-9][0-9]{ {{- c.nsn[0] - 1 }}{% if c.nsn[1] > c.nsn[0] %},{{ c.nsn[1] - 1 }}{% endif -%} }|
    {%- endfor -%}
    (?:
    {%- for first in '123456789' -%}
      {{ first }}[{% for second in '0123456789' if first ~ second not in codes %}{{ second }}{% endfor %}]
      {{- '|' if not loop.last -}}
    {%- endfor -%}
    )[0-9]{6,13})
  {%- endset -%}
  {%- if part == 'pattern' -%}
    {{ pattern }}
  {%- elif part == 'countries' -%}
    {{ countries | tojson }}
  {%- else -%}
    {%- set t = 'trim(' ~ column ~ ')' -%}
    {%- set digits = regexp_replace_all(t, "'[^0-9]'", "''") -%}
    {%- set international = regexp_replace_all(t, "'\\(0\\)|[^0-9]'", "''") -%}
    {%- set iso = "coalesce(nullif(upper(trim(" ~ (country or "''") ~ ")), ''), 'NL')" -%}
  {%- set number -%}
    case
      when not {{ regexp_full_match(t, "'\\+?[0-9\\s.()/-]+'") }} then null
      when {{ t }} like '+%' then {{ international }}
      when {{ digits }} like '00%' then substr({{ international }}, 3)
      when {{ digits }} like '0%' then
        case {{ iso }}
          {%- for name, c in countries.items() %}
          when '{{ name }}' then '{{ c.code }}'
          {%- endfor %}
        end || substr({{ digits }}, 2)
    end
  {%- endset %}
  nullif(regexp_extract(
    '+' || {{ regexp_replace_all(number, "'^(" ~ codes | join('|') ~ ")0'", "'\\1'") }}, '^{{ pattern }}$', 0
  ), '')
  {%- endif -%}
{%- endmacro %}
