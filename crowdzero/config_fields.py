"""Documented, bounded config fields: the one way a config section declares a setting.

Every section of a run's config (`BoardConfig`, `NetConfig`, `SearchConfig`,
`TrainConfig`) is a frozen dataclass whose fields say, beside their default, what they
do and which values they take::

    simulations: int = field(default=64, metadata={"doc": "...", "min": 1})

and whose ``__post_init__`` calls `check_fields`, so a section built in code is checked
exactly like one read from a file, and ``crowdzero config`` prints the same docs a run's
config.toml carries. This module sits below every package (it imports nothing from
crowdzero), so the search, the network and the trainer can all use it without importing
each other.

Metadata keys (`FIELD_METADATA`):
    doc      what the setting changes, in a sentence or two (required of every setting)
    min      value >= min
    max      value <= max
    above    value > above (a lower bound the value may not reach, e.g. a learning rate)
    choices  value is one of these
"""

from __future__ import annotations

import dataclasses
from typing import Any

#: The metadata keys a config field may carry; see the module docstring.
FIELD_METADATA: frozenset[str] = frozenset({"doc", "min", "max", "above", "choices"})


def check_fields(section: Any, error: type[ValueError] = ValueError) -> None:
    """Enforce each field's metadata bounds ("min", "max", "above", "choices").

    Called from a section's __post_init__. Raises ``error`` naming the field, the value
    and what is allowed (the loader adds the file and the section).
    """
    for f in dataclasses.fields(section):
        meta = f.metadata
        if not meta:
            continue
        value = getattr(section, f.name)
        if "choices" in meta and value not in meta["choices"]:
            choices = ", ".join(repr(c) for c in meta["choices"])
            raise error(f"{f.name} must be one of {choices}, not {value!r}")
        if "min" in meta and value < meta["min"]:
            raise error(f"{f.name} must be at least {meta['min']}, not {value!r}")
        if "max" in meta and value > meta["max"]:
            raise error(f"{f.name} must be at most {meta['max']}, not {value!r}")
        if "above" in meta and not value > meta["above"]:
            raise error(f"{f.name} must be more than {meta['above']}, not {value!r}")


def field_doc(f: dataclasses.Field[Any]) -> str:
    """What a setting does: its ``metadata["doc"]`` ("" for a field without one)."""
    return str(f.metadata.get("doc", ""))
