"""The simulator's model parameters (SYNTHETIC data): sites, subscribers, radio, junk, scenarios.

Every number here shapes the synthetic demo set; ``docs/simulator.md`` explains the model.
"""

from __future__ import annotations

import numpy as np

from lomsong.reference.population import VILLAGE_KERNEL_SIGMA_M
from lomsong.tables.measurements import MEASUREMENT_COLUMNS

LOCAL_TZ = "Asia/Ho_Chi_Minh"
#: Bumped whenever the model changes, so that a stale demo set is regenerated.
SIMULATOR_VERSION = 2
LOCAL_OFFSET = np.timedelta64(7, "h")
#: The demo scenario: new sites in a gap and an outage, both from the last month.
DEMO_NEW_SITES_FROM = "2026-10"
DEMO_OUTAGE_FROM = "2026-10"

#: Columns of the generic CSV the simulator writes: the canonical names minus the reader's own.
GENERIC_CSV_COLUMNS = [c for c in MEASUREMENT_COLUMNS if c not in ("source", "source_file", "source_row")]
#: Header of a G-NetTrack Pro log, exactly as in the real sample (data/samples/gnettrack/Yas_log.txt).
GNETTRACK_COLUMNS = [
    "Timestamp",
    "Longitude",
    "Latitude",
    "Operatorname",
    "Operator",
    "Cellname",
    "Node",
    "CellID",
    "LAC",
    "NetworkTech",
    "Level",
    "Qual",
    "SNR",
    "CQI",
    "LTERSSI",
    "ARFCN",
    "PSC",
    "Altitude",
    "Distance",
    "TA",
    "BAND",
]

OPERATOR_ORDER = ["viettel", "vinaphone", "mobifone", "vietnamobile", "gmobile"]
#: Operators simulated by default. Gmobile has next to no network or subscribers in Đắk Nông: it is
#: opt-in (``simulate(..., gmobile=True)``, ``lomsong simulate --gmobile``).
DEFAULT_OPERATORS = ["viettel", "vinaphone", "mobifone", "vietnamobile"]
#: Town sites: a jittered hexagonal lattice with this spacing (km) over every town commune (the
#: wards of Gia Nghĩa, the thị trấn, and communes with at least :data:`URBAN_DENSITY` people per
#: km²): district towns have a site about every kilometre. Vietnamobile is sparse, Gmobile has none.
TOWN_SITE_SPACING_KM = {"viettel": 1.0, "vinaphone": 1.1, "mobifone": 1.3, "vietnamobile": 2.5}
#: Rural sites: one at each commune centre (UBND xã) for these operators …
CENTRE_SITE_OPERATORS = ("viettel", "vinaphone", "mobifone")
#: … and one at each village with at least this many people (larger villages first: Viettel
#: reaches most villages, MobiFone only the large ones; Vietnamobile and Gmobile none).
VILLAGE_SITE_MIN_PEOPLE = {"viettel": 350, "vinaphone": 500, "mobifone": 800}
#: Gmobile (opt-in): this many 2G/3G sites at the most populous villages.
GMOBILE_SITES = 12
#: A rural site stands this far (σ, m) from the village it serves (on a hill, by the road).
VILLAGE_SITE_JITTER_M = 250.0
#: Share of a site's chance to carry 2G, 3G, 4G (independently; a site with none gets 4G, Gmobile 2G).
SITE_TECHNOLOGY_SHARE = {
    "viettel": (0.6, 0.7, 0.98),
    "vinaphone": (0.8, 0.8, 0.95),
    "mobifone": (0.8, 0.85, 0.95),
    "vietnamobile": (0.9, 0.8, 0.7),
    "gmobile": (1.0, 0.5, 0.0),
}
#: Share of the sites in Gia Nghĩa's wards (phường) that carry 5G.
SITE_5G_SHARE = {"viettel": 0.6, "vinaphone": 0.35, "mobifone": 0.25}
#: Subscribers' operators (share of devices), about the operators' market shares.
SUBSCRIBER_SHARE = {"viettel": 0.5, "vinaphone": 0.25, "mobifone": 0.18, "vietnamobile": 0.07}
#: With ``gmobile=True`` Gmobile takes this share of the devices (the others shrink in proportion).
GMOBILE_SUBSCRIBER_SHARE = 0.02
#: Newest technology a device supports (share of devices).
DEVICE_CAPABILITY_SHARE = {"5G": 0.25, "4G": 0.70, "3G": 0.04, "2G": 0.01}

#: Remote forest communes kept under-served on purpose: only one Viettel and one VinaPhone site,
#: at the commune centre. Codes are GSO commune codes.
UNDERSERVED_COMMUNES = {
    "24736": "Xã Quảng Trực (Huyện Tuy Đức)",
    "24634": "Xã Đắk Plao (Huyện Đăk Glong)",
    "24625": "Xã Đắk R'Măng (Huyện Đăk Glong)",
    "24694": "Xã Buôn Choah (Huyện Krông Nô)",
    "24706": "Xã Đức Xuyên (Huyện Krông Nô)",
}
#: Where new sites switch on (``new_sites_from``): the two most populous villages at least
#: :data:`NEW_SITE_MIN_DISTANCE_KM` from the centre of each of these communes get a Viettel and a
#: VinaPhone site.
NEW_SITE_COMMUNES = ["24634", "24736"]
NEW_SITE_MIN_DISTANCE_KM = 5.0
#: Where the outage hits (``outage_from``): every site within this radius of the commune centre.
OUTAGE_COMMUNE = "24728"  # Xã Nâm N'Jang (Huyện Đắk Song)
OUTAGE_RADIUS_KM = 7.0

#: Junk per generic-CSV row (rates of the realised rows are in the metadata).
JUNK_RATES = {
    "sentinel_-999": 0.004,  # signal_dbm = -999 (app's "invalid")
    "sentinel_0": 0.003,  # signal_dbm = 0
    "swapped_lat_lon": 0.003,
    "zero_coordinates": 0.001,  # lon = lat = 0 (no GPS fix)
    "bad_time": 0.002,  # unparseable time text
    "duplicate": 0.005,  # an exact copy of the previous row
}
#: Junk per G-NetTrack row with service (-340) and per 3G row (-24): impossible levels seen in real
#: logs (FORMATS.md).
GNETTRACK_JUNK_RATES = {"level_-340": 0.002, "3g_level_-24": 0.001}
BAD_TIMES = np.array(["", "N/A", "0000-00-00 00:00:00", "2026-13-45T25:61:00+07:00", "31/02/2026 24:00"])

#: Where a measurement is taken (share of a device's samples).
PLACE_SHARE = {"home": 0.55, "commune": 0.25, "route": 0.20}
#: Phones live around their home village as the village surface puts people there (the same σ).
HOME_JITTER_M = VILLAGE_KERNEL_SIGMA_M
#: Phones per operator of the digital technology team of each under-served commune, and where they
#: measure (they walk the villages and roads of their commune more than other people).
TEAM_PHONES_PER_OPERATOR = 2
TEAM_PLACE_SHARE = {"home": 0.3, "commune": 0.5, "route": 0.2}
#: Trips within the home commune: share spent at another village, on the road to it, and on the road
#: between home and the commune centre.
VILLAGE_TRIP_SHARE = [0.4, 0.3, 0.3]
ROUTE_JITTER_M = 60.0
#: Communes with at least this many people per km² count as towns for the path-loss model.
URBAN_DENSITY = 300.0
#: Shadowing: a field common to all operators (clutter, relief) plus one per operator; √(5²+4²) ≈ 6.4 dB.
SHADOW_COMMON_DB = 5.0
SHADOW_OPERATOR_DB = 4.0
SHADOW_GRID_M = 200.0
SHADOW_CORRELATION_M = 500.0
FAST_FADING_DB = 2.0
#: Terrain on long links (see :func:`_serve`): extra loss per km beyond this distance.
HILL_LOSS_FROM_KM = 2.0
HILL_LOSS_DB_PER_KM = 3.0
#: Hills and forest of the under-served communes: away from the commune centre (which sits in the
#: valley, by the road) a phone gets this much extra loss from every site, rising linearly from 0 dB
#: at :data:`REMOTE_TERRAIN_START_KM` to the full value at :data:`REMOTE_TERRAIN_FULL_KM`.
REMOTE_TERRAIN_LOSS_DB = 20.0
REMOTE_TERRAIN_START_KM = 1.0
REMOTE_TERRAIN_FULL_KM = 3.0
#: Indoor (home) and in-vehicle (route) losses: probability, mean dB, sd dB.
INDOOR_LOSS = (0.5, 8.0, 3.0)
VEHICLE_LOSS = (0.7, 6.0, 2.0)
#: Share of service samples that include a speed test.
SPEED_TEST_SHARE = 0.12
#: Hourly weights of activity (local time 0 … 23).
HOURLY_WEIGHTS = np.array([1, 0.5, 0.3, 0.3, 0.5, 2, 4, 6, 7, 7, 6, 6, 7, 6, 5, 5, 6, 7, 8, 8, 7, 5, 3, 2], float)
NEIGHBOURS = 8
CHUNK = 500_000

LICENCE_NOTE = (
    "SYNTHETIC data made by the lomsong simulator: no value was measured. Free to use (CC0-1.0). "
    "Built on the GSO 2019 census by commune and the censusVN2009 commune boundaries (MIT); see "
    "data/SOURCES.md."
)

TECHNOLOGY_CODES = ["2G", "3G", "4G", "5G"]  # index = code; -1 = no service
