"""The `longlm` command line after the mistakes people make (issue 28): one clear line, a safe state.

Commands are run as users run them: the installed `longlm` entry point, in this process where the
output is all that is checked, in a subprocess where a traceback or a log line would matter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LONGLM = str(Path(sys.executable).with_name("longlm"))
SMALL = "[output]\ndocuments_shards = 1\nexamples_shards = 1\n"


def longlm_main():
    """The function the `longlm` console script calls (wherever the CLI lives)."""
    from importlib.metadata import entry_points

    (ep,) = entry_points(group="console_scripts", name="longlm")
    return ep.load()


def run_in_process(*args: str) -> int:
    """Exit status of `longlm ARGS` run here (argparse's SystemExit included)."""
    try:
        return int(longlm_main()(list(args)) or 0)
    except SystemExit as stop:
        return int(stop.code or 0)


def run_longlm(*args: str, cwd: Path | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([LONGLM, *args], cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout)


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and "Error:" not in text.replace("error:", ""), text


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A folder of novels as people keep them: subfolders, a README.md, a PDF, one binary .txt."""
    root = tmp_path_factory.mktemp("tree")
    raw = root / "raw"
    done = run_longlm("sample-corpus", str(root / "sample"), "--docs", "8", "--seed", "5")
    assert done.returncode == 0, done.stderr
    novels = sorted((root / "sample").glob("novel*.txt"))[:6]
    (raw / "a").mkdir(parents=True)
    (raw / "b" / "c").mkdir(parents=True)
    for i, novel in enumerate(novels):
        shutil.copy(novel, raw / ("a", "b", "b/c")[i % 3] / novel.name)
    shutil.copy(root / "sample" / "binary.txt", raw / "binary.txt")
    (raw / "README.md").write_text("# my novels\n")
    (raw / "b" / "scan.pdf").write_bytes(b"%PDF-1.4\n")
    (root / "small.toml").write_text(SMALL)
    return root


@pytest.fixture(scope="module")
def built(tree) -> tuple[Path, subprocess.CompletedProcess]:
    """`longlm build --input raw --output out` on the tree, as a user runs it."""
    out = tree / "out"
    done = run_longlm("build", "--input", str(tree / "raw"), "--output", str(out), "--config", str(tree / "small.toml"),
                      timeout=600)
    assert done.returncode == 0, done.stderr
    return out, done


# 1. strict flags ----------------------------------------------------------------------------------


@pytest.mark.parametrize("typo,meant", [("--confg", "--config"), ("--overwirte", "--overwrite")])
def test_a_misspelt_flag_exits_2_before_anything_is_written(tree, tmp_path, typo, meant, capsys):
    out = tmp_path / "out"
    args = ["build", "--input", str(tree / "raw"), "--output", str(out), typo]
    assert run_in_process(*args, *(["x.toml"] if typo == "--confg" else [])) == 2
    err = capsys.readouterr().err
    assert f"{typo}" in err and f"did you mean {meant}?" in err
    assert not out.exists()


def test_a_flag_neither_ours_nor_beams_exits_2(tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_in_process("build", "--input", str(tree / "raw"), "--output", str(out), "--frobnicate=3") == 2
    assert "--frobnicate" in capsys.readouterr().err
    assert not out.exists()


# 2. unusable input ---------------------------------------------------------------------------------


def test_an_input_with_nothing_usable_is_one_line_exit_1_and_no_output(tree, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(tree / "raw" / "binary.txt", raw / "binary.txt")
    out = tmp_path / "out"
    done = run_longlm("build", "--input", str(raw), "--output", str(out), "--quiet")
    assert done.returncode == 1
    no_traceback(done.stderr)
    assert done.stderr.strip().splitlines()[-1] == (
        "longlm build: 0 documents kept: 1 rejected (binary: 1); nothing to build")
    assert not out.exists()


def test_a_folder_of_unsupported_files_is_one_line_exit_1(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "README.md").write_text("# notes\n")
    out = tmp_path / "out"
    done = run_longlm("build", "--input", str(raw), "--output", str(out))
    assert done.returncode == 1
    no_traceback(done.stderr)
    assert done.stderr.strip().splitlines()[-1] == (
        f"longlm build: --input {raw}: no file of a supported type (skipped 1: README.md); nothing to build")
    assert not out.exists()


# 3. folders ----------------------------------------------------------------------------------------


def test_a_folder_is_read_recursively_and_other_file_types_are_skipped(tree, built):
    out, done = built
    manifest = json.loads((out / "manifest.json").read_text())
    sources = sorted(i["source"] for i in manifest["inputs"])
    nested = sorted(str(p.relative_to(tree / "raw")) for p in (tree / "raw").rglob("*.txt"))
    assert sources == nested and any("/" in s for s in sources)
    assert manifest["skipped_inputs"] == ["README.md", "b/scan.pdf"]
    assert manifest["accounting"]["rejected"] == 1  # binary.txt only: README.md is no broken document
    assert "skipped 2 files of unsupported types: README.md, b/scan.pdf" in done.stderr


def test_a_folder_counts_its_files_bytes_for_the_shard_counts(tree):
    from pipelines.build.config import input_bytes
    from pipelines.build.inputs import match_inputs

    raw = str(tree / "raw")
    files = match_inputs([raw]).files
    assert input_bytes([raw], [f.path for f in files]) == sum(Path(f.path).stat().st_size for f in files) > 0


# 7. Ctrl-C -------------------------------------------------------------------------------------------


def test_ctrl_c_says_the_output_is_incomplete_and_later_commands_know(tree, tmp_path, monkeypatch, capsys):
    import apache_beam as beam

    out = tmp_path / "out"

    def interrupted(self, *a, **k):
        (out / "documents").mkdir(parents=True, exist_ok=True)
        (out / "documents" / "part-00000-of-00001.parquet").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(beam.Pipeline, "run", interrupted)
    try:
        status = run_in_process("build", "--input", str(tree / "raw"), "--output", str(out), "--quiet")
    except KeyboardInterrupt:  # escaping, it would stop pytest itself
        pytest.fail("KeyboardInterrupt escaped longlm build")
    assert status == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"interrupted: {out} is incomplete"
    monkeypatch.undo()
    assert run_in_process("build", "--input", str(tree / "raw"), "--output", str(out)) == 2
    assert "unfinished build (no manifest)" in capsys.readouterr().err
    assert run_in_process("verify", str(out)) != 0
    said = capsys.readouterr()
    assert "unfinished build (no manifest)" in said.out + said.err


def test_a_real_ctrl_c_during_a_build_is_one_line_and_exit_130(tree, tmp_path):
    """SIGINT once the first progress line shows the build running (never a sleep)."""
    import signal

    out = tmp_path / "out"
    build = subprocess.Popen([LONGLM, "build", "--input", str(tree / "raw"), "--output", str(out), "--config",
                              str(tree / "small.toml"), "--progress-every", "0.2"],
                             stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    for line in build.stderr:
        lines.append(line)
        if "longlm.progress" in line:
            build.send_signal(signal.SIGINT)
            break
    lines += build.stderr.readlines()
    assert build.wait(timeout=300) == 130, "".join(lines)
    no_traceback("".join(lines))
    assert lines[-1].strip() == f"interrupted: {out} is incomplete"
    assert not (out / "manifest.json").exists()


# 8. --overwrite suggested only when it would work ---------------------------------------------------


def test_overwrite_is_not_suggested_when_it_would_be_refused(tree, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "documents").mkdir(parents=True)
    (out / "documents" / "part-00000-of-00001.parquet").write_bytes(b"x")
    (out / "notes.txt").write_text("mine")
    assert run_in_process("build", "--input", str(tree / "raw"), "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert "notes.txt" in err and "pass --overwrite" not in err
    assert (out / "notes.txt").read_text() == "mine"


# 9, 13. the build summary names rejects and a short vocabulary ---------------------------------------


def test_the_summary_names_rejected_files(built):
    _, done = built
    assert "rejected 1: binary.txt (binary)" in done.stderr


def test_a_vocabulary_smaller_than_configured_is_warned_and_recorded(built):
    out, done = built
    manifest = json.loads((out / "manifest.json").read_text())
    import sentencepiece as spm

    pieces = spm.SentencePieceProcessor(model_file=str(out / "vocab" / "spiece.model")).get_piece_size()
    assert manifest["counters"]["vocab.pieces"] == pieces < manifest["config"]["vocab"]["vocab_size"] == 32000
    assert f"vocabulary has {pieces:,} pieces, fewer than vocab_size 32,000" in done.stderr


# 10. broken pipes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["inspect {out}", "clean {novel} --diff", "--help"])
def test_a_pipe_closed_early_ends_quietly(built, tree, command):
    out, _ = built
    novel = next((tree / "raw" / "a").glob("*.txt"))
    line = f"{LONGLM} {command.format(out=out, novel=novel)} | head -c 1 >/dev/null"
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=300)
    assert done.stderr == ""


# 11. one set of training commands --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["train", "generate", "export"])
def test_longlm_and_python_m_train_are_the_same_commands(command):
    ours = run_longlm(command, "--help")
    theirs = subprocess.run([sys.executable, "-m", "train", command, "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert ours.returncode == theirs.returncode == 0, ours.stderr
    def words(text: str) -> list[str]:  # the help, re-wrapped for the program name's length
        return text.replace("python -m train", "PROG").replace("longlm", "PROG").split()

    assert words(ours.stdout) == words(theirs.stdout)


# 12. words that say what happened --------------------------------------------------------------------


def test_a_missing_and_an_empty_input_folder_are_told_apart(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert run_in_process("build", "--input", str(tmp_path / "nosuch"), "--output", str(tmp_path / "o")) == 2
    missing = capsys.readouterr().err
    assert run_in_process("build", "--input", str(tmp_path / "empty"), "--output", str(tmp_path / "o")) != 0
    empty = capsys.readouterr().err
    assert "no such file or folder" in missing and "is an empty folder" in empty
    assert "config key" not in missing + empty
    assert not (tmp_path / "o").exists()


def test_verify_of_a_missing_folder_says_so(tmp_path, capsys):
    assert run_in_process("verify", str(tmp_path / "nosuch")) != 0
    said = capsys.readouterr()
    assert "MISMATCH" not in said.out + said.err
    assert "no such folder" in said.out + said.err


def test_reproduce_names_the_config_it_uses(built, tmp_path):
    out, _ = built
    done = run_longlm("reproduce", str(out), "--output", str(tmp_path / "again"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "config (defaults)" not in done.stderr
    assert f"config recorded in {out}" in done.stderr


def test_a_folder_that_is_no_build_is_named_as_such_not_as_a_config_key(tmp_path):
    (tmp_path / "empty").mkdir()
    nosuch, empty = str(tmp_path / "nosuch"), str(tmp_path / "empty")
    for args in (["inspect", nosuch], ["report", nosuch], ["diff", empty, nosuch], ["verify", empty],
                 ["reproduce", nosuch, "--output", str(tmp_path / "again")]):
        done = run_longlm(*args)
        assert done.returncode != 0, args
        no_traceback(done.stderr)
        said = (done.stdout + done.stderr).strip()
        assert "config key" not in said and "MISMATCH" not in said, (args, said)
        assert said.endswith(("no such folder", "not a build (no manifest.json)")), (args, said)
    assert not (tmp_path / "again").exists()
