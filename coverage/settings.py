"""Configuration: one validated options object, loaded from TOML, recorded in ``run.json``.

Defaults and their sources:

- Weak thresholds (signal below which a sample counts as weak coverage): 4G RSRP -110 dBm,
  5G SS-RSRP -110 dBm, 3G RSCP -100 dBm, 2G RSSI -100 dBm. They sit between Android's "no bars"
  and "one bar" classes (FORMATS.md: LTE -115/-105, NR -110/-90, UMTS -115/-105, GSM -107/-103)
  where voice and basic data start to fail. No-service samples count as below any threshold.
- Speed threshold for speed-only sources (Ookla tiles): 5,000 kbit/s down.
- Evidence rule: a cell's state is decided only with at least 5 samples from at least 2 devices.
- Radio map: a predicted cell is ``covered`` when its coverage probability is at least 0.8,
  ``weak`` when at most 0.2, ``uncertain`` otherwise (``[prediction] covered_p``, ``weak_p``).

A TOML file may set any of these; an unknown key is an error naming the key::

    [analysis]
    resolution = 8
    [thresholds]
    "4G" = -110
    [evidence]
    min_samples = 5
    min_devices = 2
    [villages]
    kernel_sigma_m = 400      # people around a village centre (Gaussian σ, m)
    population_rule = "census"
    max_distance_m = 2000     # farther from every centre: "ngoài thôn"
    min_people = 20           # a weak hamlet with this many people makes the village lõm sóng
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lomsong.errors import ConfigError

TECHNOLOGIES = ["2G", "3G", "4G", "5G"]



def _default_thresholds() -> dict[str, float]:
    return {"2G": -100.0, "3G": -100.0, "4G": -110.0, "5G": -110.0}


@dataclass(frozen=True)
class Config:
    """Validated analysis options.

    Attributes
    ----------
    resolution : int
        H3 resolution of the grid, 7 to 10 (default 8, about 0.74 km² a cell).
    thresholds : dict
        Technology → signal level (dBm) below which a sample is weak.
    speed_threshold_kbps : float
        Download speed below which a speed-only sample (Ookla tile) is weak.
    min_samples : int
        Evidence rule: samples needed in a cell before deciding its state.
    min_devices : int
        Evidence rule: distinct devices needed in a cell before deciding its state.
    covered_share : float
        A cell × view is covered when at least this share of its samples is not weak.
    village_kernel_sigma_m : float
        Villages surface: σ (m) of the Gaussian spreading a village's people around its centre
        (:data:`lomsong.reference.population.VILLAGE_KERNEL_SIGMA_M`).
    village_population_rule : str
        Villages surface: ``census`` or ``larger`` decides a commune's people when its villages'
        sum and the census disagree (:data:`lomsong.reference.population.POPULATION_RULES`).
    village_max_distance_m : float
        A populated cell's people belong to the nearest village centre of their commune up to
        this distance (m); beyond it they are "ngoài thôn".
    village_min_people : float
        People of a village a weak cell must hold to make its covered centre ``lom_song``.
    predicted_covered_p, predicted_weak_p : float
        Radio map: coverage probability at or above which a cell is predicted covered, at or
        below which it is predicted weak (in between: uncertain).
    """

    resolution: int = 8
    thresholds: dict[str, float] = field(default_factory=_default_thresholds)
    speed_threshold_kbps: float = 5000.0
    min_samples: int = 5
    min_devices: int = 2
    covered_share: float = 0.5
    village_kernel_sigma_m: float = 400.0
    village_population_rule: str = "census"
    village_max_distance_m: float = 2000.0
    village_min_people: float = 20.0
    predicted_covered_p: float = 0.8
    predicted_weak_p: float = 0.2

    def __post_init__(self) -> None:
        if not isinstance(self.resolution, int) or not 7 <= self.resolution <= 10:
            raise ConfigError(f"analysis.resolution must be an integer 7 to 10, got {self.resolution!r}")
        unknown = set(self.thresholds) - set(TECHNOLOGIES)
        if unknown:
            raise ConfigError(f"thresholds: unknown technology {sorted(unknown)}; use {TECHNOLOGIES}")
        for tech, value in self.thresholds.items():
            if not isinstance(value, int | float) or not -160 <= value <= -30:
                raise ConfigError(f"thresholds.{tech} must be a number of dBm in -160 … -30, got {value!r}")
        object.__setattr__(
            self, "thresholds", {**_default_thresholds(), **{k: float(v) for k, v in self.thresholds.items()}}
        )
        if not isinstance(self.min_samples, int) or self.min_samples < 1:
            raise ConfigError(f"evidence.min_samples must be a positive integer, got {self.min_samples!r}")
        if not isinstance(self.min_devices, int) or self.min_devices < 1:
            raise ConfigError(f"evidence.min_devices must be a positive integer, got {self.min_devices!r}")
        if not isinstance(self.speed_threshold_kbps, int | float) or self.speed_threshold_kbps <= 0:
            raise ConfigError("thresholds.speed_kbps must be a positive number")
        if not 0 <= self.predicted_weak_p < self.predicted_covered_p <= 1:
            raise ConfigError(
                "prediction.weak_p and prediction.covered_p must satisfy 0 <= weak_p < covered_p <= 1, got "
                f"{self.predicted_weak_p!r} and {self.predicted_covered_p!r}"
            )
        if not 0 < self.covered_share <= 1:
            raise ConfigError(f"evidence.covered_share must be in (0, 1], got {self.covered_share!r}")
        for name, value in (("kernel_sigma_m", self.village_kernel_sigma_m),
                            ("max_distance_m", self.village_max_distance_m)):  # fmt: skip
            if not isinstance(value, int | float) or not 0 < value <= 20_000:
                raise ConfigError(f"villages.{name} must be a number of metres in (0, 20000], got {value!r}")
        if not isinstance(self.village_min_people, int | float) or self.village_min_people < 0:
            raise ConfigError(f"villages.min_people must be a number ≥ 0, got {self.village_min_people!r}")
        if self.village_population_rule not in ("census", "larger"):
            raise ConfigError(
                f"villages.population_rule must be census or larger, got {self.village_population_rule!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Return the options as plain data (for ``run.json``)."""
        return asdict(self)

    def with_options(self, **changes: Any) -> Config:
        """Return a copy with some options changed (validated again)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


#: TOML section → {key: Config field}.
_TOML_LAYOUT = {
    "analysis": {"resolution": "resolution"},
    "thresholds": {"2G": None, "3G": None, "4G": None, "5G": None, "speed_kbps": "speed_threshold_kbps"},
    "evidence": {
        "min_samples": "min_samples",
        "min_devices": "min_devices",
        "covered_share": "covered_share",
    },
    "villages": {
        "kernel_sigma_m": "village_kernel_sigma_m",
        "population_rule": "village_population_rule",
        "max_distance_m": "village_max_distance_m",
        "min_people": "village_min_people",
    },
    "prediction": {"covered_p": "predicted_covered_p", "weak_p": "predicted_weak_p"},
}


def config_from_dict(data: dict[str, Any], source: str = "<config>") -> Config:
    """Build a :class:`Config` from nested TOML-shaped data, refusing unknown keys.

    Parameters
    ----------
    data : dict
        Sections ``analysis``, ``thresholds``, ``evidence`` (all optional).
    source : str
        Name used in error messages.

    Returns
    -------
    Config
    """
    options: dict[str, Any] = {}
    thresholds: dict[str, float] = {}
    for section, values in data.items():
        if section not in _TOML_LAYOUT:
            raise ConfigError(f"{source}: unknown section [{section}]; known: {sorted(_TOML_LAYOUT)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in values.items():
            if key not in _TOML_LAYOUT[section]:
                raise ConfigError(f"{source}: unknown key {section}.{key}; known: {sorted(_TOML_LAYOUT[section])}")
            target = _TOML_LAYOUT[section][key]
            if target is None:
                thresholds[key] = value
            else:
                options[target] = value
    if thresholds:
        options["thresholds"] = thresholds
    try:
        return Config(**options)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(path: str | Path | None = None) -> Config:
    """Load options from a TOML file, or the defaults when no path is given.

    Parameters
    ----------
    path : str or Path, optional
        TOML file.

    Returns
    -------
    Config
    """
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; --config takes a TOML file, e.g. --config lomsong.toml") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file; --config takes a TOML file in UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(data, source=str(path))


CONFIG_FIELDS = [f.name for f in fields(Config)]
