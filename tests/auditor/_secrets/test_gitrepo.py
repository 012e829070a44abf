"""auditor._secrets.gitrepo.run: what subprocess.run(capture_output=True) gives, without subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor._secrets.gitrepo import run

PY = sys.executable


def _reference(argv: list[str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
    proc = subprocess.run(argv, input=stdin, capture_output=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=200_000), code=st.integers(0, 5), to_err=st.booleans())
def test_output_error_and_status_as_subprocess_gives_them(data: bytes, code: int, to_err: bool) -> None:
    script = ("import sys; d = sys.stdin.buffer.read(); "
              f"(sys.stderr if {to_err} else sys.stdout).buffer.write(d[::-1]); sys.exit({code})")
    argv = [PY, "-c", script]
    assert run(argv, stdin=data) == _reference(argv, data)


def test_a_large_input_and_output_at_once_do_not_block() -> None:
    """Both pipes full at the same time: the loop must feed and read together."""
    data = os.urandom(3 << 20)
    argv = [PY, "-c", "import sys, shutil; shutil.copyfileobj(sys.stdin.buffer, sys.stdout.buffer)"]
    code, out, err = run(argv, stdin=data, timeout=60)
    assert (code, out, err) == (0, data, b"")


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    code, out, _ = run([PY, "-c", "import sys; print(sys.stdin.buffer.read(3))"], stdin=b"x" * (4 << 20))
    assert code == 0 and out.strip() == b"b'xxx'"


def test_a_missing_program_is_file_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        run(["auditor-no-such-program-here"])


def test_a_signal_is_a_negative_status_as_in_subprocess() -> None:
    argv = [PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]
    assert run(argv)[0] == _reference(argv, None)[0] < 0


def test_a_program_past_its_time_is_killed_and_reaped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    argv = [PY, "-c", f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(30)"]
    with pytest.raises(TimeoutError):
        run(argv, timeout=1)
    assert time.monotonic() - start < 15
    with pytest.raises(ProcessLookupError):  # killed, and reaped: no such process any more
        os.kill(int(pid_file.read_text()), 0)
