"""Real-versus-generated detection datasets, a baseline detector's report, and the fake-news pipeline.

A detection dataset folder (``textgan corpus detection``) holds::

    dataset_dict.json, train/, validation/, test/    a datasets.DatasetDict (load_from_disk)
    train.jsonl, validation.jsonl, test.jsonl        the same records as JSONL
    detection.json                                   sources, counts and settings (machine-readable)
    README.md                                        the dataset card
    report.json, report.md                           written by detectability_report

Records: ``{"id", "text", "label": 0 real / 1 generated, "label_name", "meta_source"}``. Both classes
went through the same normalisation, tokenization, vocabulary and detokenization
(:mod:`.canonical`). ``meta_*`` columns are provenance (the real corpus or the generated file):
they reveal the label by construction, so they are metadata, never features; the shipped
detectors read ``text`` only.

Modules: :mod:`.dataset` (real texts, building and writing the dataset folder), :mod:`.card`
(the dataset card), :mod:`.detector` (the baseline CNN detector), :mod:`.report` (the
detectability report) and :mod:`.pipeline` (a recipe's generate / dataset / report stages).
"""

from .canonical import Canonicalizer, make_canonicalizer
from .card import dataset_card
from .dataset import (DETECTION_FORMAT, LABEL_NAMES, META_SOURCE, SPLITS, DetectionDataset, build_detection_dataset,
                      describe_generated, load_real_texts)
from .detector import train_detector
from .pipeline import run_pipeline
from .report import detectability_report, format_report

__all__ = [
    "Canonicalizer", "META_SOURCE", "make_canonicalizer", "DETECTION_FORMAT", "LABEL_NAMES", "SPLITS", "DetectionDataset", "build_detection_dataset", "dataset_card",
    "describe_generated", "detectability_report", "format_report", "load_real_texts", "run_pipeline",
    "train_detector",
]
