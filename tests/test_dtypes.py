"""`compute_dtype: auto`: bfloat16 only where this hardware runs it faster than float32."""

from __future__ import annotations

import math

import pytest
import yaml

from tests.train.engine_cases import case_recipe
from textgan import device as device_mod
from textgan.cli import main
from textgan.device import bfloat16_speedup, fit_dtypes, resolve_dtype_name

RECIPE = {"generator": {"compute_dtype": "auto", "sample_dtype": "auto"},
          "discriminator": {"compute_dtype": "bfloat16"}, "adm": {"compute_dtype": "float32"},
          "pipeline": {"detector": {"compute_dtype": "auto"}}, "name": "auto"}


def test_the_probe_measures_a_finite_positive_ratio():
    ratio = bfloat16_speedup("cpu")
    assert math.isfinite(ratio) and ratio > 0
    assert bfloat16_speedup("meta") == 1.0


@pytest.mark.parametrize("speedup, chosen, warned", [(3.0, "bfloat16", 0), (0.2, "float32", 1)])
def test_auto_follows_the_measured_speed_and_an_explicit_slow_bfloat16_is_kept_with_a_warning(
        monkeypatch, speedup, chosen, warned):
    monkeypatch.setattr(device_mod, "bfloat16_speedup", lambda device_type: speedup)
    fitted, warnings = fit_dtypes(RECIPE, "cpu")
    assert fitted["generator"] == {"compute_dtype": chosen, "sample_dtype": chosen}
    assert fitted["pipeline"]["detector"]["compute_dtype"] == chosen  # nested sections too
    assert fitted["discriminator"]["compute_dtype"] == "bfloat16" and fitted["adm"]["compute_dtype"] == "float32"
    assert len(warnings) == warned
    if warned:
        assert warnings[0].startswith("discriminator.compute_dtype: bfloat16") and "--set" in warnings[0]
    assert resolve_dtype_name("float32", "cpu") == "float32" and resolve_dtype_name("auto", "cpu") == chosen


@pytest.mark.parametrize("speedup, chosen", [(3.0, "bfloat16"), (0.2, "float32")])
def test_a_run_folder_records_the_precision_auto_chose(tmp_path, monkeypatch, speedup, chosen):
    monkeypatch.setattr(device_mod, "bfloat16_speedup", lambda device_type: speedup)
    recipe, overrides = case_recipe("seqgan", tmp_path)
    overrides = [*overrides, "mle.epochs=1", "adversarial.batches=1", "discriminator.compute_dtype=auto"]
    out = tmp_path / "run"
    argv = ["run", str(recipe), "--out", str(out), "--quiet"] + [a for o in overrides for a in ("--set", o)]
    assert main(argv) == 0
    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert saved["discriminator"]["compute_dtype"] == chosen
