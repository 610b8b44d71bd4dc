"""The relay host behind the sandbox Dovecot's submission service: just enough SMTP to take a message and hand
it to `dovecot-lda`, so a message one agent submits lands in the recipient's Maildir (any recipient accepted)."""

from __future__ import annotations

import socketserver
import subprocess
from pathlib import Path


class _SmtpSinkHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Dovecot's submission relay: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        server: SmtpSink = self.server  # type: ignore[assignment]
        self._reply("220 azt3knet-sandbox-relay ESMTP")
        sender, recipients = "", []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250-azt3knet-sandbox-relay\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES")
            elif verb == "MAIL":
                sender, recipients = _angle(line), []
                self._reply("250 2.1.0 OK")
            elif verb == "RCPT":
                recipients.append(_angle(line))
                self._reply("250 2.1.5 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                body = bytearray()
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    body += chunk[1:] if chunk.startswith(b"..") else chunk
                failed = [r for r in recipients if not server.deliver(sender, r, bytes(body))]
                self._reply("451 4.3.0 local delivery failed" if failed else "250 2.0.0 delivered")
                sender, recipients = "", []
            elif verb == "RSET":
                sender, recipients = "", []
                self._reply("250 2.0.0 OK")
            elif verb == "NOOP":
                self._reply("250 2.0.0 OK")
            elif verb == "QUIT":
                self._reply("221 2.0.0 Bye")
                return
            else:
                self._reply("502 5.5.2 command not implemented")


def _angle(line: str) -> str:
    start, end = line.find("<"), line.find(">")
    return line[start + 1 : end] if 0 <= start < end else ""


class SmtpSink(socketserver.ThreadingTCPServer):
    """The relay host of the sandbox Dovecot's submission service: delivers with `dovecot-lda`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, config_path: Path, lda_binary: str) -> None:
        super().__init__(("127.0.0.1", port), _SmtpSinkHandler)
        self.config_path = config_path
        self.lda_binary = lda_binary

    def deliver(self, sender: str, recipient: str, message: bytes) -> bool:
        result = subprocess.run(
            [self.lda_binary, "-c", str(self.config_path), "-d", recipient, "-f", sender or "MAILER-DAEMON"],
            input=message,
            capture_output=True,
            timeout=30,
        )
        return result.returncode == 0
