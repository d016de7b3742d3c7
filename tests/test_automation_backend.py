"""Backend and secrets-provider selection: env precedence, the per-stack passphrase."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from automation import backend


def test_embedded_file_backend_and_generated_passphrase(tmp_path: Path) -> None:
    home = tmp_path / "home"
    chosen = backend.select(tmp_path, "dev", {"PULUMI_HOME": str(home)})
    state = tmp_path / ".pulumi-state"
    assert chosen.source == "embedded"
    assert chosen.url == f"file://{state}"
    assert chosen.env["PULUMI_BACKEND_URL"] == chosen.url
    assert chosen.passphrase_file == state / "dev.passphrase"
    assert chosen.env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(state / "dev.passphrase")
    assert stat.S_IMODE(chosen.passphrase_file.stat().st_mode) == 0o600
    assert len(chosen.passphrase_file.read_text().strip()) >= 40


def test_passphrase_created_once_and_reused_per_stack(tmp_path: Path) -> None:
    first = backend.passphrase_file(tmp_path / ".pulumi-state", "dev")
    secret = first.read_text()
    first.chmod(0o644)  # loosened by hand: tightened again
    again = backend.passphrase_file(tmp_path / ".pulumi-state", "dev")
    assert again == first and again.read_text() == secret
    assert stat.S_IMODE(again.stat().st_mode) == 0o600
    other = backend.passphrase_file(tmp_path / ".pulumi-state", "staging")
    assert other.read_text() != secret


def test_backend_url_env_wins_and_no_passphrase_is_generated(tmp_path: Path) -> None:
    creds = tmp_path / "home"
    creds.mkdir()
    (creds / "credentials.json").write_text(json.dumps({"current": "https://api.pulumi.com"}))
    env = {"PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_HOME": str(creds)}
    chosen = backend.select(tmp_path, "prod", env)
    assert (chosen.url, chosen.source, chosen.env, chosen.passphrase_file) == ("s3://state-bucket", "env", {}, None)
    assert not (tmp_path / ".pulumi-state").exists()


def test_existing_login_is_kept(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"current": "https://api.pulumi.com", "accessTokens": {}}))
    chosen = backend.select(tmp_path, "prod", {"PULUMI_HOME": str(tmp_path)})
    assert chosen.url is None and chosen.source == "login (https://api.pulumi.com)"
    assert chosen.env == {} and chosen.passphrase_file is None


def test_empty_or_broken_credentials_mean_not_logged_in(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"current": ""}))
    assert backend.logged_in({"PULUMI_HOME": str(tmp_path)}) is None
    (tmp_path / "credentials.json").write_text("{not json")
    assert backend.logged_in({"PULUMI_HOME": str(tmp_path)}) is None
    assert backend.select(tmp_path, "dev", {"PULUMI_HOME": str(tmp_path)}).source == "embedded"


def test_users_own_passphrase_or_provider_is_respected(tmp_path: Path) -> None:
    home = {"PULUMI_HOME": str(tmp_path / "home")}
    for env in ({"PULUMI_CONFIG_PASSPHRASE": "mine"}, {"PULUMI_CONFIG_PASSPHRASE_FILE": "/run/secrets/pp"}):
        chosen = backend.select(tmp_path, "dev", {**home, **env})
        assert chosen.source == "embedded" and "PULUMI_CONFIG_PASSPHRASE_FILE" not in chosen.env
        assert chosen.passphrase_file is None
    kms = backend.select(tmp_path, "dev", home, secrets_provider="awskms://alias/kommander")
    assert kms.secrets_provider == "awskms://alias/kommander" and kms.passphrase_file is None
    assert not (tmp_path / ".pulumi-state" / "dev.passphrase").exists()
