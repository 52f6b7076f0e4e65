"""The console script leaves without the interpreter's teardown, yet as a normal exit would:
the exit handlers run, the standard streams are flushed and the exit code is the command's."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _leaving(body: str) -> subprocess.CompletedProcess:
    script = "import atexit, sys, threading, time\nfrom lomsong.cli._exit import leave\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3)])
def test_leave_runs_the_exit_handlers_flushes_and_keeps_the_code(code, status):
    done = _leaving(
        f"""
        atexit.register(lambda: print("handler ran", file=sys.stderr))
        sys.stdout.write("unflushed output")
        leave({code!r})
        """
    )
    assert done.returncode == status
    assert done.stdout == "unflushed output"
    assert done.stderr.strip() == "handler ran"


def test_a_message_exits_with_code_one_and_is_printed():
    done = _leaving('leave("error: something")')
    assert done.returncode == 1 and done.stderr.strip() == "error: something"


def test_a_running_thread_gets_the_normal_exit():
    """A non-daemon thread still working is waited for, as the interpreter always does."""
    done = _leaving(
        """
        def late():
            time.sleep(0.3)
            print("thread finished", flush=True)

        threading.Thread(target=late).start()
        leave(5)
        """
    )
    assert done.returncode == 5 and done.stdout.strip() == "thread finished"


def test_python_dash_m_lomsong_exits_as_the_command_line_does(tmp_path):
    """The same output and exit code as :func:`lomsong.cli.main` with the interpreter's normal exit."""
    normal = "import sys; sys.argv = ['lomsong', *sys.argv[1:]]; from lomsong.cli import main; main()"
    for arguments in (["--version"], ["ingest", str(tmp_path / "missing.txt"), "--store", str(tmp_path / "s")]):
        quick = subprocess.run([sys.executable, "-m", "lomsong", *arguments], capture_output=True, text=True)
        slow = subprocess.run([sys.executable, "-c", normal, *arguments], capture_output=True, text=True)
        assert (quick.returncode, quick.stdout, quick.stderr) == (slow.returncode, slow.stdout, slow.stderr)
    assert quick.returncode == 1 and "missing.txt" in quick.stderr
