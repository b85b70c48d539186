"""A real SMTP server for gantry's mail tests (aiosmtpd, PyPI): every mail into a maildir, over
plain SMTP, STARTTLS (required before anything else) or implicit TLS, and with AUTH required
(only after TLS) when a user and password are given.

    python smtp_server.py PORT MAILDIR [--starttls CERT KEY | --smtps CERT KEY] [--auth USER PASSWORD]
"""

import argparse
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("maildir")
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--smtps", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    args = parser.parse_args()

    def context(cert_key):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(*cert_key)
        return ctx

    smtp = {}
    if args.starttls:
        smtp.update(tls_context=context(args.starttls), require_starttls=True)
    if args.auth:
        user, password = (v.encode() for v in args.auth)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login == user and auth_data.password == password
            )
            return AuthResult(success=ok, handled=False)

        # aiosmtpd counts only STARTTLS as TLS for AUTH; on an implicit-TLS port every byte
        # is encrypted already, so it may offer AUTH from the start.
        smtp.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=not args.smtps,
        )

    controller = Controller(
        Mailbox(args.maildir),
        hostname="127.0.0.1",
        port=args.port,
        ssl_context=context(args.smtps) if args.smtps else None,
        **smtp,
    )
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
