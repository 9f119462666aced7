"""The audit log's public face (SPEC §6): the newest signed tree head and consistency proofs, for
witnesses outside the city. No login, no personal data (audit/transparency.py says why none can
be in them), GET only, JSON."""

from __future__ import annotations

import base64

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from audit.transparency import ProofUnavailable, consistency_proof_between, tree_head_latest


@require_GET
def transparency_checkpoint(request: HttpRequest) -> JsonResponse:
    head = tree_head_latest()
    if head is None:
        return JsonResponse({"error": "no checkpoint has been signed yet"}, status=404)
    response = JsonResponse(head)
    # Witnesses poll it: never an old head from a cache on the way.
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def transparency_consistency(request: HttpRequest) -> JsonResponse:
    try:
        first = int(request.GET.get("first", ""))
        second = int(request.GET.get("second", ""))
    except ValueError:
        return JsonResponse({"error": "first and second must be whole numbers"}, status=400)
    try:
        proof = consistency_proof_between(first=first, second=second)
    except ProofUnavailable as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse(
        {
            "first": first,
            "second": second,
            "proof": [base64.b64encode(digest).decode("ascii") for digest in proof],
        }
    )
