"""The config.toml written on first start documents every key (README: "every key documented
there"), and each commented example is a value the gateway accepts."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from attestgate.gateway.ops.config import (
    GatewayConfig,
    default_config_toml,
    load_config,
)

TEMPLATE = default_config_toml(
    gateway_id="attestgate", dev_issuer="https://dev.example", jwks_file_name="dev.jwks.json"
)
KEY_LINE = re.compile(r"^(?:# )?([a-z_]+) = ", re.MULTILINE)


def test_every_key_is_in_the_template() -> None:
    shown = set(KEY_LINE.findall(TEMPLATE))
    top_level = {f.name for f in fields(GatewayConfig)} - {"issuers"}
    assert top_level - shown == set()
    assert {"issuer", "jwks_file", "audience"} <= shown
    assert "jwks = " in TEMPLATE  # the inline form of an issuer's keys
    assert "gateway/ops/config.py" not in TEMPLATE  # users read this file, not the source


def test_the_uncommented_examples_are_accepted(tmp_path: Path) -> None:
    # Every "# key = value" line, uncommented, is a valid setting (paths need not exist yet).
    text = re.sub(r"^# ([a-z_]+ = )", r"\1", TEMPLATE, flags=re.MULTILINE)
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    tmp_path.chmod(0o700)
    config = load_config(path)
    assert config.max_workers == 32
    assert config.checkpoint_interval.total_seconds() == 1
    assert config.data_dir == tmp_path.resolve()
    assert config.issuers[0].audience == "attestgate"
