"""auditor._cli.run, the program's entry point: main's exit code, without the interpreter's
teardown but with everything an exit does (threads joined, exit handlers run, streams flushed)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

PROGRAM = """
import atexit, sys, threading, time
import auditor._cli as cli

def late():
    time.sleep(0.3)
    print("thread finished")

def main():
    atexit.register(lambda: print("exit handler ran"))
    threading.Thread(target=late).start()
    sys.stdout.write("buffered, no newline")
    sys.stderr.write("to stderr")
    return 3

cli.main = main
cli.run()
print("never")
"""


def test_run_exits_with_mains_code_after_what_an_exit_does() -> None:
    proc = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "buffered, no newlinethread finished\nexit handler ran\n"
    assert proc.stderr == "to stderr"


def test_python_m_auditor_goes_through_run(tmp_path: Path) -> None:
    version = subprocess.run([sys.executable, "-m", "auditor", "--version"], capture_output=True, text=True,
                             timeout=60, check=False)
    assert version.returncode == 0 and version.stdout.startswith("auditor ")
    usage = subprocess.run([sys.executable, "-m", "auditor", "no-such-command"], capture_output=True, text=True,
                           timeout=60, check=False)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    main = Path(__file__).resolve().parents[3] / "auditor" / "__main__.py"
    assert "run()" in main.read_text()


EXECUTOR = """
import concurrent.futures, sys
import auditor._cli as cli

def main():
    pool = concurrent.futures.ThreadPoolExecutor(1)  # left running, as Python's exit allows
    pool.submit(lambda: None).result()
    processes = concurrent.futures.ProcessPoolExecutor(1)
    processes.submit(abs, -1).result()
    print("done")
    return 0

cli.main = main
cli.run()
"""


def test_run_does_not_hang_on_executors_left_running() -> None:
    proc = subprocess.run([sys.executable, "-c", EXECUTOR], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout == "done\n", proc.stderr


WAITING = """
import sys, threading, time
import auditor._cli as cli

def late():
    time.sleep(0.5)  # main has returned: run() is joining this thread
    print("joining", flush=True)
    time.sleep(60)

def main():
    threading.Thread(target=late).start()
    return 0

cli.main = main
cli.run()
"""


def test_ctrl_c_while_threads_are_joined_is_an_interruption_not_a_traceback() -> None:
    proc = subprocess.Popen([sys.executable, "-c", WAITING], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "joining\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err == "auditor: interrupted\n"
