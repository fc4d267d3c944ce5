"""Signed C2PA manifests on every output (c2pa-python), with this install's own signing credentials.

On first use a local CA and an ES256 end-entity certificate are created under ``$SYNTHVID_HOME/signing`` (default
``~/.config/synthvid/signing``; folder mode 0700, key files 0600). Users may bring their own key and certificate
chain with ``$SYNTHVID_SIGN_KEY`` / ``$SYNTHVID_SIGN_CERT`` (PEM files). The manifest says: action ``c2pa.created``
with digitalSourceType *trainedAlgorithmicMedia*, the synthvid job and its settings, SHA-256 hashes of the inputs,
the watermark's content id, and, when the user supplies a consent file, a consent assertion with its hash.

MP4/MOV, JPEG and PNG carry the manifest inside the file; other containers (MKV) get a signed sidecar
``<file>.c2pa`` that binds to the file's bytes by hash.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any

from synthvid import TOOL_NAME, __version__
from synthvid.errors import InputError, OutputError

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
EMBEDDED = {".mp4": "video/mp4", ".mov": "video/quicktime", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
            ".png": "image/png"}
SIDECAR = {".mkv": "video/x-matroska"}
SIDECAR_SUFFIX = ".c2pa"
CONSENT_MAX_BYTES = 64 * 1024


def home() -> Path:
    base = os.environ.get("SYNTHVID_HOME")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path.home() / ".config") / "synthvid"


@dataclasses.dataclass(frozen=True)
class Credentials:
    chain_pem: bytes  # end-entity certificate first, then its issuers
    key_pem: bytes
    serial: int  # of the end-entity certificate
    own: bool  # True: created by this install


def _write_private(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _create_credentials(folder: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    host = os.uname().nodename if hasattr(os, "uname") else "local"
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{TOOL_NAME} local CA ({host})"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{TOOL_NAME} install")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{TOOL_NAME} signer ({host})"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{TOOL_NAME} install")])
    leaf = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    # the CA key is only needed to make the signer: it is not kept
    _write_private(folder / "signer.key", key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()), 0o600)
    _write_private(folder / "ca.pem", ca.public_bytes(pem), 0o644)
    _write_private(folder / "chain.pem", leaf.public_bytes(pem) + ca.public_bytes(pem), 0o644)


def _serial(chain_pem: bytes) -> int:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(chain_pem)[0].serial_number
    except ValueError as e:
        raise InputError(f"signing certificate is not a PEM certificate chain: {e}") from None


def credentials() -> Credentials:
    """The user's key and chain if given by $SYNTHVID_SIGN_KEY/$SYNTHVID_SIGN_CERT, else this install's own."""
    key_env, cert_env = os.environ.get("SYNTHVID_SIGN_KEY"), os.environ.get("SYNTHVID_SIGN_CERT")
    if key_env or cert_env:
        if not (key_env and cert_env):
            raise InputError("set both SYNTHVID_SIGN_KEY and SYNTHVID_SIGN_CERT (PEM files), or neither")
        try:
            key, chain = Path(key_env).read_bytes(), Path(cert_env).read_bytes()
        except OSError as e:
            raise InputError(f"cannot read signing key/certificate: {e.strerror or e}") from None
        return Credentials(chain, key, _serial(chain), own=False)
    folder = home() / "signing"
    if not (folder / "signer.key").exists() or not (folder / "chain.pem").exists():
        try:
            _create_credentials(folder)
        except OSError as e:
            raise OutputError(f"cannot create signing credentials in {folder}: {e.strerror or e}") from None
    chain = (folder / "chain.pem").read_bytes()
    return Credentials(chain, (folder / "signer.key").read_bytes(), _serial(chain), own=True)


def own_serial() -> int | None:
    """Serial number of this install's signer, if it has one (used to say "signed by this install")."""
    chain = home() / "signing" / "chain.pem"
    try:
        return _serial(chain.read_bytes())
    except (OSError, InputError):
        return None


# --------------------------------------------------------------------------------------------------- building


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def consent_assertion(path: str | os.PathLike) -> dict[str, Any]:
    """The consent file as an assertion: its hash, and its content (JSON as is, text as a string)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read consent file {p}: {e.strerror or e}") from None
    if len(data) > CONSENT_MAX_BYTES:
        raise InputError(f"consent file {p} is larger than {CONSENT_MAX_BYTES // 1024} KiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"consent file {p} is not UTF-8 text or JSON") from None
    if not text.strip():
        raise InputError(f"consent file {p} is empty: write who consented, to what, and when")
    try:
        content: Any = json.loads(text)
    except (ValueError, RecursionError) as e:
        if p.suffix.lower() == ".json" or text.lstrip()[:1] == "{":  # meant as JSON but broken: say so
            raise InputError(f"consent file {p} looks like JSON but does not parse "
                             f"({str(e).splitlines()[0][:80] if str(e) else type(e).__name__})") from None
        content = text  # a plain statement, e.g. "[2026-11-01] Ann agreed ..."
    return {"file": p.name, "sha256": hashlib.sha256(data).hexdigest(), "statement": content}


def build_manifest(job: str, settings: dict[str, Any], inputs: tuple[str, ...], synthetic: bool,
                   watermark: dict[str, Any] | None, consent: dict[str, Any] | None, title: str) -> dict[str, Any]:
    hashed = []
    for i in inputs:
        entry: dict[str, Any] = {"name": os.path.basename(str(i))}
        if os.path.isfile(i):
            entry["sha256"] = sha256_file(i)
            entry["bytes"] = os.path.getsize(i)
        hashed.append(entry)
    action: dict[str, Any] = {
        "action": "c2pa.created",
        "softwareAgent": {"name": TOOL_NAME, "version": __version__},
        "parameters": {"synthvid_job": job},
    }
    if synthetic:
        action["digitalSourceType"] = DIGITAL_SOURCE_TYPE
    else:  # face crops and the like: derived from real footage, not generated
        action["digitalSourceType"] = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    assertions: list[dict[str, Any]] = [
        {"label": "c2pa.actions.v2", "data": {"actions": [action]}},
        {"label": "org.synthvid.job", "data": {
            "job": job, "synthetic": synthetic, "settings": json.loads(json.dumps(settings, default=str)),
            "inputs": hashed, "watermark": watermark or {}}},
    ]
    if consent is not None:
        assertions.append({"label": "org.synthvid.consent", "data": consent})
    return {"claim_generator_info": [{"name": TOOL_NAME, "version": __version__}], "title": title,
            "assertions": assertions}


def _strict_json(value: Any) -> Any:
    """``value`` with what strict JSON (the C2PA library's parser) refuses made printable: file names that are not
    valid UTF-8 (Python keeps their bytes as lone surrogates) get U+FFFD for the bad bytes, and NaN or infinite
    numbers become strings."""
    if isinstance(value, str):
        try:
            raw = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a surrogate that is not an escaped byte
            raw = value.encode("utf-8", "surrogatepass")
        return raw.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_strict_json(k): _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return value


def _signer(creds: Credentials) -> Any:
    import c2pa

    info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=creds.chain_pem, private_key=creds.key_pem, ta_url=None)
    try:
        return c2pa.Signer.from_info(info)
    except Exception as e:  # noqa: BLE001 - the native library raises its own error types
        raise InputError(f"cannot use the signing key/certificate: {str(e).splitlines()[0]}") from None


@functools.lru_cache(maxsize=1)
def _context() -> Any:
    """No thumbnail in the manifest: the C2PA library would decode and re-encode every image for one (~55 ms a face
    crop, against ~2 ms for the signature), and a thumbnail of the output adds nothing to what the output shows."""
    import c2pa

    return c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}}})


def sign(src: Path, dst: Path, final_name: str, manifest: dict[str, Any]) -> bytes | None:
    """Sign ``src`` (written by synthvid) into ``dst``; for sidecar formats ``dst`` is a plain copy and the
    manifest bytes are returned for the caller to store as ``<final>.c2pa``."""
    import c2pa

    suffix = Path(final_name).suffix.lower()
    mime = EMBEDDED.get(suffix) or SIDECAR.get(suffix)
    if mime is None:
        raise OutputError(f"cannot sign a {suffix} file")
    builder = c2pa.Builder(json.dumps(_strict_json(manifest), allow_nan=False), context=_context())
    sidecar = suffix in SIDECAR
    if sidecar:
        builder.set_no_embed()
    try:
        with open(src, "rb") as fin, open(dst, "w+b") as fout:
            data = builder.sign(_signer(credentials()), mime, fin, fout)
    except c2pa.C2paError as e:
        raise OutputError(f"cannot sign {final_name}: {str(e).splitlines()[0]}") from None
    return bytes(data) if sidecar else None


# --------------------------------------------------------------------------------------------------- reading


@dataclasses.dataclass
class ManifestCheck:
    state: str  # "valid", "invalid" (tampered or broken), "absent"
    signer: str | None = None
    issuer: str | None = None
    signed_by_this_install: bool = False
    trusted: bool = False  # the signer chains to a public C2PA trust list (never true for local keys)
    failures: list[str] = dataclasses.field(default_factory=list)
    assertions: dict[str, Any] = dataclasses.field(default_factory=dict)
    sidecar: str | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check(path: str | os.PathLike) -> ManifestCheck:
    """Read and validate the manifest of a file (embedded, or in ``<file>.c2pa``)."""
    import c2pa

    p = Path(path)
    suffix = p.suffix.lower()
    side = p.with_name(p.name + SIDECAR_SUFFIX)
    try:
        has_sidecar = side.is_file()
    except OSError:  # e.g. the name plus ".c2pa" is longer than the file system allows: there is no sidecar
        has_sidecar = False
    mime = EMBEDDED.get(suffix) or SIDECAR.get(suffix)
    try:
        if has_sidecar:
            with open(p, "rb") as f:
                reader = c2pa.Reader(mime or "application/octet-stream", f, manifest_data=side.read_bytes())
                report = json.loads(reader.json())
        elif mime is None or suffix in SIDECAR:
            return ManifestCheck("absent", detail=f"no embedded manifest in {suffix or 'this'} files and no sidecar")
        else:
            with open(p, "rb") as f:
                report = json.loads(c2pa.Reader(mime, f).json())
    except c2pa.C2paError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF" in msg or "ManifestNotFound" in msg:
            return ManifestCheck("absent", detail="no C2PA manifest")
        return ManifestCheck("invalid", failures=[msg], detail="the manifest could not be read")
    except (OSError, ValueError) as e:
        return ManifestCheck("invalid", failures=[str(e)], detail="the manifest could not be read")
    active = report.get("manifests", {}).get(report.get("active_manifest", ""), {})
    statuses = report.get("validation_status") or []
    codes = [s.get("code", "") for s in statuses]
    failures = [c for c in codes if c != "signingCredential.untrusted"]
    sig = active.get("signature_info", {}) or {}
    own = own_serial()
    serial = sig.get("cert_serial_number")
    out = ManifestCheck(
        state="valid" if report.get("validation_state") in ("Valid", "Trusted") and not failures else "invalid",
        signer=sig.get("common_name"), issuer=sig.get("issuer"),
        signed_by_this_install=own is not None and serial is not None and str(own) == str(serial),
        trusted=report.get("validation_state") == "Trusted", failures=failures,
        assertions={a.get("label"): a.get("data") for a in active.get("assertions", [])},
        sidecar=str(side) if has_sidecar else None)
    if out.state == "invalid":
        out.detail = "the file was changed after signing, or the manifest is damaged"
    return out
