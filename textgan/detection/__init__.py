"""Real-versus-generated detection datasets, a baseline detector's report, and the fake-news pipeline.

A detection dataset folder (``textgan corpus detection``) holds::

    dataset_dict.json, train/, validation/, test/    a datasets.DatasetDict (load_from_disk)
    train.jsonl, validation.jsonl, test.jsonl        the same records as JSONL
    detection.json                                   sources, counts and settings (machine-readable)
    README.md                                        the dataset card
    report.json, report.md                           written by detectability_report

Records: ``{"id", "text", "label": 0 real / 1 generated, "label_name", "meta_source"}`` (plus ``meta_group``
when split by source, date or topic). Both classes
went through the same normalisation, tokenization, vocabulary and detokenization
(:mod:`.canonical`). ``meta_*`` columns are provenance (the real corpus or the generated file):
they reveal the label by construction, so they are metadata, never features; the shipped
detectors read ``text`` only.

Modules: :mod:`.dataset` (real texts, building and writing the dataset folder), :mod:`.card`
(the dataset card), :mod:`.augment` (does labelled synthetic data help a classifier?), :mod:`.grid` (the decoding grid: one detection dataset and report per sampling setting), :mod:`.neardup` (MinHash near-duplicate removal across splits), :mod:`.detector` (the baseline CNN detector), :mod:`.report` (the
detectability report), :mod:`.shortcuts` (does one simple feature separate the classes?) and :mod:`.pipeline` (a recipe's generate / dataset / report stages).
"""

from .augment import AUGMENTATION_FORMAT, augmentation_experiment, format_augmentation, run_augmentation
from .canonical import Canonicalizer, make_canonicalizer
from .card import dataset_card
from .dataset import (DETECTION_FORMAT, LABEL_NAMES, META_GROUP, META_SOURCE, SPLIT_BY, SPLITS, DetectionDataset,
                      assign_groups, build_detection_dataset, describe_generated, load_real_texts, parse_date)
from .detector import train_detector
from .grid import GridResult, decoding_grid, format_grid
from .neardup import NearDupIndex, exact_near_duplicate_pairs, near_duplicate_pairs
from .pipeline import run_pipeline
from .report import detectability_report, format_report
from .shortcuts import check_shortcuts, format_shortcuts

__all__ = [
    "AUGMENTATION_FORMAT", "augmentation_experiment", "format_augmentation", "run_augmentation",
    "Canonicalizer", "GridResult", "decoding_grid", "format_grid", "META_GROUP", "META_SOURCE", "NearDupIndex", "SPLIT_BY", "assign_groups", "exact_near_duplicate_pairs",
    "near_duplicate_pairs", "parse_date", "make_canonicalizer", "DETECTION_FORMAT", "LABEL_NAMES", "SPLITS", "DetectionDataset", "build_detection_dataset", "dataset_card",
    "describe_generated", "detectability_report", "format_report", "load_real_texts", "run_pipeline",
    "train_detector", "check_shortcuts", "format_shortcuts",
]
