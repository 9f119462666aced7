"""The checkpoint signer's one entry point (the periodic task and ``audit_checkpoint``).

Before the city's key extends the log's newest checkpoint, that checkpoint must carry a valid
signature by a trusted key: whoever can insert a row into the checkpoint table (the application
does) must not get the real key to sign on top of a checkpoint they made up.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from cryptography.exceptions import InvalidSignature

from audit.chain import canonical_time
from audit.checkpoints import CheckpointUntrusted, checkpoint_create, checkpoint_message
from audit.keyring import checkpoint_keyring
from audit.models import AuditCheckpoint


def checkpoint_signature_holds(checkpoint: AuditCheckpoint) -> bool:
    """Whether a stored checkpoint is signed by a key of the keyring (current or retired)."""
    key = checkpoint_keyring().keys.get(checkpoint.key_id)
    if key is None:
        return False
    message = checkpoint_message(
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        chain_hash=checkpoint.chain_hash,
        created_at=canonical_time(checkpoint.created_at),
        key_id=checkpoint.key_id,
    )
    try:
        key.verify(base64.b64decode(checkpoint.signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def checkpoint_sign(*, now: datetime | None = None) -> AuditCheckpoint | None:
    """Seal, check the newest checkpoint's signature, then sign the next one (None: no growth)."""
    newest = AuditCheckpoint.objects.order_by("-tree_size").first()
    if newest is not None and not checkpoint_signature_holds(newest):
        raise CheckpointUntrusted(
            f"the checkpoint of tree size {newest.tree_size} is not signed by a trusted key"
        )
    return checkpoint_create(now=now)
