"""The deployment files hold together: the compose file validates with the real `docker compose config` (against
a stand-in Mailcow checkout, since Mailcow's compose file is included, not copied), and the Dockerfile, cron
entries and systemd units say what docs/operations.md says they do."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "infra" / "docker-compose.mail.yml"
OUR_SERVICES = {"azt3knet-postgres", "dagster-webserver", "dagster-daemon", "azt3knet-dns-bootstrap"}
SECRETS = ("SECRET_KEY_FOR_KV_ENC", "MAILCOW_API_KEY", "DESEC_TOKEN", "AZT3KNET_ADMIN_TOKEN")

# A stand-in for a mailcow-dockerized checkout: the same shape as upstream's file (services on
# mailcow-network, named volumes, relative bind mounts, variables from mailcow.conf), a few services only.
MAILCOW_COMPOSE = """
services:
  mysql-mailcow:
    image: mariadb:10.11
    environment:
      - MYSQL_ROOT_PASSWORD=${DBROOT}
    volumes:
      - mysql-vol-1:/var/lib/mysql/
    networks:
      mailcow-network:
        aliases: [mysql]
  nginx-mailcow:
    image: ghcr.io/mailcow/nginx:1.03
    environment:
      - MAILCOW_HOSTNAME=${MAILCOW_HOSTNAME}
    volumes:
      - ./data/web:/web:ro,z
    ports:
      - "${HTTPS_BIND:-}:${HTTPS_PORT:-443}:${HTTPS_PORT:-443}"
    networks:
      mailcow-network:
        aliases: [nginx]
volumes:
  mysql-vol-1:
networks:
  mailcow-network:
    driver: bridge
    ipam:
      driver: default
      config:
        - subnet: ${IPV4_NETWORK:-172.22.1}.0/24
"""
MAILCOW_CONF = "MAILCOW_HOSTNAME=mail.example.org\nDBROOT=not-a-real-password\nCOMPOSE_PROJECT_NAME=mailcowdockerized\n"


def _compose_command() -> list[str] | None:
    """`docker compose` (plugin) or a Compose v2 `docker-compose`; None when neither is installed."""
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        try:
            version = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version.returncode == 0 and re.search(r"v?2\.\d+", version.stdout):
            return command
    return None


def test_compose_file_structure() -> None:
    """Parsed with PyYAML: what must be there even where no Compose client is installed."""
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == OUR_SERVICES  # Mailcow's services come from its own file, never copied here
    (include,) = compose["include"]
    assert include["path"] == "${MAILCOW_DIR:-/opt/mailcow-dockerized}/docker-compose.yml"
    assert include["env_file"].endswith("/mailcow.conf")
    assert compose["name"] == "${COMPOSE_PROJECT_NAME:-mailcowdockerized}"

    webserver = services["dagster-webserver"]
    assert webserver["command"][0] == "dagster-webserver"
    assert webserver["ports"] == ["127.0.0.1:${AZT3KNET_DAGSTER_PORT:-3000}:3000"]
    assert all(webserver["environment"][name] == "" for name in SECRETS)
    assert services["dagster-daemon"]["command"][:2] == ["dagster-daemon", "run"]
    bootstrap = services["azt3knet-dns-bootstrap"]
    assert bootstrap["restart"] == "no" and "dns_bootstrap.py" in " ".join(bootstrap["command"])
    assert "CREATE DATABASE dagster" in compose["configs"]["azt3knet-pg-init"]["content"]


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 client here (.ci/run installs the plugin); structure checked above")
    mailcow_dir = tmp_path / "mailcow-dockerized"
    mailcow_dir.mkdir()
    (mailcow_dir / "docker-compose.yml").write_text(MAILCOW_COMPOSE)
    (mailcow_dir / "mailcow.conf").write_text(MAILCOW_CONF)
    key = Fernet.generate_key().decode()
    env_file = tmp_path / "azt3knet.env"
    env_file.write_text(
        (REPO / ".env.example").read_text() + f"\nSECRET_KEY_FOR_KV_ENC={key}\nDESEC_TOKEN=tok-123456\n"
        "AZT3KNET_DATABASE_URL=postgresql://azt3knet:pw@azt3knet-postgres:5432/azt3knet\n"
        "AZT3KNET_DAGSTER_POSTGRES_URL=postgresql+psycopg2://azt3knet:pw@azt3knet-postgres:5432/dagster\n"
    )
    password = tmp_path / "postgres_password"
    password.write_text("pw\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("COMPOSE_", "AZT3KNET_"))}
    env.update(MAILCOW_DIR=str(mailcow_dir), AZT3KNET_ENV_FILE=str(env_file), AZT3KNET_PG_PASSWORD_FILE=str(password))

    result = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "--format", "json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["name"] == "mailcowdockerized"
    assert OUR_SERVICES | {"mysql-mailcow", "nginx-mailcow"} <= set(config["services"])
    # Mailcow's resources keep the names they have on an existing host.
    assert config["volumes"]["mysql-vol-1"]["name"] == "mailcowdockerized_mysql-vol-1"
    assert config["networks"]["mailcow-network"]["name"] == "mailcowdockerized_mailcow-network"
    assert config["services"]["nginx-mailcow"]["environment"]["MAILCOW_HOSTNAME"] == "mail.example.org"

    services = config["services"]
    daemon, webserver = services["dagster-daemon"], services["dagster-webserver"]
    assert daemon["environment"]["SECRET_KEY_FOR_KV_ENC"] == key
    assert daemon["environment"]["DAGSTER_HOME"] == "/opt/azt3knet/dagster-home"
    for name in SECRETS:  # the env file sets them; the UI container still gets none
        assert webserver["environment"][name] == ""
    assert [(p["host_ip"], p["target"]) for p in webserver["ports"]] == [("127.0.0.1", 3000)]
    assert services["azt3knet-dns-bootstrap"]["restart"] == "no"
    assert daemon["depends_on"]["azt3knet-postgres"]["condition"] == "service_healthy"
    assert daemon["build"]["context"] == str(REPO)

    # Without the Mailcow checkout the file does not validate, and says which file is missing.
    env["MAILCOW_DIR"] = str(tmp_path / "nowhere")
    missing = subprocess.run(
        [*command, "-f", str(COMPOSE), "config", "-q"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode != 0 and "nowhere" in missing.stderr


def test_dockerfile_builds_a_non_root_image_with_the_deployment_dagster_yaml() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert any(line.startswith("FROM ${PYTHON_IMAGE}") for line in instructions)
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in instructions
    assert "USER azt3knet" in instructions
    assert "COPY infra/dagster.yaml ./dagster-home/dagster.yaml" in instructions
    assert any("DAGSTER_HOME=/opt/azt3knet/dagster-home" in line for line in instructions)
    for line in instructions:  # nothing secret is baked in
        assert not re.search(r"(SECRET_KEY|API_KEY|TOKEN|PASSWORD)\s*=", line), line
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".env", "tests", "infra/*.env", "infra/secrets", ".git"} <= set(ignored)


def _cron_entries() -> list[str]:
    entries = []
    for line in (REPO / "infra" / "cron.example").read_text().splitlines():
        if line.strip() and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line):
            entries.append(line)
    return entries


def test_cron_example_lines_are_well_formed() -> None:
    entries = _cron_entries()
    assert entries
    for entry in entries:
        fields = entry.split(None, 6)
        assert len(fields) == 7, entry  # five time fields, the user, the command
        assert "%" not in entry, "cron turns % into a newline"
        shlex.split(fields[6])  # quotes balance
        if "dagster job execute" in entry:
            assert "DAGSTER_HOME=" in entry and "-m azt3knet_pipeline.definitions" in entry
            tags = json.loads(shlex.split(entry.split("--tags", 1)[1])[0])
            assert list(tags) == ["dagster/partition"]
        if "dg launch" in entry:  # dg finds the project from the working directory
            assert "DAGSTER_HOME=" in entry and "cd /opt/azt3knet &&" in entry
            launch = shlex.split(entry.split("dg launch", 1)[1])
            assert launch[:4] == ["--job", "populate_job", "--partition", "seed-42"]
    assert any("dg launch --job populate_job --partition" in entry for entry in entries)


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((REPO / "infra" / "systemd" / name).read_text())
    return parser


def test_systemd_units_run_the_webserver_daemon_and_dyn_updater() -> None:
    names = sorted(path.name for path in (REPO / "infra" / "systemd").iterdir())
    assert names == [
        "azt3knet-dagster-daemon.service",
        "azt3knet-dagster-webserver.service",
        "azt3knet-dyndns.service",
        "azt3knet-dyndns.timer",
    ]
    webserver = _unit("azt3knet-dagster-webserver.service")
    assert webserver["Service"]["ExecStart"].startswith("/opt/azt3knet/venv/bin/dagster-webserver -h 127.0.0.1 ")
    assert set(webserver["Service"]["UnsetEnvironment"].split()) == set(SECRETS)
    daemon = _unit("azt3knet-dagster-daemon.service")
    assert daemon["Service"]["ExecStart"].startswith("/opt/azt3knet/venv/bin/dagster-daemon run -w ")
    dyndns = _unit("azt3knet-dyndns.service")
    assert dyndns["Service"]["Type"] == "oneshot"
    assert dyndns["Service"]["ExecStart"].endswith("/opt/azt3knet/infra/dyn_updater.py")
    timer = _unit("azt3knet-dyndns.timer")
    assert timer["Timer"]["Unit"] == "azt3knet-dyndns.service"
    for unit in (webserver, daemon, dyndns):
        service = unit["Service"]
        assert service["User"] == "azt3knet"
        assert service["EnvironmentFile"] == "/etc/azt3knet/azt3knet.env"
        assert "DAGSTER_HOME=/var/lib/azt3knet/dagster" in service["Environment"]
        assert service["UMask"] == "0077"
    for path in ("infra/dyn_updater.py", "workspace.yaml"):
        assert (REPO / path).exists()
