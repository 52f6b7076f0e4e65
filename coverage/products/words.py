"""Every word people read, in Vietnamese (default) and English, and number formatting.

The glossary (:data:`TERMS`, :data:`COLUMNS`) fixes one term per thing for the map, the CSV and
XLSX headers, the report and the API; the map's own phrases are in :data:`VI` and :data:`EN`.

One dict per language with the same keys; :func:`text` looks a key up. Vietnamese readers write
622.168 người and 12,5 %: :func:`format_number` and :func:`format_share` follow the language.
"""

from __future__ import annotations

import math
from datetime import date

LANGUAGES = ("vi", "en")

# ---------------------------------------------------------------------------------------------
# The glossary: one term per thing, in every product (map, CSV/XLSX headers, report, API, CLI)
# ---------------------------------------------------------------------------------------------

#: Concept → (Vietnamese, English). The terms fixed here are the only ones used for these things.
TERMS: dict[str, tuple[str, str]] = {
    "lom_song": ("Vùng lõm sóng", "Coverage gap (no operator)"),
    "gap": ("Vùng lõm", "Gap"),
    "village": ("Thôn, bon, buôn", "Village (thôn, bon, buôn)"),
    "evidence": ("Mức độ tin cậy", "Confidence"),
    "evidence_confirmed": ("Đã xác nhận", "Confirmed"),
    "evidence_likely": ("Có khả năng", "Likely"),
    "predicted_covered": ("Dự báo có sóng", "Predicted covered"),
    "predicted_weak": ("Dự báo sóng yếu", "Predicted weak"),
    "predicted_uncertain": ("Dự báo chưa chắc", "Prediction uncertain"),
    "state_no_data": ("Chưa có số liệu", "No data"),
    "state_insufficient": ("Chưa đủ số liệu", "Not enough evidence"),
    "state_covered": ("Có sóng", "Covered"),
    "state_weak": ("Sóng yếu", "Weak"),
    "all_operators": ("Tất cả nhà mạng", "All operators"),
    "any_technology": ("Mọi công nghệ", "Any technology"),
    "people_in_gaps": ("Số dân trong vùng lõm", "People in gaps"),
    "people_covered": ("Số dân có sóng", "People covered"),
    "people_no_data": ("Số dân chưa đủ số liệu", "People without enough evidence"),
    "synthetic": ("Dữ liệu mô phỏng", "Synthetic data"),
}

#: Machine column name → (Vietnamese header, English header, Vietnamese meaning). Every table
#: people read (gap lists, commune summary, measurement plan, cells, villages, API downloads)
#: takes its headers from here; machine names appear only on the legend sheet and in CSV files
#: meant for programs.
COLUMNS: dict[str, tuple[str, str, str]] = {
    "gap_id": ("Mã vùng lõm", "Gap id", "Mã cố định của vùng (cùng dữ liệu đầu vào cho cùng mã)"),
    "operator": (
        "Nhà mạng",
        "Operator",
        "Nhà mạng của góc nhìn; 'Tất cả nhà mạng' là vùng lõm sóng thật sự (không mạng nào phủ sóng)",
    ),
    "technology": ("Công nghệ", "Technology", "Công nghệ của góc nhìn: 2G, 3G, 4G, 5G hoặc mọi công nghệ"),
    "rank": ("Hạng (theo số dân)", "Rank (by people)", "Thứ hạng trong góc nhìn theo số dân, 1 = đông dân nhất"),
    "population": ("Số dân", "People", "Số người sống trong vùng hoặc ô (bản đồ dân số, điều tra dân số 2019)"),
    "area_km2": ("Diện tích (km²)", "Area (km²)", "Diện tích (km², UTM 48N)"),
    "n_cells": ("Số ô lưới", "Cells", "Số ô lưới lục giác H3"),
    "n_samples": ("Số mẫu đo", "Samples", "Số mẫu đo"),
    "n_devices": ("Số máy đo", "Phones", "Số điện thoại khác nhau đã đo"),
    "n_days": ("Số ngày đo", "Days measured", "Số ngày khác nhau có mẫu đo"),
    "median_signal_dbm": ("Tín hiệu trung vị (dBm)", "Median signal (dBm)", "Mức tín hiệu trung vị của các mẫu đo"),
    "p10_signal_dbm": ("Tín hiệu phân vị 10 (dBm)", "10th percentile signal (dBm)", "10 % mẫu đo yếu hơn mức này"),
    "no_service_share": ("Tỷ lệ mẫu mất sóng", "Share of no-service samples", "Tỷ lệ mẫu đo không có sóng"),
    "median_dl_kbps": ("Tốc độ tải xuống trung vị (kbps)", "Median download (kbps)", "Tốc độ tải xuống trung vị"),
    "evidence": (
        TERMS["evidence"][0],
        TERMS["evidence"][1],
        "Đã xác nhận: đa số ô đủ số mẫu và số máy đo theo quy tắc bằng chứng; có khả năng: chưa đủ",
    ),
    "state": ("Tình trạng", "State", "Có sóng, sóng yếu, chưa đủ số liệu hoặc chưa có số liệu"),
    "commune_code": ("Mã xã (2019)", "Commune code (2019)", "Mã xã (TCTK) trước sắp xếp 2025"),
    "commune": ("Xã (2019)", "Commune (2019)", "Tên xã trước sắp xếp 2025"),
    "district_code": ("Mã huyện (2019)", "District code (2019)", "Mã huyện trước 2025 (cấp huyện đã bỏ từ 01/07/2025)"),
    "district": ("Huyện (2019)", "District (2019)", "Tên huyện trước 2025"),
    "unit_2025_code": ("Mã đơn vị mới", "Unit code (2025)", "Mã xã/phường của tỉnh Lâm Đồng từ 01/07/2025"),
    "unit_2025": ("Đơn vị mới (2025)", "Unit (2025)", "Xã/phường của tỉnh Lâm Đồng từ 01/07/2025"),
    "commune_codes": ("Mã các xã liên quan", "Commune codes", "Mã mọi xã mà vùng chạm tới, cách nhau bởi ';'"),
    "communes": ("Các xã liên quan", "Communes", "Tên các xã đó, cùng thứ tự"),
    "commune_population": ("Số dân của từng xã trong vùng", "People per commune", "Cùng thứ tự với các xã"),
    "first_date": ("Ngày đo đầu tiên", "First date", "Ngày của mẫu đo đầu tiên"),
    "last_date": ("Ngày đo gần nhất", "Last date", "Ngày của mẫu đo gần nhất"),
    "centroid_lon": ("Kinh độ", "Longitude", "Kinh độ của một điểm nằm trong vùng"),
    "centroid_lat": ("Vĩ độ", "Latitude", "Vĩ độ của một điểm nằm trong vùng"),
    "lon": ("Kinh độ", "Longitude", "Kinh độ"),
    "lat": ("Vĩ độ", "Latitude", "Vĩ độ"),
    "h3": ("Ô lưới (H3)", "H3 cell", "Mã ô lưới lục giác H3"),
    "priority": ("Thứ tự ưu tiên", "Priority", "Thứ tự ưu tiên trong xã theo giá trị, 1 = ô có giá trị cao nhất"),
    # radio map (lomsong.analysis.radiomap): predictions, never evidence
    "visit_order": (
        "Thứ tự đi đo (lộ trình)",
        "Visit order (route)",
        "Mỗi ngày 12 ô giá trị cao nhất, đi ô gần nhất trước, xuất phát từ trung tâm xã",
    ),
    "p_covered": (
        "Xác suất có sóng (dự báo)",
        "Probability covered (predicted)",
        "Xác suất ô có sóng theo bản đồ dự báo (không phải số đo)",
    ),
    "predicted_state": (
        "Tình trạng dự báo",
        "Predicted state",
        "Dự báo có sóng (xác suất ≥ 0,8), dự báo sóng yếu (≤ 0,2), dự báo chưa chắc; không phải số đo",
    ),
    "predicted_signal_dbm": ("Tín hiệu dự báo (dBm)", "Predicted signal (dBm)", "Tín hiệu trung vị dự báo"),
    "predicted_sd_db": ("Độ lệch chuẩn dự báo (dB)", "Prediction sd (dB)", "Độ bất định của dự báo"),
    "value": (
        "Giá trị một lần đo (người)",
        "Value of one visit (people)",
        "Số dân × min(xác suất, 1 − xác suất): số người mà một lần đo có thể đổi kết luận",
    ),
    "expected_people_decided": (
        "Số dân có kết luận sau một ngày đo",
        "People decided by one day",
        "Số dân của xã có kết luận sau một ngày đo (12 ô đầu, mỗi ô đủ mẫu của mọi nhà mạng)",
    ),
    "people_predicted_weak": (
        "Số dân chưa đo, dự báo sóng yếu",
        "Unmeasured people, predicted weak",
        "Số người ở ô chưa có kết luận đo mà bản đồ dự báo là sóng yếu (dự báo, không phải số đo)",
    ),
    "people_uncertain": (
        "Số dân chưa đo, dự báo chưa chắc",
        "Unmeasured people, prediction uncertain",
        "Số người ở ô chưa có kết luận đo mà dự báo chưa chắc hoặc chưa có dự báo",
    ),
    "mean_p_covered": ("Xác suất có sóng trung bình", "Mean probability covered", "Trung bình trên các ô của vùng"),
    "n_villages": ("Số thôn, buôn", "Villages", "Số thôn, bon, buôn có trung tâm trong vùng"),
    # remedy plan (lomsong plan)
    "order": ("Thứ tự", "Order", "1 = trạm chọn đầu tiên (thêm nhiều người có sóng nhất)"),
    "candidate_id": ("Mã vị trí", "Candidate id", "Thôn, trung tâm xã, trạm dùng chung hoặc mã người dùng"),
    "candidate_kind": ("Loại vị trí", "Candidate kind", "Thôn, trung tâm xã, trạm của nhà mạng khác, người dùng"),
    "unit": ("Xã/phường (2025)", "Unit (2025)", "Đơn vị hành chính cấp xã từ 2025"),
    "unit_code": ("Mã xã/phường (2025)", "Unit code (2025)", "Mã đơn vị hành chính cấp xã từ 2025"),
    "people_newly_covered": ("Số dân có sóng thêm", "People newly covered", "Số dân mới có sóng nhờ trạm này"),
    "people_newly_covered_measured": ("Trong đó: vùng lõm đã đo", "Of them: measured gaps", "Số dân ở vùng lõm đã đo"),
    "people_newly_covered_predicted": (
        "Trong đó: vùng dự báo sóng yếu",
        "Of them: predicted weak",
        "Số dân ở ô chưa đo mà bản đồ dự báo sóng yếu",
    ),
    "cumulative_people": ("Cộng dồn số dân", "Cumulative people", "Số dân có sóng thêm nhờ trạm này và các trạm trên"),
    "villages_newly_covered": (
        "Số thôn có sóng thêm",
        "Villages newly covered",
        "Số thôn có trung tâm đang sóng yếu (đo hoặc dự báo) mà trạm này phủ",
    ),
    "village_names": ("Các thôn (số dân)", "Villages (people)", "Tên các thôn đó và số dân"),
    "villages_resolved": (
        "Thôn trắng/lõm sóng được xử lý",
        "Trắng/lõm sóng villages resolved",
        "Thôn trắng sóng hoặc lõm sóng của nhà mạng (CV 1603) không còn chỗ sóng yếu nào sau trạm này và các trạm trên",
    ),
    "note": ("Ghi chú", "Note", "Lý do chọn vị trí, cần kéo điện lưới, ghi chú của người dùng"),
    "cost": ("Chi phí", "Cost", "Chi phí do người dùng cho"),
    "samples_needed": ("Cần đo thêm (mẫu)", "Samples needed", "Số mẫu cần đo thêm với mỗi nhà mạng cần đo"),
    "devices_needed": ("Cần thêm (máy)", "Phones needed", "Số điện thoại khác cần đo thêm"),
    "operators_to_test": ("Nhà mạng cần đo", "Operators to test", "Các nhà mạng chưa đủ bằng chứng ở ô này"),
    "people_in_gaps": (TERMS["people_in_gaps"][0], TERMS["people_in_gaps"][1], "Số người sống trong các vùng lõm"),
    "people_covered": (TERMS["people_covered"][0], TERMS["people_covered"][1], "Số người sống ở ô đo thấy có sóng"),
    "people_no_data": (
        TERMS["people_no_data"][0],
        TERMS["people_no_data"][1],
        "Số người sống ở ô chưa đủ số đo để kết luận",
    ),
    "share_people_covered": ("Tỷ lệ dân có sóng", "Share of people covered", "Trên dân số của xã"),
    "share_people_no_data": ("Tỷ lệ dân chưa đủ số liệu", "Share of people without enough evidence", "Trên dân số"),
    "share_area_with_data": ("Tỷ lệ diện tích có số liệu", "Share of area with data", "Trên diện tích của xã"),
    "n_gaps": ("Số vùng lõm", "Gaps", "Số vùng lõm chạm tới xã"),
    "largest_gap_id": ("Vùng lõm lớn nhất", "Largest gap", "Mã vùng lõm có nhiều dân của xã nhất"),
    "largest_gap_population": ("Số dân của xã trong vùng đó", "People of the commune in it", "Số dân"),
    "name": (TERMS["village"][0], TERMS["village"][1], "Tên thôn, bon, buôn"),
    "households": ("Số hộ", "Households", "Số hộ gia đình"),
    "has_grid_power": ("Điện lưới", "Grid power", "Thôn có điện lưới quốc gia"),
    "no_operator": ("Không nhà mạng nào", "No operator", "Trung tâm thôn nằm trong vùng lõm sóng"),
    # villages by the Ministry's two tiers (Công văn 1603/BTTTT-CVT) and their people
    "villages": (
        "Thôn, bon trong vùng (số dân)",
        "Villages in the gap (people)",
        "Các thôn, bon, buôn có dân sống trong vùng và số dân của mỗi thôn trong vùng, đông nhất trước",
    ),
    "status_cv1603": (
        "Tình trạng (CV 1603)",
        "Status (CV 1603)",
        "Trắng sóng: trung tâm thôn không có sóng; lõm sóng: trung tâm có sóng nhưng một cụm dân của thôn "
        "không có; có sóng; chưa đủ dữ liệu",
    ),
    "people": ("Số dân của thôn (bản đồ dân số)", "Village people (surface)", "Số dân các ô thuộc về thôn"),
    "people_affected": ("Số dân bị ảnh hưởng", "People affected", "Số dân của thôn sống trong ô lõm sóng"),
    "households_affected": ("Số hộ bị ảnh hưởng", "Households affected", "Số hộ của thôn, cùng tỷ lệ với số dân"),
    "gap_ids": ("Vùng lõm sóng", "Gaps", "Mã các vùng lõm sóng có dân của thôn, cách nhau bởi ';'"),
    # change between two periods (lomsong.analysis.compare)
    "change_id": ("Mã thay đổi", "Change id", "Mã cố định của một thay đổi giữa hai kỳ"),
    "status": ("So với kỳ trước", "Since the previous period", "Mới, không đổi, thu hẹp, mở rộng, đã xoá …"),
    "gap_ids_before": ("Mã vùng kỳ trước", "Gap ids before", "Các vùng lõm của kỳ trước trong nhóm này"),
    "gap_ids_after": ("Mã vùng kỳ này", "Gap ids after", "Các vùng lõm của kỳ này trong nhóm này"),
    "n_gaps_before": ("Số vùng kỳ trước", "Gaps before", "Số vùng lõm kỳ trước"),
    "n_gaps_after": ("Số vùng kỳ này", "Gaps after", "Số vùng lõm kỳ này"),
    "n_cells_before": ("Số ô kỳ trước", "Cells before", "Số ô lưới kỳ trước"),
    "n_cells_after": ("Số ô kỳ này", "Cells after", "Số ô lưới kỳ này"),
    "cells_closed": ("Số ô hết lõm", "Cells closed", "Ô lõm kỳ trước, không còn lõm kỳ này"),
    "cells_opened": ("Số ô mới lõm", "Cells opened", "Ô không lõm kỳ trước, lõm kỳ này"),
    "population_before": ("Số dân kỳ trước", "People before", "Số dân trong vùng kỳ trước"),
    "population_after": ("Số dân kỳ này", "People after", "Số dân trong vùng kỳ này"),
    "population_change": ("Thay đổi số dân", "Change in people", "Số dân kỳ này trừ kỳ trước"),
    "area_km2_before": ("Diện tích kỳ trước (km²)", "Area before (km²)", "Diện tích kỳ trước"),
    "area_km2_after": ("Diện tích kỳ này (km²)", "Area after (km²)", "Diện tích kỳ này"),
    "period": ("Kỳ", "Period", "Tháng của số đo (YYYY-MM)"),
    "villages_all": ("Số thôn lõm sóng", "Villages without coverage", "Số thôn có trung tâm trong vùng lõm sóng"),
    "change": ("Thay đổi", "Change", "Vào danh sách hoặc ra khỏi danh sách"),
    "on_list_before": ("Trong danh sách kỳ trước", "On the list before", "Thôn lõm sóng kỳ trước"),
    "on_list_after": ("Trong danh sách kỳ này", "On the list after", "Thôn lõm sóng kỳ này"),
    "synthetic": (TERMS["synthetic"][0], TERMS["synthetic"][1], "CÓ: dữ liệu do chương trình mô phỏng tạo ra"),
    # committed sites and their follow-up (lomsong report --commitments)
    "commitment_id": ("Mã cam kết", "Commitment id", "<nhà mạng>:<mã trạm> hoặc <nhà mạng>@<kinh độ>,<vĩ độ>"),
    "site_id": ("Mã trạm", "Site id", "Mã trạm của nhà mạng hoặc mã vị trí trong phương án xử lý"),
    "planned_month": ("Tháng phát sóng dự kiến", "Planned month", "Tháng nhà mạng cam kết phát sóng (YYYY-MM)"),
    "plan_people": (
        "Số dân dự báo có sóng thêm (phương án)",
        "People the plan predicts newly covered",
        "Dự báo của phương án xử lý cho trạm này, không phải số đo",
    ),
    "baseline_period": ("Kỳ gốc", "Baseline period", "Kỳ đo cuối cùng trước tháng dự kiến"),
    "gap_cells_before": ("Số ô lõm quanh trạm (kỳ gốc)", "Gap cells around the site (baseline)", "Số ô lưới"),
    "gap_people_before": ("Số dân vùng lõm quanh trạm (kỳ gốc)", "People in gaps around the site (baseline)", "Số dân"),
    "cells_measured_covered": ("Số ô đo thấy có sóng", "Cells measured covered", "Trong các ô lõm kỳ gốc"),
    "cells_still_weak": ("Số ô vẫn sóng yếu", "Cells still weak", "Trong các ô lõm kỳ gốc"),
    "cells_not_remeasured": ("Số ô chưa đo lại", "Cells not measured again", "Trong các ô lõm kỳ gốc"),
    "change_statuses": ("Thay đổi của các vùng lõm", "Changes of the gaps", "Theo so sánh hai kỳ"),
    "commitment_status": (
        "Vùng lõm quanh trạm",
        "Gaps around the site",
        "Đã hết lõm (đo thấy có sóng), còn lõm, chưa đo lại, không có vùng lõm kỳ gốc, chưa có kỳ đo sau",
    ),
    "history": ("Diễn biến qua các kỳ", "Over the periods", "Tình trạng từng kỳ đo từ tháng dự kiến"),
    "area": ("Phạm vi xét", "Area considered", "Vùng phủ dự báo của trạm (phương án) hoặc bán kính quanh trạm"),
    "radius_m": ("Bán kính (m)", "Radius (m)", "Bán kính quanh trạm khi không có vùng phủ dự báo"),
}


VI: dict[str, str] = {
    # workbooks
    "legend_sheet": "Chú giải",
    "legend_header": "Cột",
    "legend_machine_name": "Tên máy (CSV, API)",
    "legend_meaning": "Ý nghĩa",
    "summary_sheet": "Tổng hợp",
    "cli_largest_gaps": "Vùng lõm sóng đông dân nhất",
    "campaign_unit": "Đơn vị (2025)",
    "campaign_no_unit": "Chưa rõ đơn vị",
    "campaign_total": "Toàn tỉnh",
    "campaign_communes": "Số xã (2019)",
    "campaign_cells": "Số ô cần đo",
    "campaign_team_days": "Số ngày đo của một tổ ({cells} ô/ngày)",
    "campaign_people": "Số dân trong các ô",
    "campaign_decided": "Số dân có kết luận sau ngày đo đầu tiên",
    "campaign_intro": (
        "Kế hoạch đo cho Tổ công nghệ số cộng đồng: mỗi đơn vị một trang, các ô theo thứ tự đi đo "
        "(mỗi ngày {cells} ô, xuất phát từ trung tâm xã). Toàn bộ danh sách: campaign.csv."
    ),
    "gaps_campaign_pointer": "Kế hoạch đo (nơi cần đo thêm) theo từng đơn vị: campaign.xlsx.",
    "view_title": "Góc nhìn",
    "denominator_note": (
        "Mỗi con số đi kèm mẫu số: số dân trong vùng lõm, số dân có sóng và số dân chưa đủ số liệu "
        "cộng lại bằng dân số."
    ),
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
    "layer_villages": f"{TERMS['village'][0]} theo tình trạng sóng",
    "layer_predicted": "Vùng dự báo sóng yếu (dự báo, không phải số đo)",
    "layer_plan": "Phương án xử lý: trạm đề xuất (dự báo)",
    "plan_note": "Trạm đề xuất bởi lomsong plan; vùng phủ là dự báo từ mô hình đã hiệu chỉnh",
    "plan_order": "Thứ tự",
    "plan_people": "Số dân có sóng thêm",
    "plan_candidate": "Vị trí",
    "plan_remark": "Ghi chú",
    "commitments_title": "Các trạm nhà mạng đã cam kết và vùng lõm quanh trạm",
    "commitments_intro": (
        "Mỗi trạm cam kết (tệp cam kết của Sở) được đối chiếu với số đo: các ô lõm sóng của nhà mạng đó quanh trạm "
        "ở kỳ đo cuối trước tháng dự kiến, và tình trạng các ô ấy ở các kỳ đo từ tháng dự kiến. 'Đã hết lõm' chỉ khi "
        "ít nhất hai phần ba số ô đó được đo lại thấy có sóng; số dân của phương án là dự báo, không phải số đo."
    ),
    "commitment_closed": "Đã hết lõm (đo thấy có sóng)",
    "commitment_still_open": "Còn lõm",
    "commitment_not_remeasured": "Chưa đo lại (chưa kết luận)",
    "commitment_no_gap_before": "Không có vùng lõm đo được quanh trạm ở kỳ gốc",
    "commitment_not_measured_yet": "Chưa có kỳ đo từ tháng dự kiến",
    "commitment_area_predicted_coverage": "vùng phủ dự báo",
    "commitment_area_radius": "bán kính {radius} m",
    "sheet_commitments": "Trạm cam kết",
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
    "evidence": TERMS["evidence"][0],
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
    "village": TERMS["village"][0],
    "status": "Tình trạng",
    "village_in_gap": "Trong vùng lõm sóng",
    "village_weak": "Sóng yếu",
    "village_covered": "Có sóng",
    "village_no_data": "Chưa đủ số đo",
    "village_insufficient": "Chưa đủ số đo",
    "village_other": "Khác",
    # villages: the Ministry's two tiers (Công văn 1603/BTTTT-CVT) and the people around them
    "cv1603_trang_song": "Trắng sóng",
    "cv1603_lom_song": "Lõm sóng",
    "cv1603_co_song": "Có sóng",
    "cv1603_chua_du_du_lieu": "Chưa đủ dữ liệu",
    "cv1603_status": "Tình trạng theo CV 1603",
    "households": "Số hộ",
    "village_people": "Số dân",
    "grid_power": "Điện lưới",
    "grid_power_yes": "Có",
    "grid_power_no": "Không",
    "people_affected": "Số dân bị ảnh hưởng",
    "households_affected": "Số hộ bị ảnh hưởng",
    "gap_villages": "Thôn, bon trong vùng",
    "outside_villages": "Ngoài thôn",
    "population_source": "Nguồn dân số",
    "population_source_villages": (
        "dân số đặt quanh trung tâm các thôn (danh sách thôn), phần còn lại của điều tra 2019 rải đều"
    ),
    "population_source_buildings": "dân số điều tra 2019 chia theo diện tích nhà (dữ liệu công trình)",
    "population_source_raster": "bản đồ dân số dạng lưới (WorldPop/GHSL)",
    "population_source_even": "dân số điều tra 2019 rải đều trên diện tích xã (ước lượng thô)",
    "search_villages": "Tìm xã hoặc thôn (không cần dấu)",
    # the provincial village list (villages.xlsx)
    "vl_sheet_list": "Danh sách thôn, bon",
    "vl_sheet_counts": "Tổng hợp theo xã",
    "vl_sheet_check": "Đối chiếu dân số",
    "vl_stt": "STT",
    "vl_district": "Huyện",
    "vl_commune": "Xã",
    "vl_commune_code": "Mã xã",
    "vl_village": "Thôn/Bon",
    "vl_status": "Tình trạng (CV 1603)",
    "vl_status_operator": "{operator} (CV 1603)",
    "vl_centre_operator": "{operator}: sóng tại trung tâm",
    "vl_gaps": "Vùng lõm sóng",
    "vl_no_operator": "Không nhà mạng nào",
    "vl_villages": "Số thôn",
    "vl_province": "Toàn tỉnh",
    "vl_census": "Dân số điều tra 2019",
    "vl_source_people": "Tổng số dân của nguồn",
    "vl_items": "Số mục của nguồn (thôn / nhà)",
    "vl_used": "Số dân dùng",
    "vl_placed": "Đặt theo nguồn",
    "vl_spread": "Rải đều",
    "vl_state_covered": "Có sóng",
    "vl_state_weak": "Sóng yếu",
    "vl_state_insufficient": "Chưa đủ dữ liệu",
    "vl_state_no_data": "Chưa có dữ liệu",
    # legend
    "legend_communes": "Tỷ lệ dân trong vùng lõm sóng",
    "legend_gaps": "Vùng lõm sóng",
    "legend_predicted": "Dự báo (không phải số đo)",
    "legend_predicted_weak": "Vùng dự báo sóng yếu, chưa đo",
    "predicted_note": "Dự báo từ bản đồ sóng (mô hình suy hao + nội suy kriging), chưa có số đo tại đây",
    "mean_p_covered": "Xác suất có sóng trung bình",
    "villages_in_area": "Số thôn, buôn trong vùng",
    "legend_cells": "Ô lưới H3 (khi bật lớp)",
    "legend_villages": TERMS["village"][0],
    "legend_no_people": "không có dân",
    # search
    "search_placeholder": "Tìm xã (gõ không dấu cũng được)…",
    "search_none": "Không tìm thấy xã nào",
    "people_unit": "người",
    "dbm": "dBm",
}

EN: dict[str, str] = {
    # workbooks
    "legend_sheet": "Legend",
    "legend_header": "Column",
    "legend_machine_name": "Machine name (CSV, API)",
    "legend_meaning": "Meaning (Vietnamese)",
    "summary_sheet": "Summary",
    "cli_largest_gaps": "Largest coverage gaps",
    "campaign_unit": "Unit (2025)",
    "campaign_no_unit": "Unit unknown",
    "campaign_total": "Province",
    "campaign_communes": "Communes (2019)",
    "campaign_cells": "Cells to measure",
    "campaign_team_days": "Days for one team ({cells} cells a day)",
    "campaign_people": "People in these cells",
    "campaign_decided": "People decided after the first day",
    "campaign_intro": (
        "Measurement plan for the community digital teams: one sheet per unit, cells in the order of "
        "the visit ({cells} a day, starting from the commune centre). The whole list: campaign.csv."
    ),
    "gaps_campaign_pointer": "The measurement plan (where to measure next), per unit: campaign.xlsx.",
    "view_title": "View",
    "denominator_note": (
        "Every figure with its denominator: people in gaps, covered and without enough evidence add up to "
        "the population."
    ),
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
    "layer_predicted": "Predicted weak areas (prediction, not measurement)",
    "layer_plan": "Remedy plan: proposed sites (prediction)",
    "plan_note": "Site proposed by lomsong plan; its coverage is predicted by the fitted model",
    "plan_order": "Order",
    "plan_people": "People newly covered",
    "plan_candidate": "Candidate",
    "plan_remark": "Note",
    "commitments_title": "Sites the operators committed to, and the gaps around them",
    "commitments_intro": (
        "Each committed site (the department's commitments file) is checked against the measurements: the operator's "
        "gap cells around the site in the last period measured before its planned month, and what became of them in "
        "the periods measured from that month on. 'Closed' only when at least two thirds of those cells were measured "
        "again and found covered; the plan's people are a prediction, not a measurement."
    ),
    "commitment_closed": "Closed (measured covered)",
    "commitment_still_open": "Still open",
    "commitment_not_remeasured": "Not measured again (unknown)",
    "commitment_no_gap_before": "No measured gap around the site in the baseline",
    "commitment_not_measured_yet": "No period measured since the planned month",
    "commitment_area_predicted_coverage": "predicted coverage",
    "commitment_area_radius": "{radius} m radius",
    "sheet_commitments": "Committed sites",
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
    "evidence": TERMS["evidence"][1],
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
    # villages: the Ministry's two tiers (Công văn 1603/BTTTT-CVT) and the people around them
    "cv1603_trang_song": "No signal at the centre (trắng sóng)",
    "cv1603_lom_song": "Weak spot (lõm sóng)",
    "cv1603_co_song": "Covered (có sóng)",
    "cv1603_chua_du_du_lieu": "Not enough data",
    "cv1603_status": "Status (CV 1603)",
    "households": "Households",
    "village_people": "People",
    "grid_power": "Grid power",
    "grid_power_yes": "Yes",
    "grid_power_no": "No",
    "people_affected": "People affected",
    "households_affected": "Households affected",
    "gap_villages": "Villages in the gap",
    "outside_villages": "Outside villages",
    "population_source": "Population source",
    "population_source_villages": (
        "people placed around the village centres (village list), census 2019 remainder spread evenly"
    ),
    "population_source_buildings": "census 2019 shared by building footprint area",
    "population_source_raster": "gridded population (WorldPop/GHSL)",
    "population_source_even": "census 2019 spread evenly over each commune (rough)",
    "search_villages": "Find a commune or village (diacritics optional)",
    # the provincial village list (villages.xlsx)
    "vl_sheet_list": "Villages",
    "vl_sheet_counts": "By commune",
    "vl_sheet_check": "Population check",
    "vl_stt": "No.",
    "vl_district": "District",
    "vl_commune": "Commune",
    "vl_commune_code": "Commune code",
    "vl_village": "Village",
    "vl_status": "Status (CV 1603)",
    "vl_status_operator": "{operator} (CV 1603)",
    "vl_centre_operator": "{operator}: signal at the centre",
    "vl_gaps": "Coverage gaps",
    "vl_no_operator": "No operator",
    "vl_villages": "Villages",
    "vl_province": "Province",
    "vl_census": "Census 2019",
    "vl_source_people": "People in the source",
    "vl_items": "Source items (villages / buildings)",
    "vl_used": "People used",
    "vl_placed": "Placed by the source",
    "vl_spread": "Spread evenly",
    "vl_state_covered": "Covered",
    "vl_state_weak": "Weak",
    "vl_state_insufficient": "Not enough data",
    "vl_state_no_data": "No data",
    "legend_communes": "Share of people in coverage gaps",
    "legend_gaps": "Coverage gaps",
    "legend_predicted": "Prediction (not measurement)",
    "legend_predicted_weak": "Predicted weak, not yet measured",
    "predicted_note": "Predicted by the radio map (path loss + kriging); nobody has measured here yet",
    "mean_p_covered": "Mean probability of coverage",
    "villages_in_area": "Villages in the area",
    "legend_cells": "H3 cells (when the layer is on)",
    "legend_villages": "Villages",
    "legend_no_people": "no people",
    "search_placeholder": "Find a commune (diacritics optional)…",
    "search_none": "No commune found",
    "people_unit": "people",
    "dbm": "dBm",
}

# Claimed coverage against the measurements (issue 18): the operators' published service areas.
TERMS.update(
    {
        "claim_state_verified": ("Khai báo đúng", "Claim verified"),
        "claim_state_over_claim": ("Khai báo vượt", "Over-claimed"),
        "claim_state_unverified": ("Khai báo chưa kiểm chứng", "Claim unverified"),
        "claim_state_under_claim": ("Có sóng nhưng không khai báo", "Covered, not claimed"),
        "claim_state_not_claimed": ("Không khai báo", "Not claimed"),
    }
)
COLUMNS.update(
    {
        "claim_state": (
            "Đối chiếu khai báo",
            "Claim check",
            "Khai báo đúng (đo có sóng), khai báo vượt (đo sóng yếu, đủ bằng chứng), chưa kiểm chứng "
            "(chưa đủ số đo), có sóng nhưng không khai báo, hoặc không khai báo",
        ),
        "predicted_claim_state": (
            "Đối chiếu theo dự báo",
            "Claim check from the prediction",
            "Như trên nhưng theo dự báo; chỉ để tham khảo, không phải bằng chứng",
        ),
        "claim_date": ("Ngày công bố bản đồ", "Claim map date", "Ngày nhà mạng công bố bản đồ vùng phủ sóng"),
        "level": ("Cấp", "Level", "Toàn tỉnh hoặc xã"),
        "claimed_km2": (
            "Diện tích khai báo (km²)",
            "Claimed area (km²)",
            "Diện tích các ô có tâm nằm trong vùng khai báo",
        ),
        "claimed_people": ("Số dân trong vùng khai báo", "People in the claimed area", "Số dân của các ô khai báo"),
        "verified_people": ("Số dân: khai báo đúng", "People: claim verified", "Trong vùng khai báo, đo có sóng"),
        "verified_km2": ("Diện tích khai báo đúng (km²)", "Verified area (km²)", "Diện tích các ô đó"),
        "over_claim_people": (
            "Số dân: khai báo vượt",
            "People: over-claimed",
            "Trong vùng khai báo, đo sóng yếu với đủ số mẫu và số máy đo",
        ),
        "over_claim_km2": ("Diện tích khai báo vượt (km²)", "Over-claimed area (km²)", "Diện tích các ô đó"),
        "unverified_people": (
            "Số dân: chưa kiểm chứng",
            "People: claim unverified",
            "Trong vùng khai báo, chưa có hoặc chưa đủ số đo",
        ),
        "unverified_km2": ("Diện tích chưa kiểm chứng (km²)", "Unverified area (km²)", "Diện tích các ô đó"),
        "under_claim_people": (
            "Số dân có sóng nhưng không khai báo",
            "People covered, not claimed",
            "Ngoài vùng khai báo, đo có sóng",
        ),
        "under_claim_km2": ("Diện tích có sóng không khai báo (km²)", "Covered, not claimed (km²)", "Diện tích"),
        "share_claimed_people_verified": (
            "Tỷ lệ dân khai báo đã kiểm chứng có sóng",
            "Share of claimed people verified",
            "Số dân khai báo đúng / số dân trong vùng khai báo",
        ),
        "n_challenges": ("Số vùng khai báo vượt", "Over-claimed areas", "Số vùng khai báo vượt chạm tới xã"),
        "challenge_id": (
            "Mã vùng khai báo vượt",
            "Challenge id",
            "Mã cố định: nhà mạng, công nghệ và mã băm các ô của vùng",
        ),
    }
)
VI.update(
    {
        "level_province": "Toàn tỉnh",
        "level_unit_2025": "Đơn vị mới (2025)",
        "level_commune": "Xã (2019)",
        "sheet_claims": "Đối chiếu khai báo",
        "sheet_challenges": "Vùng khai báo vượt",
        "layer_challenges": "Vùng nhà mạng khai báo vượt — {operator}",
        "legend_claims": "Vùng phủ nhà mạng khai báo",
        "legend_challenges": "Khai báo có sóng, đo sóng yếu",
        "claims_title": "Vùng phủ sóng nhà mạng khai báo so với số đo",
        "claims_intro": (
            "Theo QCVN 36:2022/BTTTT và QCVN 81:2019/BTTTT, nhà mạng công bố bản đồ vùng phủ sóng. "
            "Bảng dưới đối chiếu bản đồ công bố mới nhất với số đo: số dân ở nơi khai báo có sóng "
            "được kiểm chứng, khai báo vượt (đo sóng yếu, đủ bằng chứng) hoặc chưa kiểm chứng."
        ),
        "claims_synthetic": "Bản đồ khai báo là dữ liệu mô phỏng.",
    }
)
EN.update(
    {
        "level_province": "Province",
        "level_unit_2025": "Unit (2025)",
        "level_commune": "Commune (2019)",
        "sheet_claims": "Claims checked",
        "sheet_challenges": "Over-claimed areas",
        "layer_challenges": "Over-claimed areas — {operator}",
        "legend_claims": "Operators' claimed coverage",
        "legend_challenges": "Claimed covered, measured weak",
        "claims_title": "Operators' claimed coverage against the measurements",
        "claims_intro": (
            "Under QCVN 36:2022/BTTTT and QCVN 81:2019/BTTTT operators publish their service areas as maps. "
            "The table compares the latest published map with the measurements: people where the claimed "
            "coverage is verified, over-claimed (measured weak, with enough evidence) or unverified."
        ),
        "claims_synthetic": "The claim maps are simulated data.",
    }
)

#: Map words for today's units, denominators and the legible map (issue 14), Vietnamese.
VI_MAP_2025: dict[str, str] = {
    "title_2025": "Vùng lõm sóng di động có người ở — tỉnh Lâm Đồng (địa bàn tỉnh Đắk Nông cũ)",
    "unit_title": "Vùng lõm sóng di động — {unit} (đơn vị mới, tỉnh Lâm Đồng)",
    "summary_unit": "{n_gaps} vùng lõm sóng chạm đơn vị này, {people} người của đơn vị sống trong đó",
    "denominator": (
        "Trên {population} người: {in_gaps} ({share_in_gaps}) trong vùng lõm, {covered} ({share_covered}) "
        "có sóng, {unknown} ({share_unknown}) chưa đủ số liệu"
    ),
    "layer_units": "Đơn vị hành chính mới (2025)",
    "layer_districts_2019": "Ranh giới huyện cũ (trước 2025)",
    "layer_labels_2025": "Tên đơn vị mới và xã cũ",
    "unit": "Đơn vị mới (2025)",
    "unit_code": "Mã đơn vị mới",
    "old_communes": "Gồm các xã cũ",
    "commune_2019": "Xã cũ (2019)",
    "people_covered": TERMS["people_covered"][0],
    "people_no_data": TERMS["people_no_data"][0],
    "legend_insufficient": TERMS["state_insufficient"][0] + " (hơn nửa số dân chưa đủ số đo)",
    "legend_units": "Ranh giới đơn vị mới (2025)",
    "legend_mapped_whole": "Mỗi xã cũ được gán trọn vào một đơn vị mới",
    "legend_toggle": "Chú giải",
    "open_unit_map": "Mở bản đồ đơn vị →",
    "search_placeholder_2025": "Tìm đơn vị mới, xã cũ (không dấu được)…",
    "search_none_2025": "Không tìm thấy đơn vị hay xã nào",
    "search_kind_unit": "đơn vị mới (2025)",
    "layers_toggle": "Lớp bản đồ",
    # the measuring tool (leaflet-measure has no Vietnamese: its English is replaced on the page)
    "measure": "Đo",
    "measureDistancesAndAreas": "Đo khoảng cách và diện tích",
    "createNewMeasurement": "Bắt đầu một phép đo",
    "startCreating": "Nhấp lên bản đồ để thêm các điểm cần đo",
    "finishMeasurement": "Kết thúc phép đo",
    "lastPoint": "Điểm cuối",
    "area": "Diện tích",
    "perimeter": "chu vi",
    "pointLocation": "Vị trí điểm",
    "areaMeasurement": "Đo diện tích",
    "linearMeasurement": "Đo khoảng cách",
    "pathDistance": "Khoảng cách",
    "centerOnArea": "Đưa vùng này vào giữa",
    "centerOnLine": "Đưa đường này vào giữa",
    "centerOnLocation": "Đưa điểm này vào giữa",
    "cancel": "Huỷ",
    "delete": "Xoá",
}
VI.update(VI_MAP_2025)

#: Map words for today's units, denominators and the legible map (issue 14), English.
EN_MAP_2025: dict[str, str] = {
    "title_2025": "Mobile coverage gaps where people live — Lâm Đồng province (former Đắk Nông area)",
    "unit_title": "Mobile coverage gaps — {unit} (new unit, Lâm Đồng province)",
    "summary_unit": "{n_gaps} coverage gaps touch this unit, {people} of its people live in them",
    "denominator": (
        "Of {population} people: {in_gaps} ({share_in_gaps}) in gaps, {covered} ({share_covered}) covered, "
        "{unknown} ({share_unknown}) without enough evidence"
    ),
    "layer_units": "New administrative units (2025)",
    "layer_districts_2019": "Former district borders (before 2025)",
    "layer_labels_2025": "Names of new units and old communes",
    "unit": "New unit (2025)",
    "unit_code": "New unit code",
    "old_communes": "Old communes",
    "commune_2019": "Old commune (2019)",
    "people_covered": TERMS["people_covered"][1],
    "people_no_data": TERMS["people_no_data"][1],
    "legend_insufficient": TERMS["state_insufficient"][1] + " (over half the people without enough data)",
    "legend_units": "Border of a new unit (2025)",
    "legend_mapped_whole": "Each old commune is mapped whole to one new unit",
    "legend_toggle": "Legend",
    "open_unit_map": "Open the unit map →",
    "search_placeholder_2025": "Find a unit or old commune…",
    "search_none_2025": "No unit or commune found",
    "search_kind_unit": "new unit (2025)",
    "layers_toggle": "Map layers",
    "measure": "Measure",
    "measureDistancesAndAreas": "Measure distances and areas",
    "createNewMeasurement": "Create a new measurement",
    "startCreating": "Start creating a measurement by adding points to the map",
    "finishMeasurement": "Finish measurement",
    "lastPoint": "Last point",
    "area": "Area",
    "perimeter": "Perimeter",
    "pointLocation": "Point location",
    "areaMeasurement": "Area measurement",
    "linearMeasurement": "Linear measurement",
    "pathDistance": "Path distance",
    "centerOnArea": "Center on this area",
    "centerOnLine": "Center on this line",
    "centerOnLocation": "Center on this location",
    "cancel": "Cancel",
    "delete": "Delete",
}
EN.update(EN_MAP_2025)

#: The API's HTML pages (f=html): landing page, conformance, collections, pages of features.
API_VI: dict[str, str] = {
    "api_links": "Liên kết",
    "api_page_count": "{returned} / {matched} đối tượng",
    "api_conformance": "Các lớp chuẩn đáp ứng (OGC API - Features)",
    "api_collections": "Các tập dữ liệu",
}
API_EN: dict[str, str] = {
    "api_links": "Links",
    "api_page_count": "{returned} of {matched} features",
    "api_conformance": "Conformance classes (OGC API - Features)",
    "api_collections": "Collections",
}
VI.update(API_VI)
EN.update(API_EN)

STRINGS: dict[str, dict[str, str]] = {"vi": VI, "en": EN}


def term(key: str, lang: str = "vi") -> str:
    """Return the glossary's term for a concept (:data:`TERMS`) in ``lang``."""
    vietnamese, english = TERMS[key]
    return vietnamese if check_language(lang) == "vi" else english


def header(column: str, lang: str = "vi") -> str:
    """Return the header people read for a machine column name (the name itself when unknown).

    Parameters
    ----------
    column : str
        Machine column name (``population``, ``gap_id`` …).
    lang : str
        ``vi`` or ``en``.

    Returns
    -------
    str
    """
    entry = COLUMNS.get(column)
    if entry is None:
        operator = column.removeprefix("status_")
        if operator != column:  # a status per operator: status_viettel
            from lomsong.operators import display_name

            return f"{'Tình trạng' if check_language(lang) == 'vi' else 'Status'} {display_name(operator)}"
        return column
    return entry[0] if check_language(lang) == "vi" else entry[1]


def bilingual(key: str) -> str:
    """Return "Vietnamese / English" for a column, a concept or a string key, as the CLI shows words.

    Parameters
    ----------
    key : str
        A key of :data:`COLUMNS`, :data:`TERMS` or the page strings (:data:`VI`/:data:`EN`), or
        an ingest reason code (:data:`REASON_LABELS`).

    Returns
    -------
    str
        One word when both languages say the same (``km²``); the key itself when unknown.
    """
    if key in COLUMNS:
        vietnamese, english = COLUMNS[key][:2]
    elif key in TERMS:
        vietnamese, english = TERMS[key]
    elif key in VI and key in EN:
        vietnamese, english = VI[key], EN[key]
    elif key in REASON_LABELS["vi"]:
        vietnamese, english = REASON_LABELS["vi"][key], REASON_LABELS["en"].get(key, key)
    else:
        return key
    return vietnamese if vietnamese == english else f"{vietnamese} / {english}"


def meaning(column: str) -> str:
    """Return the Vietnamese meaning of a machine column (for legend sheets); empty when unknown."""
    entry = COLUMNS.get(column)
    return entry[2] if entry else ""


def headers(columns: list[str] | tuple[str, ...], lang: str = "vi") -> dict[str, str]:
    """Return ``{column: header}`` for the given machine columns."""
    return {column: header(column, lang) for column in columns}


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


#: Why rows of an uploaded file were not kept (the codes of :mod:`lomsong.readers.validate`), per
#: language: the ingest report shows these beside the counts.
REASON_LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "malformed_row": "dòng sai cấu trúc (nhiều trường hơn tiêu đề)",
        "missing_coordinates": "thiếu vĩ độ hoặc kinh độ",
        "unparseable_coordinates": "vĩ độ hoặc kinh độ không phải là số",
        "coordinates_out_of_range": "tọa độ ngoài phạm vi hợp lệ",
        "null_island": "vị trí (0, 0): GPS chưa bắt được vệ tinh",
        "missing_time": "thiếu thời gian đo",
        "unparseable_time": "thời gian đo không đọc được",
        "time_before_2000": "thời gian đo trước năm 2000 (đồng hồ máy chưa đặt)",
        "time_in_future": "thời gian đo ở tương lai",
        "missing_operator": "thiếu nhà mạng",
        "unknown_operator": "nhà mạng hoặc mã PLMN không xác định",
        "unknown_technology": "công nghệ không xác định",
        "missing_technology": "thiếu công nghệ (2G/3G/4G/5G)",
        "signal_sentinel": "giá trị tín hiệu là mã 'không có giá trị'",
        "signal_out_of_range": "tín hiệu ngoài dải vật lý của công nghệ",
        "not_a_number": "trường số chứa chữ",
        "no_measurement": "không có tín hiệu, tốc độ hay độ trễ",
        "duplicate_row": "dòng trùng lặp trong tệp",
        "outside_province": "nằm ngoài địa bàn tỉnh",
        "other_network": "dòng ghi nhà mạng khác với nhà mạng của khóa",
        "nothing_usable": "tệp không có dòng nào dùng được",
    },
    "en": {
        "malformed_row": "malformed row (more fields than the header)",
        "missing_coordinates": "latitude or longitude missing",
        "unparseable_coordinates": "latitude or longitude not a number",
        "coordinates_out_of_range": "coordinates out of range",
        "null_island": "position (0, 0): a GPS without a fix",
        "missing_time": "no timestamp",
        "unparseable_time": "timestamp not understood",
        "time_before_2000": "timestamp before 2000 (phone clock never set)",
        "time_in_future": "timestamp in the future",
        "missing_operator": "no operator",
        "unknown_operator": "operator name or PLMN not understood",
        "unknown_technology": "technology not understood",
        "missing_technology": "no technology (2G/3G/4G/5G)",
        "signal_sentinel": "signal is a 'no value' code",
        "signal_out_of_range": "signal outside its technology's physical range",
        "not_a_number": "numeric field holds text",
        "no_measurement": "no signal, throughput or latency",
        "duplicate_row": "duplicate row in the file",
        "outside_province": "outside the province",
        "other_network": "rows name another network than the key's own",
        "nothing_usable": "no usable row in the file",
    },
}


def reason_label(code: str, lang: str = "vi") -> str:
    """Return the label of an ingest reason code in ``lang`` (the code itself when it has none)."""
    return REASON_LABELS[check_language(lang)].get(code, code)


#: The monthly report's words (headings, sentences, table headers), per language.
REPORT_LABELS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Báo cáo vùng lõm sóng di động — tỉnh Đắk Nông",
        "title_2025": "Báo cáo vùng lõm sóng di động — tỉnh Lâm Đồng (địa bàn tỉnh Đắk Nông cũ)",
        "denominator": (
            "Trong số {population} người sống trên địa bàn: {in_gaps} người ({share_in_gaps}) ở vùng lõm sóng "
            "(đo thấy sóng yếu, không nhà mạng nào phủ), {covered} người ({share_covered}) ở nơi đo thấy có sóng, "
            "và {unknown} người ({share_unknown}) ở nơi chưa đủ số đo để kết luận."
        ),
        "people_covered": "Người dân ở nơi đo thấy có sóng",
        "people_without_evidence": "Người dân ở nơi chưa đủ số đo để kết luận",
        "map_units": "Ranh giới đơn vị hành chính mới (2025)",
        "subtitle": "Kỳ báo cáo: tháng {month}/{year}",
        "subtitle_2025": "Kỳ báo cáo: tháng {month}/{year} — theo đơn vị hành chính mới (tỉnh Lâm Đồng)",
        "generated": "Lập ngày {date} bằng công cụ lomsong",
        "synthetic_banner": (
            "DỮ LIỆU MÔ PHỎNG — các số đo trong báo cáo này do chương trình mô phỏng tạo ra để minh hoạ, "
            "không phải số đo thật; không dùng các con số này cho báo cáo chính thức."
        ),
        "headline": "Số liệu chính",
        "people_without_coverage": "Người dân chưa có sóng của bất kỳ nhà mạng nào",
        "share_of_population": "{share} dân số toàn tỉnh",
        "gaps_all": "Vùng lõm sóng (không nhà mạng nào phủ sóng)",
        "villages_all": "Thôn, bon, buôn lõm sóng (không nhà mạng nào)",
        "change_headline": "Thay đổi số người trong vùng lõm so với kỳ trước ({previous})",
        "change_text": (
            "{closed} vùng lõm đã được xoá (đo lại thấy có sóng), {not_remeasured} vùng lõm chưa được đo lại "
            "({not_remeasured_people} người ở các ô chưa đo lại, chưa biết đã có sóng hay chưa), {new} vùng lõm "
            "mới, {shrunk} vùng thu hẹp, {grew} vùng mở rộng; {covered} người được phủ sóng mới (chỉ tính nơi "
            "đo lại thấy có sóng); số người trong vùng lõm {direction} {delta}."
        ),
        "direction_down": "giảm",
        "direction_up": "tăng",
        "direction_same": "không đổi",
        "villages_change": "Thôn ra khỏi danh sách lõm sóng: {left}; thôn mới vào danh sách: {joined}.",
        "no_previous": "Chưa có kỳ trước được lưu để so sánh.",
        "operators_title": "Theo nhà mạng",
        "operator": "Nhà mạng",
        "n_gaps": "Số vùng lõm",
        "people_in_gaps": "Số dân trong vùng lõm",
        "villages_weak": "Thôn sóng yếu",
        "villages_trang_song": "Thôn trắng sóng (CV 1603)",
        "villages_lom_song": "Thôn lõm sóng (CV 1603)",
        "closed": "Vùng lõm đã xoá",
        "not_remeasured": "Vùng lõm chưa đo lại",
        "new": "Vùng lõm mới",
        "newly_covered": "Dân được phủ sóng mới",
        "areas_title": "Theo huyện và xã",
        "areas_title_2025": "Theo đơn vị hành chính mới (2025)",
        "district_commune": "Huyện / Xã",
        "unit": "Đơn vị mới",
        "old_communes": "Gồm các xã cũ",
        "population": "Dân số",
        "share_in_gaps": "Tỷ lệ dân trong vùng lõm",
        "share_covered": "Tỷ lệ dân có sóng",
        "share_no_data": "Tỷ lệ dân chưa đủ số đo",
        "change_people": "± so với kỳ trước",
        "province_total": "Toàn tỉnh",
        "top_title": "Mười vùng lõm sóng lớn nhất (không nhà mạng nào)",
        "rank": "Hạng",
        "where": "Vị trí",
        "area_km2": "Diện tích (km²)",
        "evidence": TERMS["evidence"][0],
        "evidence_confirmed": TERMS["evidence_confirmed"][0],
        "evidence_likely": TERMS["evidence_likely"][0],
        "coordinates": "Toạ độ (vĩ độ, kinh độ)",
        "status": "So với kỳ trước",
        "status_new": "Mới",
        "status_persisting": "Không đổi",
        "status_shrunk": "Thu hẹp",
        "status_grew": "Mở rộng",
        "status_closed": "Đã xoá (đo lại có sóng)",
        "status_not_remeasured": "Chưa đo lại",
        "status_none": "–",
        "trend_title": "Diễn biến qua các kỳ",
        "trend_people": "Số dân trong vùng lõm",
        "trend_gaps": "Số vùng lõm",
        "trend_period": "Kỳ",
        "map_title": "Bản đồ vùng lõm sóng toàn tỉnh",
        "map_gaps": "Vùng lõm sóng (không nhà mạng nào)",
        "map_closed": "Vùng lõm đã xoá so với kỳ trước",
        "map_districts": "Ranh giới huyện",
        "map_communes": "Ranh giới xã",
        "closed_list": "Vùng lõm đã xoá",
        "not_remeasured_list": "Vùng lõm chưa được đo lại (cần đo)",
        "new_list": "Vùng lõm mới",
        "method_title": "Nguồn dữ liệu và phương pháp",
        "method": (
            "Số liệu từ {n_measurements} mẫu đo sóng di động ({sources}) trong {period}. Lãnh thổ tỉnh được "
            "chia thành ô lục giác H3 cấp {resolution} (khoảng {cell_km2} km² mỗi ô). Một mẫu đo là sóng yếu khi "
            "tín hiệu dưới ngưỡng (4G RSRP {t4g} dBm, 5G {t5g} dBm, 3G RSCP {t3g} dBm, 2G RSSI {t2g} dBm) hoặc "
            "điện thoại báo mất sóng. Một ô chỉ được kết luận khi có ít nhất {min_samples} mẫu từ {min_devices} "
            "thiết bị; ô là lõm sóng khi không nhà mạng nào có sóng tốt ở đó. Các ô lõm sóng liền kề được gộp "
            "thành vùng lõm. {people} Ranh giới xã: dữ liệu censusVN2009, mã và "
            "tên theo danh mục đơn vị hành chính của TCTK."
        ),
        "people_even": (
            "Số dân lấy theo Tổng điều tra dân số 2019 (TCTK), chia đều trên diện tích mỗi xã (lưới 100 m); vì "
            "vậy số dân trong vùng lõm là ước tính."
        ),
        "people_source": "Số dân: {source}; tổng mỗi xã theo quy tắc ghi trong run.json (population).",
        "units_note_title": "Ghi chú về đơn vị hành chính",
        "page": "Trang {page}",
        "yes": "Có",
        "sheet_summary": "Tổng hợp",
        "sheet_areas": "Theo xã",
        "sheet_areas_2025": "Theo đơn vị 2025",
        "sheet_top": "Vùng lõm lớn nhất",
        "sheet_changes": "Thay đổi",
        "sheet_villages": "Thôn thay đổi",
        "sheet_trend": "Xu hướng",
        "figure": "Chỉ tiêu",
        "value": "Giá trị",
        "village": TERMS["village"][0],
        "commune": "Xã",
        "district": "Huyện",
        "change": "Thay đổi",
        "joined": "Vào danh sách",
        "left": "Ra khỏi danh sách",
        "technology": "Công nghệ",
    },
    "en": {
        "title": "Mobile coverage gaps — Đắk Nông province",
        "title_2025": "Mobile coverage gaps — Lâm Đồng province (former Đắk Nông area)",
        "denominator": (
            "Of the {population} people living here: {in_gaps} ({share_in_gaps}) live in coverage gaps (measured "
            "weak, no operator covers them), {covered} ({share_covered}) where coverage was measured, and "
            "{unknown} ({share_unknown}) where there are not enough measurements to say."
        ),
        "people_covered": "People where coverage was measured",
        "people_without_evidence": "People where there are not enough measurements to say",
        "map_units": "Boundary of a new administrative unit (2025)",
        "subtitle": "Reporting period: {year}-{month}",
        "subtitle_2025": "Reporting period: {year}-{month} — in the new administrative units (Lâm Đồng province)",
        "generated": "Prepared on {date} with the lomsong tool",
        "synthetic_banner": (
            "SIMULATED DATA (DỮ LIỆU MÔ PHỎNG) — the measurements behind this report were generated by the "
            "simulator for illustration, not measured; do not use these figures in an official report."
        ),
        "headline": "Headline figures",
        "people_without_coverage": "People without coverage from any operator",
        "share_of_population": "{share} of the province's population",
        "gaps_all": "Coverage gaps (no operator covers them)",
        "villages_all": "Villages no operator covers",
        "change_headline": "Change in people in gaps since the previous period ({previous})",
        "change_text": (
            "{closed} gaps closed (measured covered again), {not_remeasured} gaps not measured again "
            "({not_remeasured_people} people in cells not measured again, unknown whether covered now), {new} new "
            "gaps, {shrunk} shrunk, "
            "{grew} grew; {covered} people newly covered (only where measured covered); people in gaps "
            "{direction} {delta}."
        ),
        "direction_down": "down by",
        "direction_up": "up by",
        "direction_same": "unchanged",
        "villages_change": "Villages that left the list: {left}; villages that joined it: {joined}.",
        "no_previous": "No earlier period is stored to compare with.",
        "operators_title": "Per operator",
        "operator": "Operator",
        "n_gaps": "Gaps",
        "people_in_gaps": "People in gaps",
        "villages_weak": "Villages with weak signal",
        "villages_trang_song": "Villages without signal at the centre (CV 1603)",
        "villages_lom_song": "Villages with a dead hamlet (CV 1603)",
        "closed": "Gaps closed",
        "not_remeasured": "Gaps not measured again",
        "new": "New gaps",
        "newly_covered": "People newly covered",
        "areas_title": "Per district and commune",
        "areas_title_2025": "Per new administrative unit (2025)",
        "district_commune": "District / commune",
        "unit": "New unit",
        "old_communes": "Old communes",
        "population": "Population",
        "share_in_gaps": "Share in gaps",
        "share_covered": "Share covered",
        "share_no_data": "Share without enough data",
        "change_people": "± since previous",
        "province_total": "Province",
        "top_title": "The ten largest gaps (no operator)",
        "rank": "Rank",
        "where": "Location",
        "area_km2": "Area (km²)",
        "evidence": TERMS["evidence"][1],
        "evidence_confirmed": TERMS["evidence_confirmed"][1],
        "evidence_likely": TERMS["evidence_likely"][1],
        "coordinates": "Coordinates (lat, lon)",
        "status": "Since previous",
        "status_new": "New",
        "status_persisting": "Unchanged",
        "status_shrunk": "Shrunk",
        "status_grew": "Grew",
        "status_closed": "Closed (measured covered)",
        "status_not_remeasured": "Not measured again",
        "status_none": "–",
        "trend_title": "Trend over the stored periods",
        "trend_people": "People in gaps",
        "trend_gaps": "Number of gaps",
        "trend_period": "Period",
        "map_title": "Coverage gaps in the province",
        "map_gaps": "Coverage gap (no operator)",
        "map_closed": "Gap closed since the previous period",
        "map_districts": "District boundary",
        "map_communes": "Commune boundary",
        "closed_list": "Gaps closed",
        "not_remeasured_list": "Gaps not measured again (to measure)",
        "new_list": "New gaps",
        "method_title": "Data sources and method",
        "method": (
            "Based on {n_measurements} mobile signal measurements ({sources}) in the period {period}. The "
            "province is divided into H3 hexagons of resolution {resolution} (about {cell_km2} km² each). A "
            "measurement is weak when its signal is below the threshold (4G RSRP {t4g} dBm, 5G {t5g} dBm, 3G "
            "RSCP {t3g} dBm, 2G RSSI {t2g} dBm) or the phone had no service. A cell is decided only with at "
            "least {min_samples} samples from {min_devices} devices; it is a gap when no operator covers it. "
            "Neighbouring gap cells form a gap area. {people} Commune boundaries: "
            "censusVN2009; codes and names from the GSO administrative-unit list."
        ),
        "people_even": (
            "People come from the 2019 census (GSO), spread evenly over each commune's area (100 m grid), so the "
            "people in a gap are an estimate."
        ),
        "people_source": "People: {source}; each commune's total by the rule recorded in run.json (population).",
        "units_note_title": "Note on administrative units",
        "page": "Page {page}",
        "yes": "Yes",
        "sheet_summary": "Summary",
        "sheet_areas": "Communes",
        "sheet_areas_2025": "Units 2025",
        "sheet_top": "Largest gaps",
        "sheet_changes": "Changes",
        "sheet_villages": "Village changes",
        "sheet_trend": "Trend",
        "figure": "Figure",
        "value": "Value",
        "village": TERMS["village"][1],
        "commune": "Commune",
        "district": "District",
        "change": "Change",
        "joined": "Joined the list",
        "left": "Left the list",
        "technology": "Technology",
    },
}
