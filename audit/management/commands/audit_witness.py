"""``audit_witness --state DIR --source URL``: an independent witness of the audit log (SPEC §6, §7).

Run it anywhere that has the city's public checkpoint key and HTTP access to the server: the
city's information-policy office, another municipality, an auditor's laptop. Each run fetches the
newest signed checkpoint, checks its signature, and asks the server for an RFC 6962 consistency
proof from the checkpoint this witness kept last time. Only a log that grew by appending can give
one: a log whose events were removed or rewritten, even by someone holding the database and the
signing key, fails here, however consistent it looks from inside. Exit 0 when consistent; non-zero
naming the failure otherwise, and the kept checkpoint stays as it was.

Keys: ``--public-key FILE`` (PEM), else the configured verification keyring (``AUDIT_PUBLIC_KEY``
or ``AUDIT_PUBLIC_KEY_FILE``, and ``AUDIT_RETIRED_PUBLIC_KEYS`` for checkpoints signed before a key
rotation). It needs no database.
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.checkpoints import checkpoint_message, json_file_write_atomic, key_id_for
from audit.keyring import checkpoint_keyring
from audit.merkle import consistency_proof_verify

STATE_FILE = "checkpoint.json"
TIMEOUT_SECONDS = 30
_FIELDS = {
    "tree_size": int,
    "root_hash": str,
    "chain_hash": str,
    "created_at": str,
    "key_id": str,
    "signature": str,
}


class WitnessFailure(CommandError):
    """The log is not what this witness saw before, or the server's answer cannot be trusted."""


class Command(BaseCommand):
    help = (
        "監査ログの外部監視: 署名付きチェックポイントと整合性証明を検証する (independent audit-log witness)"
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--state", required=True, type=Path, help="folder where the last verified checkpoint is kept"
        )
        parser.add_argument(
            "--source", required=True, help="the server's base address, e.g. https://konbini.example.jp"
        )
        parser.add_argument(
            "--public-key", type=Path, help="the checkpoint key (PEM); default: the configured keyring"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        keys = _keys(Path(options["public_key"]) if options["public_key"] else None)
        base = str(options["source"]).rstrip("/")
        state_path = Path(options["state"]) / STATE_FILE
        new = _checked_head(_get_json(f"{base}/audit/transparency/checkpoint", what="checkpoint"), keys)
        old = _read_state(state_path)
        order = list(keys)  # oldest first, as the keyring lists them
        if (
            old is not None
            and old.get("key_id") in keys
            and order.index(new["key_id"]) < order.index(old["key_id"])
        ):
            # Keys are used one after the other: a head signed by a key older than the one that
            # signed the kept head can only come from someone holding a retired, perhaps leaked, key.
            raise WitnessFailure(
                f"退役した署名鍵による署名です / bad signature: tree size {new['tree_size']} is signed "
                f"with key {new['key_id']}, older than key {old['key_id']} "
                f"of the kept tree size {old['tree_size']}"
            )
        if old is None:
            _write_state(state_path, new)
            self.stdout.write(
                f"最初のチェックポイントを保存しました / first checkpoint kept: tree size {new['tree_size']}"
            )
            return
        old_size, new_size = int(old["tree_size"]), int(new["tree_size"])
        if new_size < old_size:
            raise WitnessFailure(
                f"監査ログが縮んでいます / tree smaller than before: {new_size} < {old_size} "
                "(events were removed or the log was rebuilt)"
            )
        if new_size == old_size:
            if new["root_hash"] != old["root_hash"]:
                raise WitnessFailure(
                    f"同じ件数で異なるルート / same tree size {new_size}, different root hash "
                    f"({old['root_hash'][:16]}… kept, {new['root_hash'][:16]}… now): the log was rewritten"
                )
        else:
            query = urllib.parse.urlencode({"first": old_size, "second": new_size})
            answer = _get_json(f"{base}/audit/transparency/consistency?{query}")
            proof = _proof(answer, old_size, new_size)
            if not consistency_proof_verify(
                first=old_size,
                second=new_size,
                first_hash=bytes.fromhex(old["root_hash"]),
                second_hash=bytes.fromhex(new["root_hash"]),
                proof=proof,
            ):
                raise WitnessFailure(
                    f"整合性証明が成り立ちません / consistency proof from tree size {old_size} to {new_size} "
                    "does not hold: the log was rewritten"
                )
        _write_state(state_path, new)
        root = new["root_hash"][:16]
        self.stdout.write(
            f"整合性を確認しました / consistent: tree size {old_size} -> {new_size}, root {root}…"
        )


def _keys(path: Path | None) -> dict[str, Ed25519PublicKey]:
    if path is None:
        return dict(checkpoint_keyring().keys)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CommandError(
            f"--public-key: not a readable PEM public key ({exc.__class__.__name__})"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise CommandError("--public-key: the checkpoint key is an Ed25519 key")
    return {key_id_for(key): key}


def _get_json(url: str, *, what: str = "") -> Any:
    if not url.startswith(("https://", "http://")):
        raise CommandError(f"--source must be an http(s) address, got {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked above
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404 and what == "checkpoint":
            raise CommandError(
                f"チェックポイントがまだありません / no checkpoint has been signed yet at {url}"
            ) from None
        raise WitnessFailure(f"サーバの応答が異常です / the server answered {exc.code} for {url}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise CommandError(f"サーバに接続できません / cannot reach {url}: {exc}") from None
    except ValueError:
        raise WitnessFailure(f"サーバの応答がJSONではありません / not JSON from {url}") from None


def _checked_head(head: Any, keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    if not isinstance(head, dict) or any(
        not isinstance(head.get(name), kind) for name, kind in _FIELDS.items()
    ):
        raise WitnessFailure("チェックポイントの形式が不正です / the checkpoint is malformed")
    key = keys.get(head["key_id"])
    if key is None:
        raise WitnessFailure(
            f"未知の署名鍵です / bad signature: key {head['key_id']} is not one this witness trusts"
        )
    message = checkpoint_message(
        tree_size=head["tree_size"],
        root_hash=head["root_hash"],
        chain_hash=head["chain_hash"],
        created_at=head["created_at"],
        key_id=head["key_id"],
    )
    try:
        key.verify(base64.b64decode(head["signature"], validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        raise WitnessFailure(
            f"署名が不正です / bad signature on the checkpoint of tree size {head['tree_size']}"
        ) from None
    try:
        if len(bytes.fromhex(head["root_hash"])) != 32 or head["tree_size"] < 1:
            raise ValueError
    except ValueError:
        raise WitnessFailure("チェックポイントの形式が不正です / the checkpoint is malformed") from None
    return {name: head[name] for name in _FIELDS}


def _proof(answer: Any, first: int, second: int) -> list[bytes]:
    if not isinstance(answer, dict) or answer.get("first") != first or answer.get("second") != second:
        raise WitnessFailure(
            f"整合性証明の形式が不正です / malformed consistency proof for {first} -> {second}"
        )
    try:
        return [base64.b64decode(item, validate=True) for item in answer["proof"]]
    except (KeyError, TypeError, binascii.Error, ValueError):
        raise WitnessFailure(
            f"整合性証明の形式が不正です / malformed consistency proof for {first} -> {second}"
        ) from None


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CommandError(f"{path}: the kept checkpoint cannot be read ({exc.__class__.__name__})") from None


def _write_state(path: Path, head: dict[str, Any]) -> None:
    # Atomically: a crash mid-write must not leave this witness without its last head.
    json_file_write_atomic(path, head)
