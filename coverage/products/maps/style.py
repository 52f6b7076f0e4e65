"""How the maps look: class breaks and colours (colour-blind safe), paddings, zooms, precision."""

from __future__ import annotations

#: Folder of a run's pages that holds their shared script and stylesheet (``asset_mode="shared"``).
SHARED_ASSETS_FOLDER = "assets"


#: Class breaks of the commune layer (share of people in gaps) and their colours: ColorBrewer
#: YlOrBr (sequential, colour-blind safe), the palest for "none". Browns, not reds, so that the
#: weak cells and the gaps (purples) stand out on top of it for every colour vision.
SHARE_BREAKS = [0.0, 0.02, 0.05, 0.10, 0.20]


SHARE_COLOURS = ["#ffffd4", "#fee391", "#fec44f", "#fe9929", "#d95f0e", "#993404"]


NO_PEOPLE_COLOUR = "#ffffff"


#: The choropleth's own class for a commune whose share in gaps means little: more than
#: ``INSUFFICIENT_CLASS_SHARE`` of its people live where there is not enough evidence. Grey, as
#: the cells without enough evidence, never "0 %".
INSUFFICIENT_CLASS_SHARE = 0.5


INSUFFICIENT_CLASS_COLOUR = "#a3a3a3"


INSUFFICIENT_CLASS = -2


#: Padding (pixels) kept around the area when the page opens: room for the title and the legend.
FIT_PADDING_TOP_LEFT = (20, 120)


FIT_PADDING_BOTTOM_RIGHT = (280, 10)


#: Zoom from which the old communes' names show beside the units' (fewer labels at province scale).
COMMUNE_LABEL_MIN_ZOOM = 10.5


#: Outline of the 2025 units (drawn over the old communes they were dissolved from).
UNIT_OUTLINE = {"color": "#1a1a1a", "weight": 2.6, "opacity": 0.95}


#: Gap evidence colours: purples, distinct from the commune reds for every colour vision.
EVIDENCE_STYLE = {
    "confirmed": {"color": "#3f007d", "fillColor": "#54278f", "fillOpacity": 0.65, "weight": 1.5},
    "likely": {"color": "#54278f", "fillColor": "#bcbddc", "fillOpacity": 0.55, "weight": 1.5, "dashArray": "4 3"},
}


#: Cell state colours: Okabe-Ito blue, a near-black indigo (the gaps' hue family, far from every
#: choropleth class for every colour vision: tests/products/test_maps.py checks it), grey.
STATE_COLOURS = {"covered": "#0072B2", "weak": "#1B0C42", "insufficient": "#999999"}


#: Village status colours.
VILLAGE_COLOURS = {"in_gap": "#D55E00", "weak": "#E69F00", "covered": "#0072B2", "no_data": "#999999"}


#: Village colours by the Ministry's tiers (CV 1603), colour-blind safe (Okabe–Ito).
CV1603_COLOURS = {"trang_song": "#D55E00", "lom_song": "#E69F00", "co_song": "#0072B2", "chua_du_du_lieu": "#999999"}


#: Display precision: 1e-5 degree is about 1 m.
COORDINATE_DECIMALS = 5


#: Simplification tolerance for display, metres (UTM 48N).
SIMPLIFY_METRES = 15.0

#: A commune or unit page draws what lies within this distance of its outline (its neighbours' context).
PAGE_MARGIN_METRES = 3000.0


#: Over-claimed areas (claimed covered, measured weak): magenta with a thick outline, apart from the
#: gaps' purples and the cells' blue and orange.
CHALLENGE_STYLE = {"color": "#c51b7d", "weight": 3, "fillColor": "#f1b6da", "fillOpacity": 0.55}


#: Hatching of predicted areas: a predicted gap must never look like a measured one.
PREDICTED_COLOUR = "#252525"


PREDICTED_STYLE = {"color": PREDICTED_COLOUR, "weight": 1.5, "dashArray": "2 4", "fillOpacity": 1.0}


PREDICTED_LEGEND_SWATCH = (
    f"background:repeating-linear-gradient(45deg,{PREDICTED_COLOUR} 0 2px,transparent 2px 5px);"
    f"border:1.5px dotted {PREDICTED_COLOUR}"
)


#: Proposed sites of ``lomsong plan`` (``<run>/plan/plan.geojson``), drawn when the plan exists.
PLAN_COLOUR = "#1b7837"
