"""The CMS container of the PDF signature, built from a template instead of by pyHanko per document.

Why: pyHanko builds the CMS SignedData (PAdES B-B: content-type, message-digest and
signing-certificate-v2 as signed attributes, the issuing certificate embedded) as asn1crypto
objects and serialises them for every signature, which cost about two thirds of a signature
(~20 ms of ~30 ms per certificate, bench/render.py). For one key nothing in that container changes
from one document to the next except two values: the document's digest inside the signed
attributes (always 32 bytes) and the ECDSA signature (70–72 bytes, so a few lengths change).

So the first signature of a process is made by pyHanko itself, exactly as before, and becomes the
template: its DER is cut around those two values. Every later signature fills them in and
re-encodes the lengths of the enclosing elements. The template is only used after it has proven
itself: re-assembling the first signature from the template must give pyHanko's bytes exactly,
and the signed attributes rebuilt from it must verify under the key; otherwise every signature
keeps going through pyHanko. The tests check the finished PDFs with pyHanko's validator.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import cms
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

SHA256_BYTES = 32
_SET_TAG = 0x31  # the signed attributes are signed as a DER SET OF, not as their [0] IMPLICIT form


def der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def der_element(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + der_length(len(content)) + content


@dataclass(frozen=True)
class CmsTemplate:
    """A signed PAdES CMS container cut around the document digest and the signature value."""

    attrs_before_digest: bytes  # the signed attributes' content up to the digest's value
    attrs_after_digest: bytes
    signer_info_head: bytes  # version, sid, digest algorithm
    signature_algorithm: bytes
    signed_data_head: bytes  # version, digest algorithms, encapsulated content info, certificates
    content_type: bytes  # the OID of signed-data

    @classmethod
    def from_signature(cls, content_info: cms.ContentInfo, *, digest: bytes) -> CmsTemplate | None:
        """Cut a container pyHanko made for ``digest``; None if it does not have the expected shape."""
        signed_data = content_info["content"]
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1 or signed_data["crls"].native is not None:
            return None
        signer_info = signer_infos[0]
        if signer_info["unsigned_attrs"].native is not None:
            return None
        attrs = signer_info["signed_attrs"].contents
        if len(digest) != SHA256_BYTES or attrs.count(digest) != 1:
            return None
        before, after = attrs.split(digest)
        return cls(
            attrs_before_digest=before,
            attrs_after_digest=after,
            signer_info_head=b"".join(
                signer_info[name].dump() for name in ("version", "sid", "digest_algorithm")
            ),
            signature_algorithm=signer_info["signature_algorithm"].dump(),
            signed_data_head=b"".join(
                signed_data[name].dump()
                for name in ("version", "digest_algorithms", "encap_content_info", "certificates")
            ),
            content_type=content_info["content_type"].dump(),
        )

    def signed_attributes(self, digest: bytes) -> bytes:
        """The DER the signature is computed over (the attributes as a SET OF)."""
        if len(digest) != SHA256_BYTES:
            raise ValueError("a SHA-256 digest is 32 bytes")
        return der_element(_SET_TAG, self.attrs_before_digest + digest + self.attrs_after_digest)

    def assemble(self, *, digest: bytes, signature: bytes) -> bytes:
        """The DER of the ContentInfo carrying ``signature`` over ``signed_attributes(digest)``."""
        attrs = self.attrs_before_digest + digest + self.attrs_after_digest
        signer_info = der_element(
            0x30,
            self.signer_info_head
            + der_element(0xA0, attrs)  # [0] IMPLICIT SignedAttributes
            + self.signature_algorithm
            + der_element(0x04, signature),
        )
        signed_data = der_element(0x30, self.signed_data_head + der_element(0x31, signer_info))
        return der_element(0x30, self.content_type + der_element(0xA0, signed_data))

    def proves_itself(
        self, original: cms.ContentInfo, *, digest: bytes, public_key: ec.EllipticCurvePublicKey
    ) -> bool:
        """True when the template rebuilds ``original`` byte for byte and its attributes verify."""
        signature = bytes(original["content"]["signer_infos"][0]["signature"].native)
        if self.assemble(digest=digest, signature=signature) != original.dump():
            return False
        try:
            public_key.verify(signature, self.signed_attributes(digest), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True
