#!/usr/bin/python3
"""A real SMTP server on loopback for tended's tests (aiosmtpd, Debian package python3-aiosmtpd).

Each accepted message is written to DIR/NNNN.eml, with its envelope in DIR/NNNN.json (sender,
recipients, whether the session used TLS, who authenticated). Recipients named with --reject are
refused with 550, like a mailbox that does not exist. With --cert/--key the server offers STARTTLS
and requires it (with --implicit-tls, TLS from the first byte instead); with --auth USER:PASS it
requires login (only over TLS).

Usage: smtp_server.py --port P --dir DIR [--cert C --key K] [--auth USER:PASS] [--reject ADDR]...
It prints "ready" once it accepts connections, and runs until killed.
"""

import argparse
import json
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Recorder:
    def __init__(self, directory, reject):
        self.directory = directory
        self.reject = {r.lower() for r in reject}
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            n = len([f for f in os.listdir(self.directory) if f.endswith(".eml")]) + 1
            base = os.path.join(self.directory, "%04d" % n)
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                # session.ssl is set by STARTTLS; an implicit-TLS transport carries its ssl_object.
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                "auth": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
            }
            with open(base + ".json.tmp", "w") as f:
                json.dump(meta, f)
            with open(base + ".eml.tmp", "wb") as f:
                f.write(envelope.original_content)
            os.rename(base + ".json.tmp", base + ".json")
            os.rename(base + ".eml.tmp", base + ".eml")
        return "250 Message accepted for delivery"


def main():
    warnings.simplefilter("ignore")
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth")
    p.add_argument("--reject", action="append", default=[])
    a = p.parse_args()

    kwargs = {}
    if a.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.cert, a.key)
        if a.implicit_tls:
            # TLS from the first byte (port 465 style).
            kwargs.update(ssl_context=ctx)
        else:
            kwargs.update(tls_context=ctx, require_starttls=True)
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            # handled=False: the server itself answers 535 to a bad login.
            return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

        # With implicit TLS the whole session is encrypted, but aiosmtpd only counts STARTTLS as TLS.
        kwargs.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=bool(a.cert) and not a.implicit_tls,
        )

    controller = Controller(
        Recorder(a.dir, a.reject), hostname="127.0.0.1", port=a.port, ready_timeout=10, **kwargs
    )
    controller.start()
    print("ready", flush=True)
    try:
        threading.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
