"""Deployment files: a hardened systemd unit, a launchd agent, a multi-stage non-root image."""

from __future__ import annotations

import configparser
import plistlib
import re
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent / "infra" / "deploy"


def test_systemd_unit_is_hardened_and_stops_cleanly() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(DEPLOY / "sitegen.service")
    service = unit["Service"]
    assert service["User"] == "sitegen" and service["ExecStart"].endswith("sitegen run --quiet")
    for key, value in {
        "ProtectSystem": "strict", "NoNewPrivileges": "true", "ProtectHome": "true",
        "PrivateTmp": "true", "ReadWritePaths": "/var/lib/sitegen", "KillSignal": "SIGTERM",
        "CapabilityBoundingSet": "", "StateDirectory": "sitegen",
    }.items():  # fmt: skip
        assert service[key] == value, key
    assert int(service["TimeoutStopSec"]) > 10  # sitegen's own shutdown bound
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_launchd_agent_parses_and_keeps_sitegen_running() -> None:
    with (DEPLOY / "io.sitegen.run.plist").open("rb") as f:
        agent = plistlib.load(f)
    assert agent["Label"] == "io.sitegen.run"
    assert agent["ProgramArguments"][1:3] == ["run", "--quiet"]
    assert agent["RunAtLoad"] and agent["KeepAlive"] == {"SuccessfulExit": False}


def test_dockerfile_is_multi_stage_and_non_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) == 2 and re.search(r"^FROM \S+ AS build$", text, re.M)
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user == ["sitegen"]
    assert "COPY --from=build" in text and "HEALTHCHECK" in text and "STOPSIGNAL SIGTERM" in text
    # The image installs the wheel, whose data files carry the templates and styles.
    assert "COPY templates" in text and "COPY styles" in text
