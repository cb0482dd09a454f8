"""Deployment files: a hardened systemd unit, a launchd agent, a multi-stage non-root image."""

from __future__ import annotations

import configparser
import os
import plistlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sitegen.config import parse
from sitegen.metrics import SelfMetrics, serve
from tests.promserver import free_port

DEPLOY = Path(__file__).resolve().parent.parent / "infra" / "deploy"


def systemd_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(DEPLOY / "sitegen.service")
    return unit


def test_systemd_unit_is_hardened_and_stops_cleanly() -> None:
    unit = systemd_unit()
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


def test_systemd_relative_paths_land_in_the_writable_state_directory() -> None:
    service = systemd_unit()["Service"]
    env = dict(e.split("=", 1) for e in service["Environment"].split())
    config = Path(env["SITEGEN_CONFIG"])
    # sitegen resolves a relative out_dir/state_dir against the config file's directory:
    # the unit shows the admin's /etc/sitegen/sitegen.toml, read-only, inside the one
    # writable directory, so the defaults ("public", ".sitegen") are writable.
    source, target = service["BindReadOnlyPaths"].split(":")
    assert source == "/etc/sitegen/sitegen.toml" and Path(target) == config
    cfg = parse('[site]\nout_dir = "public"\n', env={}, base_dir=config.parent)
    writable = Path(service["ReadWritePaths"])
    for path in (cfg.site.out_dir, cfg.site.state_dir):
        assert path.is_relative_to(writable), path


def test_systemd_unit_reads_the_journal_and_takes_secrets_from_a_file() -> None:
    service = systemd_unit()["Service"]
    # [logs] journald = true: journalctl shows the whole journal to systemd-journal only.
    assert "systemd-journal" in service["SupplementaryGroups"].split()
    # "${ENV_VAR}" secrets of the config: read by systemd (as root) from a file only root
    # may read; "-" as the file is optional.
    assert service["EnvironmentFile"] == "-/etc/sitegen/sitegen.env"


def dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text()


def test_dockerfile_base_images_are_pinned_by_digest() -> None:
    images = re.findall(r"^FROM\s+(\S+)", dockerfile(), re.M)
    assert images and all(re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", i) for i in images)
    assert len(set(images)) == 1  # build and runtime from the same Python


def test_docker_config_resolves_relative_paths_into_the_volume() -> None:
    text = dockerfile()
    (config,) = re.findall(r"SITEGEN_CONFIG=(\S+)", text)
    (volume,) = re.findall(r'^VOLUME \["([^"]+)"\]', text, re.M)
    cfg = parse("", env={}, base_dir=Path(config).parent)
    assert cfg.site.out_dir.is_relative_to(volume) and cfg.site.state_dir.is_relative_to(volume)


@pytest.mark.parametrize("healthy", [True, False])
def test_docker_health_check_asks_the_configured_metrics_address(tmp_path, healthy) -> None:
    port = free_port()  # not the default 9464
    server = serve(SelfMetrics(), f"127.0.0.1:{port}", lambda: (healthy, "said so"))
    try:
        config = tmp_path / "sitegen.toml"
        config.write_text(f'[site]\nmetrics_listen = "127.0.0.1:{port}"\n')
        (check,) = re.findall(
            r"^HEALTHCHECK .*\n\s*CMD \[\"python\", \"(\S+)\"\]", dockerfile(), re.M
        )
        (script,) = re.findall(rf"^COPY infra/deploy/(\S+) {check}$", dockerfile(), re.M)
        done = subprocess.run(
            [sys.executable, str(DEPLOY / script)],
            env={**os.environ, "SITEGEN_CONFIG": str(config)},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == (0 if healthy else 1), done.stdout + done.stderr
        assert f"127.0.0.1:{port}" in done.stdout
    finally:
        server.shutdown()
