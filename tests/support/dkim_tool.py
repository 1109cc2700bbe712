"""DKIM for squall's tests, with libraries squall does not use: keys made by `cryptography`,
signatures checked by `dkimpy`, the public key handed to it through its DNS lookup hook.

    dkim_tool.py genkey rsa-pkcs1|rsa-pkcs8|ed25519 OUT.pem
    dkim_tool.py verify KEY.pem MESSAGE.eml   -> prints a JSON object: ok, queried, error
"""
import base64
import json
import sys

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def genkey(kind, out):
    if kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        form = serialization.PrivateFormat.PKCS8
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        form = {
            "rsa-pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
            "rsa-pkcs8": serialization.PrivateFormat.PKCS8,
        }[kind]
    pem = key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    with open(out, "wb") as f:
        f.write(pem)


def txt_record(pem):
    """The DNS TXT record (RFC 6376 §3.6.1, RFC 8463) that publishes the key's public half."""
    public = serialization.load_pem_private_key(pem, password=None).public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def verify(key_path, message_path):
    with open(key_path, "rb") as f:
        record = txt_record(f.read())
    with open(message_path, "rb") as f:
        message = f.read()
    queried = []

    def dnsfunc(name, timeout=5):
        queried.append(name.decode())
        return record

    result = {"ok": False, "queried": queried, "error": None}
    try:
        result["ok"] = bool(dkim.DKIM(message, minkey=1024).verify(dnsfunc=dnsfunc))
    except Exception as e:  # a verifier's refusal, reported to the test
        result["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1] == "genkey":
        genkey(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "verify":
        verify(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: dkim_tool.py genkey KIND OUT | verify KEY MESSAGE")
