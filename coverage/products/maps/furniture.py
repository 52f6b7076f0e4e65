"""Page furniture: the title block, legend, labels, search and the pages' own script and stylesheet."""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path

import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from lomsong.products.maps.layers import (
    PreparedLayers,
    _operator_label,
    _script_json,
    _select,
    _share_labels,
    data_period,
    denominator_text,
)
from lomsong.products.maps.style import (
    CHALLENGE_STYLE,
    CV1603_COLOURS,
    EVIDENCE_STYLE,
    INSUFFICIENT_CLASS_COLOUR,
    NO_PEOPLE_COLOUR,
    PLAN_COLOUR,
    PREDICTED_LEGEND_SWATCH,
    SHARE_COLOURS,
    STATE_COLOURS,
    UNIT_OUTLINE,
    VILLAGE_COLOURS,
)
from lomsong.products.words import STRINGS, format_date, format_number, text
from lomsong.tables.results import RunResults

#: The pages' own stylesheet and script (package data, read once): title, legend, search, labels.
STATIC = Path(__file__).parent / "static"


@functools.cache
def _static(name: str) -> str:
    text_of_file = (STATIC / name).read_text(encoding="utf-8")
    # inlined into <style>/<script>: a literal closing tag would end the element early
    return text_of_file.replace("</style", "<\\/style").replace("</script", "<\\/script")


class _NameKept:
    """An element whose ``get_name()`` is made once: branca camel-cases the class name on every
    call, and a page's templates ask a layer's name tens of times (its map's, hundreds)."""

    def get_name(self) -> str:
        key = (self._name, self._id)
        kept = self.__dict__.get("_name_kept")
        if kept is None or kept[0] != key:
            kept = self.__dict__["_name_kept"] = (key, super().get_name())
        return kept[1]


class _Furniture(_NameKept, MacroElement):
    """Stylesheet, title block and legend (plain HTML: shows even when no tile loads)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}<style>{{ this.css }}</style><script>{{ this.js }}</script>{% endmacro %}
        {% macro html(this, kwargs) %}{{ this.body }}{% endmacro %}
        """
    )

    def __init__(self, body: str) -> None:
        super().__init__()
        self._name = "LomsongFurniture"
        self.css = _static("lomsong.css")
        self.js = _static("lomsong.js")
        self.body = body


class _Behaviour(_NameKept, MacroElement):
    """Commune search (diacritic-insensitive) and named handles (``window.lomsong``) for scripts and tests."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lomsongPage.behaviour({{ this._parent.get_name() }}, {{ this.communes_layer }}, {{ this.entries }},
          {{ this.strings }}, {{ this.layers }});
        {% endmacro %}
        """
    )

    def __init__(self, communes_layer: str, entries: list, strings: dict, layers: dict[str, str]) -> None:
        super().__init__()
        self._name = "LomsongBehaviour"
        self.communes_layer = communes_layer
        self.entries = _script_json(entries)
        self.strings = _script_json(strings)
        self.layers = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in layers.items()) + "}"


class _Labels(_NameKept, MacroElement):
    """Commune names as non-interactive text markers, added to the parent feature group."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lomsongPage.labels({{ this.labels }}, {{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, labels: list) -> None:
        super().__init__()
        self._name = "LomsongLabels"
        self.labels = _script_json(labels)


class _Legibility(_NameKept, MacroElement):
    """What makes the page read at 1366×768: a legend that is a Leaflet control (so it never
    covers another control), a metric-only scale, labels that hide where they would overlap, and
    a Vietnamese measuring tool (leaflet-measure ships no Vietnamese: its English text is replaced
    on the page as it appears)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        lomsongPage.legibility({{ this._parent.get_name() }}, {{ this.label_groups }}, {{ this.measure_words }});
        {% endmacro %}
        """
    )

    def __init__(self, label_groups: list[str], lang: str) -> None:
        super().__init__()
        self._name = "LomsongLegibility"
        self.label_groups = "[" + ", ".join(label_groups) + "]"
        words = {} if lang == "en" else {STRINGS["en"][k]: text(lang, k) for k in MEASURE_WORDS}
        self.measure_words = json.dumps(words, ensure_ascii=False)


#: Keys of the measuring tool's words (the same keys as leaflet-measure's own i18n files).
MEASURE_WORDS = [
    "measure",
    "measureDistancesAndAreas",
    "createNewMeasurement",
    "startCreating",
    "finishMeasurement",
    "lastPoint",
    "area",
    "perimeter",
    "pointLocation",
    "areaMeasurement",
    "linearMeasurement",
    "pathDistance",
    "centerOnArea",
    "centerOnLine",
    "centerOnLocation",
    "cancel",
    "delete",
]


#: Units of the measuring tool, metric only, with their usual abbreviations.
MEASURE_UNITS = {
    "kilometers": {"factor": 0.001, "display": "km", "decimals": 2},
    "meters": {"factor": 1, "display": "m", "decimals": 0},
    "hectares": {"factor": 0.0001, "display": "ha", "decimals": 2},
    "sqmeters": {"factor": 1, "display": "m²", "decimals": 0},
}


def _title_html(
    results: RunResults,
    lang: str,
    view_operator: str,
    heading: str,
    extra: str = "",
    commune_code: str | None = None,
    unit_communes: list[str] | None = None,
    prepared: PreparedLayers | None = None,
) -> str:
    period = prepared.period if prepared is not None else data_period(results)
    period_text = (
        text(lang, "period", start=format_date(period[0], lang), end=format_date(period[1], lang))
        if period
        else text(lang, "period_unknown")
    )
    # the view's gaps and commune rows, selected once for every page when the layers are prepared
    gaps = prepared.gaps if prepared is not None else _select(results.gaps, view_operator)
    view_communes = prepared.summary if prepared is not None else _select(results.communes, view_operator)
    # the communes each gap touches (split once for every page when the layers are prepared)
    gap_codes = (
        prepared.gap_commune_codes
        if prepared is not None
        else gaps["commune_codes"].astype(str).str.split(";").tolist()
    )
    if unit_communes is not None:
        # a unit's page speaks of that unit: gaps touching its old communes, its people in them
        wanted = set(unit_communes)
        if prepared is not None:
            people = prepared.people_in_gaps(wanted)[0]
        else:
            own = view_communes[view_communes["commune_code"].astype(str).isin(wanted).to_numpy(bool)]
            people = float(pd.to_numeric(own["people_in_gaps"], errors="coerce").sum())
        summary = text(
            lang,
            "summary_unit",
            n_gaps=format_number(sum(bool(wanted & set(codes)) for codes in gap_codes), lang),
            people=format_number(people, lang),
        )
    elif commune_code is None:
        summary = text(
            lang,
            "summary",
            n_gaps=format_number(len(gaps), lang),
            people=format_number(float(pd.to_numeric(gaps["population"], errors="coerce").sum()), lang),
        )
    else:
        # a commune's page speaks of that commune: its gaps and its own people in them
        if prepared is not None:
            people, rows = prepared.people_in_gaps({commune_code})
            people = people if rows else 0.0
        else:
            own = view_communes[(view_communes["commune_code"].astype(str) == commune_code).to_numpy(bool)]
            people = float(pd.to_numeric(own["people_in_gaps"], errors="coerce").sum()) if len(own) else 0.0
        summary = text(
            lang,
            "summary_commune",
            n_gaps=format_number(sum(commune_code in codes for codes in gap_codes), lang),
            people=format_number(people, lang),
        )
    view = f"{text(lang, 'view')}: <b>{html.escape(_operator_label(view_operator, lang))}</b>"
    synthetic = f"<br><span class='lomsong-synthetic'>{text(lang, 'synthetic')}</span>" if results.synthetic else ""
    codes = unit_communes if unit_communes is not None else [commune_code] if commune_code else None
    if prepared is not None:
        denominator = denominator_text(*prepared.denominator(codes), lang)
    else:
        denominator = _denominator_of(results, view_operator, codes, lang, rows=view_communes)
    denominator = f"<br><span class='lomsong-denominator' id='lomsong-denominator'>{denominator}</span>"
    return (
        f"<div class='lomsong-title' id='lomsong-title'><h1>{html.escape(heading)}</h1>"
        f"{view} · {period_text}<br>{summary}{denominator}{_population_source_html(results, lang)}{extra}"
        f"{synthetic}</div>"
    )


def _denominator_of(
    results: RunResults,
    view_operator: str,
    commune_codes: list[str] | None,
    lang: str,
    *,
    rows: pd.DataFrame | None = None,
) -> str:
    """People in gaps, covered and without enough evidence over the population of the page's area.

    From the commune summary of the view (the province: every commune; ``rows`` when already
    selected), so the three parts add up to the population shown.
    """
    rows = _select(results.communes, view_operator) if rows is None else rows
    if commune_codes is not None:
        rows = rows[rows["commune_code"].astype(str).isin(set(commune_codes)).to_numpy(bool)]
    people = pd.to_numeric(rows["population"], errors="coerce").fillna(0.0)
    in_gaps = float(pd.to_numeric(rows["people_in_gaps"], errors="coerce").fillna(0.0).sum())
    covered = float((people * pd.to_numeric(rows["share_people_covered"], errors="coerce").fillna(0.0)).sum())
    unknown = float((people * pd.to_numeric(rows["share_people_no_data"], errors="coerce").fillna(0.0)).sum())
    return denominator_text(float(people.sum()), in_gaps, covered, unknown, lang)


class _Hatch(_NameKept, MacroElement):
    """An SVG hatch pattern in the map's vector pane, used as the fill of predicted areas."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
          var svg = {{ this._parent.get_name() }}.getPanes().overlayPane.querySelector('svg');
          if (!svg || svg.querySelector('#lomsong-hatch')) { return; }
          var ns = 'http://www.w3.org/2000/svg';
          var defs = document.createElementNS(ns, 'defs');
          var pattern = document.createElementNS(ns, 'pattern');
          pattern.setAttribute('id', 'lomsong-hatch');
          pattern.setAttribute('patternUnits', 'userSpaceOnUse');
          pattern.setAttribute('width', '7');
          pattern.setAttribute('height', '7');
          pattern.setAttribute('patternTransform', 'rotate(45)');
          var line = document.createElementNS(ns, 'rect');
          line.setAttribute('width', '2.5');
          line.setAttribute('height', '7');
          line.setAttribute('fill', {{ this.colour }});
          pattern.appendChild(line);
          defs.appendChild(pattern);
          svg.insertBefore(defs, svg.firstChild);
        })();
        {% endmacro %}
        """
    )

    def __init__(self, colour: str) -> None:
        super().__init__()
        self._name = "LomsongHatch"
        self.colour = json.dumps(colour)


def _population_source_html(results: RunResults, lang: str) -> str:
    """Name where the people on the map come from (``run.json`` ``population.source``)."""
    source = (results.meta.get("population") or {}).get("source")
    if source not in ("villages", "buildings", "raster", "even"):
        return ""
    return (
        f"<br><small class='lomsong-population-source'>{text(lang, 'population_source')}: "
        f"{text(lang, 'population_source_' + source)}</small>"
    )


def _legend_html(
    lang: str,
    with_villages: bool,
    with_challenges: bool = False,
    with_units: bool = False,
    *,
    tiers: bool = False,
    with_predicted: bool = False,
    with_plan: bool = False,
) -> str:
    parts = [f"<h4>{text(lang, 'legend_communes')}</h4>"]
    for colour, label in zip(SHARE_COLOURS, _share_labels(lang), strict=True):
        parts.append(f"<div><i style='background:{colour}'></i>{html.escape(label)}</div>")
    parts.append(
        f"<div><i style='background:{INSUFFICIENT_CLASS_COLOUR}'></i>{html.escape(text(lang, 'legend_insufficient'))}"
        "</div>"
    )
    parts.append(f"<div><i style='background:{NO_PEOPLE_COLOUR}'></i>{text(lang, 'legend_no_people')}</div>")
    if with_units:
        parts.append(
            f"<div><i style='background:none;border:0;border-top:3px solid {UNIT_OUTLINE['color']};height:0'></i>"
            f"{html.escape(text(lang, 'legend_units'))}<small>{html.escape(text(lang, 'legend_mapped_whole'))}</small>"
            "</div>"
        )
    parts.append(f"<h4>{text(lang, 'legend_gaps')}</h4>")
    for evidence, style in EVIDENCE_STYLE.items():
        border = "dashed" if style.get("dashArray") else "solid"
        parts.append(
            f"<div><i style='background:{style['fillColor']};border:2px {border} {style['color']}'></i>"
            f"{text(lang, 'evidence_' + evidence)}</div>"
        )
    if with_predicted:
        parts.append(f"<h4>{text(lang, 'legend_predicted')}</h4>")
        parts.append(f"<div><i style='{PREDICTED_LEGEND_SWATCH}'></i>{text(lang, 'legend_predicted_weak')}</div>")
    if with_plan:
        parts.append(f"<div><i class='dot' style='background:{PLAN_COLOUR}'></i>{text(lang, 'layer_plan')}</div>")
    parts.append(f"<h4>{text(lang, 'legend_cells')}</h4>")
    for state, colour in STATE_COLOURS.items():
        parts.append(f"<div><i style='background:{colour}'></i>{text(lang, 'state_' + state)}</div>")
    if with_challenges:
        style = CHALLENGE_STYLE
        parts.append(f"<h4>{text(lang, 'legend_claims')}</h4>")
        parts.append(
            f"<div><i style='background:{style['fillColor']};border:2px solid {style['color']}'></i>"
            f"{text(lang, 'legend_challenges')}</div>"
        )
    if with_villages and tiers:
        parts.append(f"<h4>{text(lang, 'legend_villages')} ({text(lang, 'cv1603_status')})</h4>")
        for status, colour in CV1603_COLOURS.items():
            parts.append(f"<div><i class='dot' style='background:{colour}'></i>{text(lang, 'cv1603_' + status)}</div>")
    elif with_villages:
        parts.append(f"<h4>{text(lang, 'legend_villages')}</h4>")
        for status, colour in VILLAGE_COLOURS.items():
            parts.append(f"<div><i class='dot' style='background:{colour}'></i>{text(lang, 'village_' + status)}</div>")
    return (
        f"<div class='lomsong-legend' id='lomsong-legend'><details open><summary>{text(lang, 'legend_toggle')}"
        f"</summary>{''.join(parts)}</details></div>"
    )
