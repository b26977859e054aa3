"""Words people type for ar: terms, in one place: every importer, query and face (CLI choices,
HTTP parameters) takes its list from here."""
from __future__ import annotations

from kg.ids import AR

# Input modalities: the lower-case label people use -> the ar: individual.
MODALITY_TERMS = {"audio": AR.Audio, "image": AR.Image, "inertial": AR.Inertial, "timeseries": AR.TimeSeries,
                  "environmental": AR.Environmental, "tabular": AR.Tabular}
MODALITIES = tuple(MODALITY_TERMS)
