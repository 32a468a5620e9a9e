"""`textgan run`: each bad recipe, input or fault ends in one `error:` line, exit 2, nothing left behind
(or, for a fault during training, a run folder marked failed that `--resume` continues)."""

import json

import pytest

QUICK = "quickstart"
TINY = ["--set", "mle.epochs=1", "--set", "data.num_train=64", "--set", "data.num_test=32", "--set", "eval.num_samples=32",
        "--set", "generator.embed_dim=4", "--set", "generator.hidden_dim=4", "--quiet"]
TEXT = ["--set", "data.corpus={corpus}", "--set", "mle.batch_size=8", "--set", "eval.metrics=[nll_test]"]

SETTINGS = {
    "mle_batch_size_zero": ("mle.batch_size=0", "mle.batch_size must be positive"),
    "mle_epochs_negative": ("mle.epochs=-1", "mle.epochs must be >= 0"),
    "mle_lr_zero": ("mle.lr=0", "mle.lr must be > 0"),
    "eval_num_samples_negative": ("eval.num_samples=-10", "eval.num_samples must be positive"),
    "eval_every_zero": ("eval.every=0", "eval.every must be"),
    "eval_temperature_zero": ("eval.temperature=0", "eval.temperature must be > 0"),
    "threads_zero": ("threads=0", "threads must be a positive number"),
    "max_vocab_on_the_oracle": ("data.max_vocab=2", "does not apply to the synthetic oracle"),
    "max_len_one": ("data.max_len=1", "data.max_len must be at least 2"),
    "num_train_zero": ("data.num_train=0", "data.num_train must be positive"),
    "min_freq_zero": ("data.min_freq=0", "data.min_freq must be at least 1"),
    "test_fraction_above_one": ("data.test_fraction=1.5", "data.test_fraction must be in (0, 1)"),
    "unknown_key": ("mle.epoks=1", "did you mean 'mle.epochs'"),
    "wrong_type": ("mle.epochs=many", "expects int"),
    "unknown_corpus": ("data.corpus=coco_capshuns", "unknown corpus"),
}


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_bad_settings(case, tmp_path, work, fails):
    override, words = SETTINGS[case]
    line = fails(["run", QUICK, "--out", work / "run", *TINY, "--set", override], tmp_path)
    assert words in line, line


RECIPES = {
    "yaml_list": ("- data\n- mle\n", "is a YAML list, not a mapping"),
    "empty": ("", "is empty"),
    "bad_yaml": ("data: [unclosed\n", "not valid YAML"),
    "scalar": ("42\n", "not a mapping"),
}


@pytest.mark.parametrize("case", sorted(RECIPES))
def test_bad_recipe_files(case, tmp_path, work, fails):
    text, words = RECIPES[case]
    recipe = tmp_path / f"{case}.yaml"
    recipe.write_text(text)
    line = fails(["run", recipe, "--out", work / "run", "--quiet"], tmp_path)
    assert words in line, line


CORPORA = {
    "missing_file": ("{tmp}/nope.txt", [], "not found"),
    "empty_file": ("{empty}", [], "empty"),
    "binary_file": ("{binary}", [], "UTF-8"),
    "undecodable_file": ("{latin1}", [], "UTF-8"),
    "csv_without_text_column": ("{csv}", [], "--set data.text_column"),
    "one_text_only": ("{one}", [], "data.test_split=null"),
    "plain_text_under_another_extension": ("{pos}", [], "texts.txt"),
    "min_freq_leaves_only_specials": ("{texts}", ["--set", "data.min_freq=1000000"], "leaves no word"),
    "max_vocab_below_the_specials": ("{texts}", ["--set", "data.max_vocab=3"], "data.max_vocab=3 leaves no room"),
}


@pytest.mark.parametrize("case", sorted(CORPORA))
def test_bad_user_corpora(case, inputs, tmp_path, work, fails):
    corpus, extra, words = CORPORA[case]
    corpus = corpus.replace("{tmp}", str(tmp_path))
    for k, v in inputs.items():
        corpus = corpus.replace("{" + k + "}", str(v))
    text = [a.replace("{corpus}", corpus) for a in TEXT]
    line = fails(["run", QUICK, "--out", work / "run", *TINY, *text, *extra], tmp_path)
    assert words in line, line
    assert "text_column=<" not in line and "max_size" not in line


@pytest.mark.parametrize("kind", ["file", "foreign_folder", "symlink", "stdout"])
def test_run_folders_that_are_not_runs(kind, tmp_path, work, fails):
    out = work / "out"
    if kind == "stdout":
        out = "-"
    elif kind == "file":
        out.write_text("mine\n")
    elif kind == "foreign_folder":
        out.mkdir()
        (out / "notes.txt").write_text("mine\n")
    else:
        (work / "elsewhere").mkdir()
        out.symlink_to(work / "elsewhere")
    line = fails(["run", QUICK, "--out", out, *TINY], tmp_path)
    assert any(w in line for w in ("is a file", "did not write", "symbolic link", "not a stream")), line


def test_read_only_output_folder(tmp_path, work, fails, read_only):
    ro = read_only(work / "ro")
    line = fails(["run", QUICK, "--out", ro / "run", *TINY], tmp_path)
    assert "permission denied" in line and "--out" in line


def test_full_disk_at_the_checkpoint_leaves_a_resumable_failed_run(tmp_path, work, fails, monkeypatch):
    import safetensors

    import textgan.train.checkpoint as checkpoint

    def full(*args, **kw):
        raise safetensors.SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                                          'message: "No space left on device" })')

    monkeypatch.setattr(checkpoint, "save_file", full)
    line = fails(["run", QUICK, "--out", work / "run", *TINY], tmp_path, allow=("work/run",))
    assert "no space left" in line and "textgan run --resume" in line
    info = json.loads((work / "run" / "run.json").read_text())
    assert info["status"] == "failed"
    assert not [p for p in (work / "run").rglob("*") if p.name.startswith(".")]  # no half-written temporaries


def test_single_user_file_holds_out_a_seeded_test_split(inputs, tmp_path):
    from textgan.config import load_recipe
    from textgan.data.prepare import prepare_data

    from textgan.api import find_recipe

    recipe = load_recipe(find_recipe(QUICK), [f"data.corpus={inputs['texts']}", "data.test_fraction=0.25", "seed=3"])
    data = prepare_data(recipe.data, recipe.seed, cache_dir=tmp_path / "cache")
    assert data.held_out == {"source": str(inputs["texts"]), "fraction": 0.25, "seed": 3, "stream": "data.split",
                             "num_train": 30, "num_test": 10}
    assert data.summary()["held_out"] == data.held_out
    assert not set(data.train_texts) & set(data.test_texts) or len(set(data.train_texts)) < 30  # disjoint rows
    assert len(data.train_texts) == 30 and len(data.test_texts) == 10 and data.test.shape[0] == 10
    again = prepare_data(recipe.data, recipe.seed, cache_dir=tmp_path / "cache")
    assert again.test_texts == data.test_texts  # seeded
    other = load_recipe(find_recipe(QUICK), [f"data.corpus={inputs['texts']}", "data.test_fraction=0.25", "seed=4"])
    assert prepare_data(other.data, other.seed, cache_dir=tmp_path / "cache").test_texts != data.test_texts


def test_max_len_far_above_the_texts_warns_before_allocating(inputs, tmp_path, caplog):
    from textgan.api import find_recipe
    from textgan.config import load_recipe
    from textgan.data.prepare import prepare_data

    recipe = load_recipe(find_recipe(QUICK), [f"data.corpus={inputs['texts']}", "data.max_len=500"])
    prepare_data(recipe.data, recipe.seed, cache_dir=tmp_path / "cache")
    assert "every sequence is padded to max_len" in caplog.text and "set data.max_len=9" in caplog.text


def _fake_parent(folder, kept=("adversarial",)):
    """A run folder as far as --fork reads it before any work: its recipe and kept phase starts."""
    from textgan.api import find_recipe

    folder.mkdir()
    (folder / "recipe.yaml").write_text(find_recipe("seqgan/synthetic_oracle_cpu").read_text())
    for phase in kept:
        (folder / "phase_states" / phase / "state").mkdir(parents=True)
    return folder


FORKS = {
    "phase_not_kept": (("discriminator",), ["--at", "adversarial"],
                       "has no saved start of phase 'adversarial': it kept the starts of: discriminator"),
    "nothing_kept": ((), ["--at", "adversarial"], "it kept none"),
    "changes_the_model": (("adversarial",), ["--at", "adversarial", "--set", "generator.hidden_dim=64"],
                          "would change the model"),
    "no_at": (("adversarial",), [], "--fork needs --at PHASE"),
    "with_a_recipe": (("adversarial",), ["quickstart", "--at", "adversarial"], "drop the recipe"),
}


@pytest.mark.parametrize("case", sorted(FORKS))
def test_bad_forks(case, tmp_path, work, fails):
    kept, argv, words = FORKS[case]
    parent = _fake_parent(tmp_path / "parent", kept)
    line = fails(["run", "--fork", parent, "--out", work / "fork", *argv], tmp_path)
    assert words in line, line


def test_fork_into_a_folder_that_is_not_empty(tmp_path, work, fails):
    parent = _fake_parent(tmp_path / "parent")
    (work / "taken").mkdir()
    (work / "taken" / "notes.txt").write_text("mine")
    line = fails(["run", "--fork", parent, "--at", "adversarial", "--out", work / "taken"], tmp_path)
    assert "is not empty: pass a new --out" in line


def test_at_without_fork(tmp_path, work, fails):
    assert "--at PHASE goes with --fork" in fails(["run", QUICK, "--at", "adversarial"], tmp_path)


SEED_FLAGS = {
    "empty_seed_list": ([QUICK, "--seeds", ""], "--seeds needs at least two distinct seeds, got ''"),
    "parallel_zero": ([QUICK, "--seeds", "0,1", "--parallel", "0"], "--parallel must be a positive number"),
    "parallel_without_seeds": ([QUICK, "--parallel", "2"], "--parallel N trains seeds side by side"),
    "seeds_with_resume_of_one_run": (["--resume", "{run}", "--seeds", "0,1"], "drop the recipe, --out, --seeds"),
}


@pytest.mark.parametrize("case", sorted(SEED_FLAGS))
def test_seed_flags_that_would_be_ignored_or_misread(case, tmp_path, work, fails):
    """Before, an empty --seeds ran one seed, --parallel 0 or --parallel without --seeds was ignored, and
    --seeds beside --resume of a single run was dropped: each now stops with one line."""
    argv, words = SEED_FLAGS[case]
    run = tmp_path / "one_run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    argv = [str(run) if a == "{run}" else a for a in argv]
    extra = ["--out", work / "run"] if argv[0] == QUICK else []
    line = fails(["run", *argv, *extra, *TINY], tmp_path)
    assert words in line, line
