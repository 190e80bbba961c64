"""A command never deletes or replaces what it did not create (issue 11, defect 1).

Each test here fails on the code before the fix: ``--out`` used to replace whatever was
there (an events folder, an input file), ``--out .`` was a traceback, two writers of the
same target deleted each other's temp dirs, and a crash between the two renames of a
replace lost the target.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest
from tests.conftest import hourly_events
from typer.testing import CliRunner

from archetype._atomic import atomic_dir, clean_stale_tmp
from archetype.cli.main import app
from archetype.errors import UserError

runner = CliRunner()


def _events(path: Path) -> Path:
    return hourly_events(path, n=400, customers=60, seed=0)


def _features(tmp_path: Path, out: Path, *extra: str):
    return runner.invoke(
        app,
        [
            "features",
            "--events",
            str(tmp_path / "events"),
            "--as-of",
            "2026-02-01",
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ],
    )


@pytest.fixture
def ev(tmp_path):
    (tmp_path / "events").mkdir()
    _events(tmp_path / "events" / "part-0.parquet")
    return tmp_path


def _one_line_exit_2(r, *needles):
    assert r.exit_code == 2, r.output
    out = r.output.strip()
    assert len(out.splitlines()) == 1, out
    assert "Traceback" not in out
    for n in needles:
        assert n in out, out


def test_out_onto_the_events_folder_is_refused_and_untouched(ev):
    before = sorted(p.name for p in (ev / "events").iterdir())
    r = _features(ev, ev / "events")
    _one_line_exit_2(r, "is not a feature directory", "never replaces")
    assert sorted(p.name for p in (ev / "events").iterdir()) == before
    r = _features(ev, ev / "events", "--overwrite")  # --overwrite changes nothing here
    _one_line_exit_2(r, "is not a feature directory")
    assert sorted(p.name for p in (ev / "events").iterdir()) == before


def test_out_onto_an_input_file_is_refused(ev):
    f = ev / "events" / "part-0.parquet"
    blob = f.read_bytes()
    r = _features(ev, f)
    _one_line_exit_2(r, "not a directory")
    assert f.read_bytes() == blob
    r = runner.invoke(app, ["fit", "--features", str(ev / "nope"), "--k", "2", "--out", str(f)])
    assert r.exit_code == 2 and f.read_bytes() == blob


def test_out_dot_and_out_inside_events(ev, monkeypatch):
    monkeypatch.chdir(ev)
    r = _features(ev, Path("."))
    _one_line_exit_2(r, "current directory")
    r = _features(ev, ev / "events" / "feat")
    _one_line_exit_2(r, "inside the --events folder")
    assert not (ev / "events" / "feat").exists()


def test_previous_output_needs_overwrite(ev):
    out = ev / "feat"
    assert _features(ev, out).exit_code == 0
    assert (out / ".archetype.json").is_file()
    stamp = (out / "manifest.json").read_text()
    r = _features(ev, out)
    _one_line_exit_2(r, "pass --overwrite")
    assert (out / "manifest.json").read_text() == stamp
    r = _features(ev, out, "--overwrite")
    assert r.exit_code == 0, r.output
    # a feature dir with a file of the user's in it is never replaced
    (out / "notes.txt").write_text("mine")
    r = _features(ev, out, "--overwrite")
    _one_line_exit_2(r, "did not write", "notes.txt")
    assert (out / "notes.txt").read_text() == "mine"
    # nor is a model dir taken for a feature dir
    r = runner.invoke(
        app, ["fit", "--features", str(out), "--k", "2", "--out", str(out), "--overwrite", "-q"]
    )
    _one_line_exit_2(r, "is not a model directory")


def test_links_and_file_kinds(tmp_path):
    from archetype._outputs import check_output

    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(UserError, match="symbolic link"):
        check_output(tmp_path / "link", "features", overwrite=True)
    (tmp_path / "mine.parquet").write_bytes(b"not parquet")
    with pytest.raises(UserError, match="not an assignments file"):
        check_output(tmp_path / "mine.parquet", "assignments", overwrite=True)
    ok = tmp_path / "a.parquet"
    pl.DataFrame({"x": [1]}).write_parquet(ok, metadata={"archetype_kind": "assignments"})
    check_output(ok, "assignments", overwrite=True)
    with pytest.raises(UserError, match="pass --overwrite"):
        check_output(ok, "assignments")
    (tmp_path / "r.html").write_text("<html>my own page</html>")
    with pytest.raises(UserError, match="not an HTML report"):
        check_output(tmp_path / "r.html", "report", overwrite=True)


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from archetype._atomic import atomic_dir
    target, tag, hold = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    with atomic_dir(target) as tmp:
        (tmp / "who").write_text(tag)
        (Path(sys.argv[4]) / tag).write_text("in")   # tell the test the temp dir exists
        time.sleep(hold)
    print("done", tag)
""")


def test_two_concurrent_writers_do_not_delete_each_other(tmp_path):
    target, flags = tmp_path / "out", tmp_path / "flags"
    flags.mkdir()
    a = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), "a", "3", str(flags)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not (flags / "a").exists() and time.time() < deadline:
        time.sleep(0.05)
    b = subprocess.run(
        [sys.executable, "-c", WRITER, str(target), "b", "0", str(flags)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out_a, err_a = a.communicate(timeout=120)
    assert b.returncode == 0, b.stderr
    assert a.returncode == 0, err_a  # its temp dir was not removed by the second writer
    assert (target / "who").read_text() == "a"  # the last to finish wins, whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


KILL_MID_SWAP = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import archetype._atomic as A
    target = Path(sys.argv[1]).absolute()
    if sys.argv[2] == "fallback":
        A._exchange = lambda a, b: False
    real = os.replace
    def replace(src, dst):
        real(src, dst)
        if Path(src) == target:  # the old output was just moved aside: die here
            os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    with A.atomic_dir(target) as tmp:
        (tmp / "v").write_text("new")
""")


@pytest.mark.parametrize("mode", ["exchange", "fallback"])
def test_kill_in_the_middle_of_a_replace_never_loses_the_target(tmp_path, mode):
    target = tmp_path / "part"
    with atomic_dir(target) as tmp:
        (tmp / "v").write_text("old")
    p = subprocess.run(
        [sys.executable, "-c", KILL_MID_SWAP, str(target), mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if mode == "exchange":  # one atomic syscall: there is no "moved aside" moment
        assert p.returncode == 0, p.stderr
        assert (target / "v").read_text() == "new"
    else:
        assert p.returncode == -9
        clean_stale_tmp(target)  # what the next writer does first: restores, never deletes
        assert (target / "v").read_text() == "old"
    assert not [x for x in tmp_path.iterdir() if x.name.startswith(".tmp-")]


def test_outputs_are_owner_only_unless_configured(ev, monkeypatch):
    out = ev / "feat"
    assert _features(ev, out).exit_code == 0
    assert (out.stat().st_mode & 0o777) == 0o700
    assert {(f.stat().st_mode & 0o777) for f in out.iterdir()} == {0o600}
    monkeypatch.setenv("ARCHETYPE_UMASK", "022")
    out2 = ev / "feat2"
    assert _features(ev, out2).exit_code == 0
    assert (out2.stat().st_mode & 0o777) == 0o755
    assert {(f.stat().st_mode & 0o777) for f in out2.iterdir()} == {0o644}
    monkeypatch.setenv("ARCHETYPE_UMASK", "abc")
    _one_line_exit_2(_features(ev, ev / "feat3"), "ARCHETYPE_UMASK")


def test_symlinked_lock_is_refused_and_its_target_untouched(tmp_path):
    from archetype._atomic import DirLock

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    root = tmp_path / "root"
    root.mkdir()
    (root / ".lock").symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"), DirLock(root):
        pass
    assert victim.read_text() == "keep me"


def test_read_only_location_is_one_line_exit_2(ev, monkeypatch):
    import errno

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr("archetype._atomic.make_dirs", denied)
    r = _features(ev, ev / "ro" / "feat")
    _one_line_exit_2(r, "Permission denied", "nothing written")
    assert not (ev / "ro").exists()


def test_fit_and_assign_outputs(ev):
    feat = ev / "feat"
    assert _features(ev, feat).exit_code == 0
    fit = ["fit", "--features", str(feat), "--k", "2", "--out", str(ev / "m"), "-q"]
    r = runner.invoke(app, [*fit, "--device", "cpu"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*fit, "--device", "cpu"])
    _one_line_exit_2(r, "pass --overwrite")
    a = ev / "a.parquet"
    args = ["assign", "--model", str(ev / "m"), "--features", str(feat), "--out", str(a), "-q"]
    assert runner.invoke(app, args).exit_code == 0
    assert pl.read_parquet_metadata(a)["archetype_kind"] == "assignments"
    _one_line_exit_2(runner.invoke(app, args), "pass --overwrite")
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    # an input file as --out of assign: refused even with --overwrite
    src = ev / "events" / "part-0.parquet"
    blob = src.read_bytes()
    r = runner.invoke(
        app,
        [
            "assign",
            "--model",
            str(ev / "m"),
            "--features",
            str(feat),
            "--out",
            str(src),
            "--overwrite",
            "-q",
        ],
    )
    _one_line_exit_2(r, "not an assignments file")
    assert src.read_bytes() == blob


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["fit", "--features", "f", "--k", "2", "--out", "m", "--backend", "gpuzilla"],
            "'gpuzilla' is not one of",
        ),
        (
            ["fit", "--features", "f", "--k", "2", "--out", "m", "--metric", "manhattan"],
            "'manhattan' is not one of",
        ),
        (
            ["assign", "--model", "m", "--features", "f", "--out", "a.parquet", "--device", "tpu"],
            "'tpu' is not one of",
        ),
        (
            ["features", "--events", "e", "--as-of", "2026-01-01", "--out", "o", "--engine", "x"],
            "'x' is not one of",
        ),
        (["run", "--date", "2026-01-01", "--metric", "l3"], "'l3' is not one of"),
    ],
)
def test_bad_option_values_are_one_line(args, needle):
    r = runner.invoke(app, args)
    _one_line_exit_2(r, needle)
