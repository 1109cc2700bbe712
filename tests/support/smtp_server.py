"""A real SMTP server for squall's interop tests: aiosmtpd, on a free loopback port.

Prints the port on stdout once it listens. Each message it accepts is written to
OUT_DIR/<n>.json (atomically) with the envelope and Python's own parse of the MIME body,
so the tests check squall's output with a parser that squall did not write.
"""
import argparse
import asyncio
import base64
import email
import email.policy
import json
import os
import ssl

from aiosmtpd.smtp import SMTP, AuthResult


class Recorder:
    def __init__(self, out_dir, reject_prefix):
        self.out_dir = out_dir
        self.reject_prefix = reject_prefix
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_prefix and address.startswith(self.reject_prefix):
            return "550 5.1.1 <%s>: no such user here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.append({
                "content_type": part.get_content_type(),
                "filename": part.get_filename(),
                "bytes": base64.b64encode(part.get_payload(decode=True) or b"").decode(),
            })
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": [[k, str(v)] for k, v in msg.items()],
            "parts": parts,
            "raw": base64.b64encode(raw).decode(),
            "tls": session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
            "authenticated": bool(session.authenticated),
            "peer_port": session.peer[1],
        }
        path = os.path.join(self.out_dir, "%06d.json" % self.count)
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    p.add_argument("--auth", help="user:password that AUTH accepts; AUTH is then required")
    p.add_argument("--reject-prefix", help="refuse RCPT TO addresses that start with this")
    p.add_argument("--port", type=int, default=0, help="the port to listen on (0: a free one)")
    args = p.parse_args()

    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        user, password = args.auth.split(":", 1)
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False)

    kwargs = {"hostname": "aiosmtpd.test", "decode_data": False}
    if args.mode == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    if args.auth:
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)

    handler = Recorder(args.out, args.reject_prefix)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, loop=loop, **kwargs),
        "127.0.0.1", args.port,
        ssl=context if args.mode == "implicit" else None,
    ))
    print(server.sockets[0].getsockname()[1], flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
