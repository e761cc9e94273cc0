"""Runs virtswarm-guests from the build tree, as virtswarm-guests.service would, with a
configuration file written for the test."""

from __future__ import annotations

import os
import subprocess

import vsharness as h


def config_file(text: str) -> str:
    path = os.path.join(h.env("VS_TEST_ROOT"), "virtswarm-guests.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def run(command: str, config: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    """virtswarm-guests <command>; its log lines are in .stderr."""
    binary = os.path.join(h.env("VS_BUILD_DIR"), "guests", "virtswarm-guests")
    return subprocess.run([binary, "--system", "--config", config_file(config), command],
                          capture_output=True, text=True, timeout=timeout)


def record_path() -> str:
    """Where 'stop' records the guests that 'start' brings back."""
    return os.path.join(h.env("VIRTSWARM_STATE_DIR"), "guests", "stopped")


def recorded() -> list[str]:
    try:
        with open(record_path()) as f:
            return sorted(line.strip() for line in f if line.strip())
    except FileNotFoundError:
        return []
