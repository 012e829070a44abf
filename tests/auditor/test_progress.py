"""Progress on stderr: drawn on a terminal (a real pty here), never on a file or a pipe."""

from __future__ import annotations

import io
import json
import os
import re
import select
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import _progress as progress
from auditor._progress import ERASE, Bar, Steps, Waiting, wanted
from tests.auditor._render.reports import DemoScan, demo_scan
from tests.conftest import run_cli


class Pty:
    """A pseudo-terminal: `stream` is its terminal side (isatty is true), `read` drains the other."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.stream = open(slave, "w", encoding="utf-8")

    def read(self) -> str:
        self.stream.flush()
        chunks = []
        while select.select([self.master], [], [], 0.2)[0]:
            chunks.append(os.read(self.master, 65536))
        return b"".join(chunks).decode("utf-8", "replace")

    def close(self) -> None:
        self.stream.close()
        os.close(self.master)


@pytest.fixture
def pty(monkeypatch: pytest.MonkeyPatch) -> Iterator[Pty]:
    monkeypatch.delenv("AUDITOR_NO_PROGRESS", raising=False)  # tests/conftest.py turns it off
    terminal = Pty()
    yield terminal
    terminal.close()


def test_only_a_terminal_gets_progress(pty: Pty, monkeypatch: pytest.MonkeyPatch) -> None:
    assert wanted(pty.stream)
    assert not wanted(io.StringIO())
    monkeypatch.setenv("AUDITOR_NO_PROGRESS", "1")
    assert not wanted(pty.stream)


def test_waiting_shows_elapsed_time_then_erases_its_line(pty: Pty) -> None:
    release = threading.Event()
    with Waiting("printing \x1b[31mthe PDF", stream=pty.stream, delay=0) as waiting:
        deadline = time.monotonic() + 30
        while not waiting.shown and time.monotonic() < deadline:
            release.wait(0.01)
    out = pty.read()
    assert "printing \\x1b[31mthe PDF … 0 s" in out  # control characters escaped
    assert "\x1b[31m" not in out
    assert out.endswith(ERASE)


def test_short_work_and_non_terminals_show_nothing(pty: Pty) -> None:
    with Waiting("quick", stream=pty.stream, delay=30):
        pass
    assert pty.read() == ""
    sink = io.StringIO()
    with Waiting("slow", stream=sink, delay=0):
        time.sleep(0.05)
    Steps(sink)("collecting", 1, 2)
    Bar(sink)(1, 2, ["a"])
    assert sink.getvalue() == ""


def test_steps_and_bar_redraw_one_line_and_end_it(pty: Pty) -> None:
    steps = Steps(pty.stream)
    steps("collecting node-certificates", 1, 2)
    steps("collecting vault", 2, 2)
    bar = Bar(pty.stream)
    bar(1, 4, ["n1", "n2", "n3", "n4"])
    bar(4, 4, [])
    out = pty.read().replace("\r\n", "\n")
    assert out.count("\n") == 2  # the last step and the full bar end their lines
    assert f"{ERASE}[2/2] collecting vault\n" in out
    assert "] 1/4  scanning n1, n2, n3 …" in out
    assert f"{ERASE}[{'#' * 24}] 4/4\n" in out


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> DemoScan:
    return demo_scan(tmp_path_factory.mktemp("demo"))


def test_pdf_rendering_shows_progress_on_a_terminal(
    scan: DemoScan, pty: Pty, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditor._cli import main

    monkeypatch.setattr(progress, "DELAY_SECONDS", 0)
    monkeypatch.setattr("sys.stderr", pty.stream)
    out = tmp_path / "r.pdf"
    assert main(["report", str(scan.result_path), "--format", "pdf", "-o", str(out)]) == 0
    shown = pty.read()
    assert "rendering the PDF report with Chromium … " in shown and shown.endswith(ERASE)
    assert out.read_bytes().startswith(b"%PDF-")


def test_pdf_rendering_is_quiet_when_stderr_is_a_pipe(
    scan: DemoScan, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDITOR_NO_PROGRESS", raising=False)
    run = run_cli("report", str(scan.result_path), "--format", "pdf", "-o", str(tmp_path / "r.pdf"))
    assert run.code == 0 and run.err == ""


def test_waiting_redraws_what_the_work_has_done(pty: Pty, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.01)
    done = [0]
    release = threading.Event()

    def line() -> str:
        done[0] += 1
        return f"read \x1b[2J{done[0]} files"

    with Waiting(line, stream=pty.stream, delay=0):
        deadline = time.monotonic() + 30
        while done[0] < 3 and time.monotonic() < deadline:
            release.wait(0.01)
    out = pty.read()
    assert f"{ERASE}read \\x1b[2J1 files … 0 s{ERASE}read \\x1b[2J2 files … 0 s" in out  # each redraw asks anew
    assert "\x1b[2J" not in out and out.endswith(ERASE)


def test_a_secrets_scan_shows_what_it_has_read_on_a_terminal(pty: Pty, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor._cli import main
    from tests.auditor._secrets.test_run import make_tree

    planted = make_tree(tmp_path / "tree", n=300)
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0)
    monkeypatch.setattr(progress, "REDRAW_SECONDS", 0.002)
    monkeypatch.setattr("sys.stderr", pty.stream)
    out = tmp_path / "report.json"
    assert main(["secrets", "scan", str(tmp_path / "tree"), "--format", "json", "-o", str(out), "--jobs", "1"]) == 1
    shown = pty.read()
    counts = [int(n.replace(",", "")) for n in re.findall(r"scanning for secrets: ([\d,]+) files, [\d.]+ MB read … \d+ s",
                                                           shown)]
    assert counts and counts == sorted(counts) and counts[-1] <= 300, shown[-300:]
    assert shown.startswith(f"{ERASE}scanning for secrets") and shown.endswith(ERASE)
    report = json.loads(out.read_text())
    assert report["stats"]["files_scanned"] == 300 and len(report["findings"]) == len(planted)


def test_a_secrets_scan_into_a_pipe_shows_no_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.auditor._secrets.test_run import make_tree

    make_tree(tmp_path, n=5)
    monkeypatch.delenv("AUDITOR_NO_PROGRESS", raising=False)
    monkeypatch.setattr(progress, "DELAY_SECONDS", 0)
    run = run_cli("secrets", "scan", str(tmp_path))
    assert run.code == 1 and run.err == "" and "finding(s) in 5 files" in run.out
