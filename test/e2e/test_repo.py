"""The repository's own commands, as a new user meets them: test/run builds
its sanitizer binary in build-test/ and leaves the work tree as it was, and
the README's console line works with the example config."""

import os
import re
import shutil
import subprocess

import pytest

from harness import PSQL, REPO_ROOT

pytestmark = pytest.mark.skip_pgbouncer("pgsift's repository")


def tree_state(root):
    """relative path -> (size, mtime) of every file outside build-test/ and .git."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.samefile(dirpath, root):
            dirnames[:] = [d for d in dirnames if d not in ("build-test", ".git")]
        for f in filenames:
            path = os.path.join(dirpath, f)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


def git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          capture_output=True, check=True).stdout


@pytest.mark.timeout(600)
def test_run_builds_in_build_test_and_leaves_the_work_tree_alone(tmp_path):
    """A fresh clone (the sources as git has them), configured the way
    test/run builds: nothing appears or changes outside build-test/, so a
    later ./configure && make there builds a normal binary."""
    clone = tmp_path / "clone"
    names = git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split(b"\0")
    for name in filter(None, names):
        src = REPO_ROOT / name.decode()
        if src.is_file():
            (clone / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, clone / name.decode())
    git(clone, "init", "-q")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "clone")
    before = tree_state(clone)
    env = dict(os.environ, TEST_RUN_CONFIGURE_ONLY="1")
    env.pop("PGSIFT_BIN", None)
    env.pop("BUILDDIR", None)
    r = subprocess.run(["test/run"], cwd=clone, env=env, capture_output=True, text=True, timeout=550)
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree_state(clone) == before
    assert git(clone, "status", "--porcelain") == b""
    assert re.search(r"^SAN_CFLAGS = -fsanitize", (clone / "build-test/obj/Makefile").read_text(), re.M)
    assert not (clone / "Makefile").exists() and not (clone / "configure").exists()


def test_readme_console_line_works_with_the_example_config(pooler):
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("## Running it", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    line = next(ln for ln in block.splitlines() if ln.startswith("psql") and "pgsift" in ln)
    command, _, comment = line.partition("#")
    password = re.search(r"password (\S+)", comment).group(1)
    p = pooler(start=False)
    shutil.copy(REPO_ROOT / "etc/userlist.txt", p.workdir / "userlist.txt")
    os.chmod(p.workdir / "userlist.txt", 0o644)
    ini = (REPO_ROOT / "etc/pgsift.ini").read_text()
    ini = re.sub(r"(?m)^listen_port = .*$", f"listen_port = {p.port}", ini)
    ini = re.sub(r"(?m)^auth_file = .*$", f"auth_file = {p.workdir}/userlist.txt", ini)
    ini = re.sub(r"(?m)^\[pgsift\]$", f"[pgsift]\nunix_socket_dir = {p.workdir}", ini)
    p.write_ini(ini)
    p.start()
    args = command.split()[1:]
    args[args.index("-p") + 1] = str(p.port)
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="10")
    env.pop("PGUSER", None)
    r = subprocess.run([PSQL, "-X", "-A", "-t", *args, "-c", "SHOW VERSION"], env=env, capture_output=True,
                       text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stdout.startswith("pgsift"), r.stdout + r.stderr
