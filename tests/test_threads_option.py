"""--threads of the compute commands: applied while the command runs, restored after (in-process callers)."""

import pytest
import torch

from textgan.cli import build_parser, main


@pytest.mark.parametrize("argv", [["generate", "R", "--num", "1", "--out", "o.jsonl"], ["evaluate"],
                                  ["embed", "--model", "M", "--input", "I", "--out", "o.npy"],
                                  ["corpus", "detection", "--real", "R", "--generated", "G", "--out", "D"]])
def test_every_compute_command_takes_threads(argv):
    assert build_parser().parse_args([*argv, "--threads", "3"]).threads == 3


def test_threads_apply_during_the_command_and_are_restored(tmp_path, monkeypatch, capsys):
    import textgan.api as api

    seen = []

    def fake_evaluate(*args, **kw):
        seen.append(torch.get_num_threads())
        return {"length": 1.0}

    monkeypatch.setattr(api, "evaluate", fake_evaluate)
    before = torch.get_num_threads()
    samples = tmp_path / "s.txt"
    samples.write_text("a b\n")
    assert main(["evaluate", "--samples", str(samples), "--metrics", "length", "--threads", "2"]) == 0
    assert seen == [2] and torch.get_num_threads() == before


def test_peak_memory_is_measured():
    from textgan.runtime import peak_rss_mb

    assert peak_rss_mb() is None or peak_rss_mb() > 10
