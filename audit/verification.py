"""Verification of the whole audit log: every link, every checkpoint, nothing missing (SPEC §6, §7).

``chain_verify`` streams the chain in ``seq`` order in chunks (bounded memory for millions of
events), recomputes each event's canonical bytes and link hash, checks the resident index rows,
feeds the Merkle frontier and, each time it reaches a checkpoint's size, checks that checkpoint as
stored in the database and as written to ``AUDIT_CHECKPOINT_DIR`` (signature, size, root, last
hash) with the key that signed it, among the trusted ones (audit/keyring.py), in their order of
use; then each checkpoint against the one before it with the RFC 6962 consistency proof that a
witness would be given (audit/transparency.py). It stops at the first break and names it: the
event's ``seq`` and what is wrong. It reads only; it never seals, repairs or writes.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from audit.chain import DEFAULT_CHUNK, GENESIS_HASH, ChainBreak, ChainBroken, chain_links, check_links
from audit.checkpoints import CHECKPOINT_FILE_PATTERN, checkpoint_as_dict, checkpoint_message
from audit.keyring import CheckpointKeyring, checkpoint_keyring
from audit.merkle import MerkleFrontier, consistency_proof_verify
from audit.models import AuditChainHead, AuditCheckpoint, AuditEvent, AuditPending, AuditVerificationRun
from audit.services import Actor, audit_record
from audit.transparency import ProofUnavailable, consistency_proof_between


@dataclass(frozen=True)
class VerifiedPoint:
    """A checkpoint a verification has proven, with the Merkle frontier at its size: where the next
    ``--since-last`` run starts. Kept by the verifier outside the database (audit_verify's state)."""

    tree_size: int
    root_hash: str
    chain_hash: str
    frontier: list[list[int | str]]

    def as_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "chain_hash": self.chain_hash,
            "frontier": self.frontier,
        }

    @classmethod
    def from_json(cls, data: Any) -> VerifiedPoint:
        """Raises ValueError for anything that is not a state this module wrote."""
        if not isinstance(data, dict):
            raise ValueError("not a verified point")
        point = cls(
            tree_size=int(data["tree_size"]),
            root_hash=str(data["root_hash"]),
            chain_hash=str(data["chain_hash"]),
            frontier=list(data["frontier"]),
        )
        frontier = MerkleFrontier.from_json(point.frontier)
        if frontier.size != point.tree_size or frontier.root().hex() != point.root_hash:
            raise ValueError("the frontier does not match the tree size and root")
        return point


@dataclass
class VerificationReport:
    # Where the verification started: 0 for the whole log, else the size of the point it joined.
    since_tree_size: int = 0
    # The newest checkpoint proven, for the next --since-last run.
    verified_point: VerifiedPoint | None = None
    events_checked: int = 0
    checkpoints_checked: int = 0
    pending: int = 0
    last_checkpoint_size: int | None = None
    first_break: ChainBreak | None = None
    # The keys that signed the checkpoints checked, in the order they took over.
    key_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _check_signed(
    data: dict[str, Any],
    *,
    keyring: CheckpointKeyring,
    where: str,
    tree_size: int,
    root_hash: str,
    chain_hash: str,
    seq: int,
) -> str:
    """Check one checkpoint with the trusted key it names; returns that key's id."""
    try:
        message = checkpoint_message(
            tree_size=int(data["tree_size"]),
            root_hash=str(data["root_hash"]),
            chain_hash=str(data["chain_hash"]),
            created_at=str(data["created_at"]),
            key_id=str(data["key_id"]),
        )
        signature = base64.b64decode(str(data["signature"]), validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainBroken(
            ChainBreak("checkpoint_malformed", gettext("%(where)s: 形式が不正です") % {"where": where}, seq)
        ) from exc
    key_id = data["key_id"]
    public_key = keyring.keys.get(key_id) if isinstance(key_id, str) else None
    if public_key is None:
        raise ChainBroken(
            ChainBreak(
                "checkpoint_unknown_key", gettext("%(where)s: 署名鍵が異なります") % {"where": where}, seq
            )
        )
    try:
        public_key.verify(signature, message)
    except InvalidSignature as exc:
        raise ChainBroken(
            ChainBreak(
                "checkpoint_bad_signature",
                gettext("%(where)s: 署名が正しくありません") % {"where": where},
                seq,
            )
        ) from exc
    if int(data["tree_size"]) != tree_size:
        raise ChainBroken(
            ChainBreak(
                "checkpoint_size_mismatch", gettext("%(where)s: 件数が一致しません") % {"where": where}, seq
            )
        )
    if data["root_hash"] != root_hash:
        raise ChainBroken(
            ChainBreak(
                "checkpoint_root_mismatch",
                gettext("%(where)s: Merkleルートが再計算と一致しません") % {"where": where},
                seq,
            )
        )
    if data["chain_hash"] != chain_hash:
        raise ChainBroken(
            ChainBreak(
                "checkpoint_chain_mismatch",
                gettext("%(where)s: 最終イベントのハッシュが一致しません") % {"where": where},
                seq,
            )
        )
    return key_id


class _CheckpointIndex:
    """Which tree sizes have a checkpoint in the database, in files, or both; checks each one with
    the key that signed it, and that no key signs after its successor took over."""

    def __init__(self, checkpoint_dir: Path) -> None:
        self.keyring = checkpoint_keyring()
        self.key_ids_seen: list[str] = []
        self.db_sizes = dict(AuditCheckpoint.objects.values_list("tree_size", "pk"))
        self.files: dict[int, Path] = {}
        self.stray_files: list[Path] = []
        if checkpoint_dir.is_dir():
            for path in checkpoint_dir.iterdir():
                match = CHECKPOINT_FILE_PATTERN.fullmatch(path.name)
                if match:
                    self.files[int(match.group(1))] = path
                elif path.suffix == ".json":
                    self.stray_files.append(path)
        self.sizes = sorted(set(self.db_sizes) | set(self.files))

    def _check_checkpoint(
        self, data: dict[str, Any], *, where: str, tree_size: int, root_hash: str, chain_hash: str, seq: int
    ) -> None:
        key_id = _check_signed(
            data,
            keyring=self.keyring,
            where=where,
            tree_size=tree_size,
            root_hash=root_hash,
            chain_hash=chain_hash,
            seq=seq,
        )
        self._check_key_order(key_id, where=where, seq=seq)

    def _check_key_order(self, key_id: str, *, where: str, seq: int) -> None:
        """Checkpoints come in increasing size: their keys must never go back to an older one, which
        only someone holding a retired (perhaps leaked) key would do."""
        if self.key_ids_seen and key_id != self.key_ids_seen[-1]:
            newest = self.key_ids_seen[-1]
            if self.keyring.generation(key_id) < self.keyring.generation(newest):
                raise ChainBroken(
                    ChainBreak(
                        "checkpoint_key_out_of_order",
                        gettext(
                            "%(where)s: 後継の署名鍵 %(newer)s に替わった後に、"
                            "前の署名鍵 %(key_id)s で署名されています"
                        )
                        % {"where": where, "newer": newest, "key_id": key_id},
                        seq,
                    )
                )
        if key_id not in self.key_ids_seen:
            self.key_ids_seen.append(key_id)

    def check(self, *, tree_size: int, root_hash: str, chain_hash: str) -> None:
        seq = tree_size
        in_db, in_file = tree_size in self.db_sizes, tree_size in self.files
        if in_file and not in_db:
            raise ChainBroken(
                ChainBreak(
                    "checkpoint_missing_from_db",
                    gettext("チェックポイント(件数 %(size)s)のファイルはありますが、データベースにありません")
                    % {"size": tree_size},
                    seq,
                )
            )
        if in_db and not in_file:
            raise ChainBroken(
                ChainBreak(
                    "checkpoint_file_missing",
                    gettext("チェックポイント(件数 %(size)s)のファイルがありません") % {"size": tree_size},
                    seq,
                )
            )
        row = AuditCheckpoint.objects.get(pk=self.db_sizes[tree_size])
        self._check_checkpoint(
            checkpoint_as_dict(row),
            where=gettext("チェックポイント(件数 %(size)s, データベース)") % {"size": tree_size},
            tree_size=tree_size,
            root_hash=root_hash,
            chain_hash=chain_hash,
            seq=seq,
        )
        try:
            data = json.loads(self.files[tree_size].read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ChainBroken(
                ChainBreak(
                    "checkpoint_malformed",
                    gettext("チェックポイント(件数 %(size)s)のファイルを読めません") % {"size": tree_size},
                    seq,
                )
            ) from exc
        if not isinstance(data, dict):
            raise ChainBroken(
                ChainBreak(
                    "checkpoint_malformed",
                    gettext("チェックポイント(件数 %(size)s)のファイルが不正です") % {"size": tree_size},
                    seq,
                )
            )
        self._check_checkpoint(
            data,
            where=gettext("チェックポイント(件数 %(size)s, ファイル)") % {"size": tree_size},
            tree_size=tree_size,
            root_hash=root_hash,
            chain_hash=chain_hash,
            seq=seq,
        )


def chain_verify(
    *, checkpoint_dir: Path | None = None, chunk_size: int = DEFAULT_CHUNK, since: VerifiedPoint | None = None
) -> VerificationReport:
    """Verify the whole log; the report names the first break, if any. Reads only.

    With ``since`` (a checkpoint an earlier run proved), only what was added after it is read: its
    links must continue that checkpoint's hash, its checkpoints must extend that checkpoint's tree
    (frontier carried over, and the RFC 6962 proof from it to the newest checkpoint must hold). The
    events before it are not read again: a change among them is for the full run, or a witness, to find.
    """
    report = VerificationReport(
        pending=AuditPending.objects.count(), since_tree_size=since.tree_size if since else 0
    )
    index = _CheckpointIndex(Path(checkpoint_dir or settings.AUDIT_CHECKPOINT_DIR))
    report.key_ids = index.key_ids_seen
    if index.sizes:
        report.last_checkpoint_size = index.sizes[-1]
    try:
        if index.stray_files:
            raise ChainBroken(
                ChainBreak(
                    "checkpoint_malformed",
                    gettext("不明なチェックポイントファイル: %(name)s") % {"name": index.stray_files[0].name},
                )
            )
        _verify(report, index, chunk_size=chunk_size, since=since)
        _verify_consistency_proofs(since=since)
    except ChainBroken as broken:
        report.first_break = broken.problem
    return report


def _verify(
    report: VerificationReport, index: _CheckpointIndex, *, chunk_size: int, since: VerifiedPoint | None
) -> None:
    start = since.tree_size if since else 0
    expected_seq, running_hash = start + 1, since.chain_hash if since else GENESIS_HASH
    frontier = MerkleFrontier.from_json(since.frontier) if since else MerkleFrontier()
    if since is not None:
        _check_still_there(since)
    pending_sizes = iter([size for size in index.sizes if size > start])
    next_size = next(pending_sizes, None)
    for chunk in chain_links(after_seq=start, chunk_size=chunk_size):
        digests: list[bytes] = []
        expected_seq, running_hash = check_links(
            chunk, expected_seq=expected_seq, running_hash=running_hash, digests=digests
        )
        # The links of a checked chunk have consecutive seqs: the one of digests[i] is base + i.
        base, added = chunk[0][0], 0
        while next_size is not None and next_size < base + len(digests):
            if next_size < base:
                # A checkpoint at a size the stream already passed: only possible for size 0.
                raise ChainBroken(
                    ChainBreak(
                        "checkpoint_malformed",
                        gettext("件数 %(size)s のチェックポイントは不正です") % {"size": next_size},
                    )
                )
            frontier.extend(digests[added : next_size - base + 1])
            added = next_size - base + 1
            chain_hash = chunk[next_size - base][2]
            root_hash = frontier.root().hex()
            index.check(tree_size=next_size, root_hash=root_hash, chain_hash=chain_hash)
            report.checkpoints_checked += 1
            report.verified_point = VerifiedPoint(next_size, root_hash, chain_hash, frontier.to_json())
            next_size = next(pending_sizes, None)
        frontier.extend(digests[added:])
        report.events_checked += len(chunk)
    chained = expected_seq - 1
    if next_size is not None:
        raise ChainBroken(
            ChainBreak(
                "tail_removed",
                gettext("連番 %(seq)s 以降が失われています(チェックポイントは %(size)s 件を証明しています)")
                % {"seq": chained + 1, "size": next_size},
                seq=chained + 1,
            )
        )
    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    if head is not None and head[0] > chained:
        raise ChainBroken(
            ChainBreak(
                "tail_removed",
                gettext("連番 %(seq)s 以降が失われています(チェーン先頭は連番 %(head)s)")
                % {"seq": chained + 1, "head": head[0]},
                seq=chained + 1,
            )
        )
    if head is not None and head != (chained, running_hash) and chained > 0:
        raise ChainBroken(
            ChainBreak(
                "head_mismatch",
                gettext("チェーン先頭が連番 %(seq)s と一致しません") % {"seq": chained},
                seq=chained,
            )
        )
    orphan = (
        AuditEvent.objects.filter(link__isnull=True)
        .exclude(pk__in=AuditPending.objects.values("event_id"))
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if orphan is not None:
        raise ChainBroken(
            ChainBreak(
                "event_unchained",
                gettext("イベントID %(event_id)s がチェーンにも未連結の待ち行列にもありません")
                % {"event_id": orphan},
                event_id=orphan,
            )
        )


def verification_run_execute(*, run_id: int) -> AuditVerificationRun | None:
    """Run a verification asked for on the chain page, store its result and record ``audit.verify``.

    Returns None when the run was not waiting (already claimed: a duplicate delivery of the task).
    """
    Status = AuditVerificationRun.Status
    # Claim with a conditional UPDATE: of two deliveries of the same task, only one gets the row.
    claimed = AuditVerificationRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    run = AuditVerificationRun.objects.select_related("requested_by").get(pk=run_id)
    try:
        # The break's message is translated when it is built: word it in the language of the
        # auditor who asked, who reads it on the chain page.
        with translation.override(run.language):
            report = chain_verify()
        problem = report.first_break
        run.status = Status.OK if problem is None else Status.BROKEN
        run.finished_at = timezone.now()
        run.events_checked = report.events_checked
        run.checkpoints_checked = report.checkpoints_checked
        run.pending = report.pending
        run.key_ids = list(report.key_ids)
        if problem is not None:
            run.break_code = problem.code
            run.break_seq = problem.seq
            run.break_event_id = problem.event_id
            run.break_message = problem.message
        with transaction.atomic():
            run.save()
            audit_record(
                actor=Actor.user(run.requested_by, kind=AuditEvent.ActorKind.AUDITOR),
                action="audit.verify",
                outcome=AuditEvent.Outcome.SUCCESS if problem is None else AuditEvent.Outcome.FAILURE,
                reason=problem.code if problem else "",
                payload={
                    "events_checked": report.events_checked,
                    "checkpoints_checked": report.checkpoints_checked,
                    "break_seq": problem.seq if problem and problem.seq is not None else 0,
                },
            )
    except Exception as exc:
        # Only the exception's class: its text could carry data the run row must not keep.
        AuditVerificationRun.objects.filter(pk=run_id).update(
            status=Status.ERROR, finished_at=timezone.now(), break_code=type(exc).__name__[:64]
        )
        raise
    return run


def _check_still_there(since: VerifiedPoint) -> None:
    """The checkpoint a --since-last run joins must still be in the database as it was proven."""
    stored = (
        AuditCheckpoint.objects.filter(tree_size=since.tree_size)
        .values_list("root_hash", "chain_hash")
        .first()
    )
    if stored != (since.root_hash, since.chain_hash):
        raise ChainBroken(
            ChainBreak(
                "checkpoint_replaced",
                gettext("前回検証したチェックポイント(件数 %(size)s)が失われたか、書き換えられています")
                % {"size": since.tree_size},
                seq=since.tree_size,
            )
        )


def _verify_consistency_proofs(*, since: VerifiedPoint | None) -> None:
    """Each checkpoint against the one before it, with the RFC 6962 proof the server would give a
    witness: the stored subtree hashes behind those proofs must agree with the verified roots.
    From a ``since`` point, the checkpoints after it, the first joined to it."""
    checkpoints = AuditCheckpoint.objects.order_by("tree_size")
    if since is not None:
        checkpoints = checkpoints.filter(tree_size__gt=since.tree_size)
    heads = list(checkpoints.values_list("tree_size", "root_hash"))
    if since is not None:
        heads.insert(0, (since.tree_size, since.root_hash))
    for (first, first_root), (second, second_root) in itertools.pairwise(heads):
        try:
            proof = consistency_proof_between(first=first, second=second)
        except ProofUnavailable:
            proof = None
        if proof is None or not consistency_proof_verify(
            first=first,
            second=second,
            first_hash=bytes.fromhex(first_root),
            second_hash=bytes.fromhex(second_root),
            proof=proof,
        ):
            raise ChainBroken(
                ChainBreak(
                    "checkpoint_inconsistent",
                    gettext("件数 %(first)s から %(second)s への整合性証明が成り立ちません")
                    % {"first": first, "second": second},
                    seq=second,
                )
            )
