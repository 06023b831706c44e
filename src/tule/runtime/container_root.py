"""A container's own `/opt/ml`: the job's folder mounted there, in a private mount namespace.

A SageMaker container sees its workspace at `/opt/ml`, and scripts hard-code paths under it
(`/opt/ml/processing/input/data.csv`). tule runs jobs as plain processes, so the workspace is a
folder of the job; mapping `/opt/ml/...` in arguments and environment (`Workspace.
map_container_path`) covers what the platform passes, not what a script names in its code.

Where the kernel allows unprivileged user namespaces, `wrap` turns a command into
`unshare --user --map-root-user --mount <helper> <root> <program> <argv...>`: util-linux's
`unshare` gives the process its own user and mount namespaces, and the helper (a few lines of
Python run by the server's interpreter) mounts the workspace on `/opt/ml` there before it
`exec`s the program. Nothing changes outside the namespace. When `/opt/ml` does not exist, the
helper mounts a tmpfs on `/opt` and binds every original entry of `/opt` back onto it (through
a descriptor opened on the original `/opt` first), so nothing else under `/opt` disappears.

Inside, the process runs as uid 0 of its namespace; what it creates belongs to the real user
outside. The chain is exec'd in place (no fork), so the process keeps its pid, its process
group and what the executor's launcher set before exec'ing `unshare`: its memory limit and
`PR_SET_PDEATHSIG`, which Linux keeps across entering a user namespace that the process's own
user owns.

`probe` tries the whole thing once per process (is `unshare` there, may this user create the
namespaces, do the mounts work) and caches the answer: containers with the default seccomp
profile, and kernels with `kernel.unprivileged_userns_clone=0`, refuse; the caller then falls
back to mapping paths.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CONTAINER_ROOT = "/opt/ml"
# The probe starts a few processes; a healthy machine answers in well under a second.
PROBE_TIMEOUT_S = 20.0
# Exit status of the helper when it cannot mount the workspace (126: "cannot execute").
SETUP_FAILED = 126
_PROBE_MARKER = ".tule-container-root-probe"

# Run as `python -I -S -c _HELPER <root> <program> <argv...>` inside the new namespaces.
_HELPER = """\
import ctypes, os, sys
root, program, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = (ctypes.c_char_p,) * 3 + (ctypes.c_ulong, ctypes.c_char_p)
MS_BIND, MS_REC = 4096, 16384
def enc(s):
    return None if s is None else os.fsencode(s)
def mount(source, target, fstype=None, flags=MS_BIND | MS_REC, data=None):
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)
try:
    if not os.path.isdir("/opt/ml"):
        fd = os.open("/opt", os.O_RDONLY | os.O_DIRECTORY)
        names = os.listdir(fd)
        mount("tmpfs", "/opt", "tmpfs", 0, "mode=755")
        for name in names:
            source, target = "/proc/self/fd/%d/%s" % (fd, name), "/opt/" + name
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
                continue
            if os.path.isdir(source):
                os.mkdir(target)
            else:
                open(target, "x").close()
            mount(source, target)
        os.close(fd)
        os.mkdir("/opt/ml")
    mount(root, "/opt/ml")
    if os.path.realpath(os.getcwd()) == os.path.realpath(root):
        os.chdir("/opt/ml")
except OSError as e:
    sys.stderr.write("tule: cannot mount the job's workspace on /opt/ml: %s\\n" % e)
    sys.exit(126)
try:
    os.execv(program, argv)
except OSError as e:
    sys.stderr.write("cannot run %r: %s\\n" % (argv[0], e))
    sys.exit(127)
"""


def wrap(argv: list[str], root: Path, program: str | None = None) -> list[str]:
    """`argv` run with `root` mounted on `/opt/ml`; `program` is the absolute path to exec
    (default `argv[0]`, which must then be absolute). Only valid when `probe()` is None."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RuntimeError("unshare is not installed")
    target = program or argv[0]
    if not target.startswith("/"):
        raise ValueError(f"the program must be an absolute path, not {target!r}")
    return [
        unshare,
        "--user",
        "--map-root-user",
        "--mount",
        sys.executable,
        "-I",
        "-S",
        "-c",
        _HELPER,
        str(Path(root).absolute()),
        target,
        *argv,
    ]


@functools.cache
def probe() -> str | None:
    """None when `wrap` works on this machine, else why not (one sentence). Cached."""
    if not sys.platform.startswith("linux"):
        return "private mount namespaces need Linux"
    if shutil.which("unshare") is None:
        return "the unshare command (util-linux) is not installed"
    if not Path("/opt").is_dir() and not Path(CONTAINER_ROOT).is_dir():
        return "/opt does not exist, so there is nothing to mount the workspace under"
    check = f"import os, sys; sys.exit(0 if os.path.isfile('/opt/ml/{_PROBE_MARKER}') else 3)"
    with tempfile.TemporaryDirectory(prefix="tule-probe-") as scratch:
        (Path(scratch) / _PROBE_MARKER).touch()
        argv = wrap([sys.executable, "-I", "-S", "-c", check], Path(scratch))
        try:
            done = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unshare could not be run ({exc})"
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return f"unprivileged user and mount namespaces are not available ({detail})"
    return None
