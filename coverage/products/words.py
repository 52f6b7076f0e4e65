"""Words people read on the maps, in Vietnamese (default) and English, and number formatting.

One dict per language with the same keys; :func:`text` looks a key up. Vietnamese readers write
622.168 người and 12,5 %: :func:`format_number` and :func:`format_share` follow the language.
"""

from __future__ import annotations

import math
from datetime import date

LANGUAGES = ("vi", "en")

VI: dict[str, str] = {
    "title": "Vùng lõm sóng di động có người ở — tỉnh Đắk Nông",
    "commune_title": "Vùng lõm sóng di động — {commune}, {district}",
    "view": "Nhà mạng",
    "all_operators": "Tất cả nhà mạng",
    "period": "Dữ liệu đo từ {start} đến {end}",
    "period_unknown": "Chưa rõ thời gian đo",
    "synthetic": "DỮ LIỆU MÔ PHỎNG — dữ liệu mô phỏng, không phải số đo thật",
    "summary": "{n_gaps} vùng lõm sóng, {people} người sống trong đó",
    "summary_commune": "{n_gaps} vùng lõm sóng chạm xã này, {people} người của xã sống trong đó",
    "back_to_province": "← Bản đồ toàn tỉnh",
    "open_commune_map": "Mở bản đồ xã →",
    # base layers
    "base_osm": "OpenStreetMap",
    "base_light": "Nền xám nhạt (Esri)",
    "base_satellite": "Ảnh vệ tinh (Esri)",
    # overlay layers
    "layer_communes": "Xã: tỷ lệ dân trong vùng lõm sóng",
    "layer_gaps": "Vùng lõm sóng (theo mức tin cậy)",
    "layer_cells": "Ô lưới H3 theo tín hiệu — {operator}",
    "layer_heat": "Mật độ điểm đo",
    "layer_villages": "Thôn, buôn theo tình trạng sóng",
    "layer_districts": "Ranh giới huyện",
    "layer_labels": "Tên xã",
    # commune fields
    "commune": "Xã",
    "district": "Huyện",
    "population": "Dân số",
    "people_in_gaps": "Số dân trong vùng lõm",
    "share_in_gaps": "Tỷ lệ dân trong vùng lõm",
    "share_covered": "Tỷ lệ dân có sóng",
    "share_no_data": "Tỷ lệ dân chưa đủ số đo",
    "n_gaps": "Số vùng lõm",
    # gap fields
    "affected_people": "Số dân bị ảnh hưởng",
    "area_km2": "Diện tích (km²)",
    "n_samples": "Số mẫu đo",
    "n_devices": "Số thiết bị đo",
    "median_signal": "Tín hiệu trung vị",
    "no_service_share": "Tỷ lệ mẫu mất sóng",
    "evidence": "Mức độ tin cậy",
    "gap_id": "Mã vùng (gap_id)",
    "operator": "Nhà mạng",
    "technology": "Công nghệ",
    "dates": "Thời gian đo",
    "other_communes": "Các xã khác",
    "evidence_confirmed": "Đã xác nhận",
    "evidence_likely": "Có khả năng",
    "technology_any": "mọi công nghệ",
    # cell states
    "state_covered": "Có sóng",
    "state_weak": "Sóng yếu / lõm sóng",
    "state_insufficient": "Chưa đủ số đo",
    "state_no_data": "Chưa có số đo",
    "cells": "Số ô",
    # villages
    "village": "Thôn, buôn",
    "status": "Tình trạng",
    "village_in_gap": "Trong vùng lõm sóng",
    "village_weak": "Sóng yếu",
    "village_covered": "Có sóng",
    "village_no_data": "Chưa đủ số đo",
    "village_insufficient": "Chưa đủ số đo",
    "village_other": "Khác",
    # legend
    "legend_communes": "Tỷ lệ dân trong vùng lõm sóng",
    "legend_gaps": "Vùng lõm sóng",
    "legend_cells": "Ô lưới H3 (khi bật lớp)",
    "legend_villages": "Thôn, buôn",
    "legend_no_people": "không có dân",
    # search
    "search_placeholder": "Tìm xã (gõ không dấu cũng được)…",
    "search_none": "Không tìm thấy xã nào",
    "people_unit": "người",
    "dbm": "dBm",
}

EN: dict[str, str] = {
    "title": "Mobile coverage gaps where people live — Đắk Nông province",
    "commune_title": "Mobile coverage gaps — {commune}, {district}",
    "view": "Operator",
    "all_operators": "All operators",
    "period": "Measurements from {start} to {end}",
    "period_unknown": "Measurement period unknown",
    "synthetic": "SIMULATED DATA (dữ liệu mô phỏng) — not real measurements",
    "summary": "{n_gaps} coverage gaps, {people} people living in them",
    "summary_commune": "{n_gaps} coverage gaps touch this commune, {people} of its people live in them",
    "back_to_province": "← Province map",
    "open_commune_map": "Open the commune map →",
    "base_osm": "OpenStreetMap",
    "base_light": "Light grey (Esri)",
    "base_satellite": "Satellite (Esri)",
    "layer_communes": "Communes: share of people in gaps",
    "layer_gaps": "Coverage gaps (by evidence)",
    "layer_cells": "H3 cells by signal — {operator}",
    "layer_heat": "Measurement density",
    "layer_villages": "Villages by coverage status",
    "layer_districts": "District borders",
    "layer_labels": "Commune names",
    "commune": "Commune",
    "district": "District",
    "population": "Population",
    "people_in_gaps": "People in gaps",
    "share_in_gaps": "Share of people in gaps",
    "share_covered": "Share of people covered",
    "share_no_data": "Share of people without enough data",
    "n_gaps": "Gaps",
    "affected_people": "People affected",
    "area_km2": "Area (km²)",
    "n_samples": "Measurements",
    "n_devices": "Devices",
    "median_signal": "Median signal",
    "no_service_share": "Share of no-service samples",
    "evidence": "Evidence",
    "gap_id": "Gap id",
    "operator": "Operator",
    "technology": "Technology",
    "dates": "Measured",
    "other_communes": "Other communes",
    "evidence_confirmed": "Confirmed",
    "evidence_likely": "Likely",
    "technology_any": "any technology",
    "state_covered": "Covered",
    "state_weak": "Weak / gap",
    "state_insufficient": "Not enough measurements",
    "state_no_data": "No measurements",
    "cells": "Cells",
    "village": "Village",
    "status": "Status",
    "village_in_gap": "In a coverage gap",
    "village_weak": "Weak signal",
    "village_covered": "Covered",
    "village_no_data": "Not enough measurements",
    "village_insufficient": "Not enough measurements",
    "village_other": "Other",
    "legend_communes": "Share of people in coverage gaps",
    "legend_gaps": "Coverage gaps",
    "legend_cells": "H3 cells (when the layer is on)",
    "legend_villages": "Villages",
    "legend_no_people": "no people",
    "search_placeholder": "Find a commune (diacritics optional)…",
    "search_none": "No commune found",
    "people_unit": "people",
    "dbm": "dBm",
}

STRINGS: dict[str, dict[str, str]] = {"vi": VI, "en": EN}


def check_language(lang: str) -> str:
    """Return ``lang`` when supported, else raise ValueError naming the choices."""
    if lang not in STRINGS:
        raise ValueError(f"unsupported language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    return lang


def text(lang: str, key: str, **values: object) -> str:
    """Return the text for ``key`` in ``lang``, with ``{placeholders}`` filled from ``values``."""
    template = STRINGS[check_language(lang)][key]
    return template.format(**values) if values else template


def format_number(value: float | int | None, lang: str = "vi", decimals: int = 0) -> str:
    """Format a number for readers of ``lang``: ``622.168`` and ``12,5`` in Vietnamese.

    Parameters
    ----------
    value : float or int or None
        The number; None or NaN gives ``–``.
    lang : str
        ``vi`` or ``en``.
    decimals : int
        Digits after the decimal separator.

    Returns
    -------
    str
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(number):
        return "–"
    english = f"{number:,.{decimals}f}"
    if check_language(lang) == "en":
        return english
    return english.replace(",", "\u0001").replace(".", ",").replace("\u0001", ".")


def format_share(value: float | None, lang: str = "vi") -> str:
    """Format a share in [0, 1] as a percentage (``12,5 %`` in Vietnamese, ``12.5%`` in English)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    number = format_number(float(value) * 100, lang, 1)
    # 20,0 % reads better as 20 %.
    number = number.removesuffix(",0") if lang == "vi" else number.removesuffix(".0")
    return f"{number} %" if lang == "vi" else f"{number}%"


def format_date(value: str | date | None, lang: str = "vi") -> str:
    """Format an ISO date (``2024-03-05``) as ``05/03/2024`` in Vietnamese, unchanged in English."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "–"
    iso = value.isoformat() if isinstance(value, date) else str(value)[:10]
    if lang == "vi" and len(iso) == 10 and iso[4] == "-" and iso[7] == "-":
        return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}"
    return iso
