"""Cost of signing and verifying one job: Ed25519 (the web's key) against the legacy shared HMAC key.

    .venv/bin/python -m bench.signing [N]

Signs and checks the envelope of a typical job (a `run` with ports and env) N times each, through the
same functions the web (bot.wire.payload.envelope) and a worker (bot.wire.payload.open_envelope) call. Pure CPU.
"""

from __future__ import annotations

import sys
import time

from bot.core.grammar import parse
from bot.core.policy import Actor
from bot.wire.payload import ReplyTo, envelope, new_payload, open_envelope
from bot.wire.signing import HmacKey, Signer, Verifier, generate, parse_signing_key, parse_verify_keys


def per_call(n: int, key: Signer, check: Verifier) -> tuple[float, float]:
    text = "run ghcr.io/acme/web:1.4.2 --name web -p 8080:3000 -e MODE=prod --memory 256m"
    p = new_payload("0" * 32, text, parse(text), Actor("U0OPS", "slash", "C0DEPLOY"), ReplyTo("C0DEPLOY"), "local")
    started = time.perf_counter()
    for _ in range(n):
        env = envelope(key, p)
    signed = time.perf_counter()
    for _ in range(n):
        open_envelope(check, env, p.id)
    checked = time.perf_counter()
    return (signed - started) / n * 1e6, (checked - signed) / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    secret, public = generate()
    _, other = generate()
    ed = parse_signing_key("S", secret)
    hmac_key = HmacKey(b"k" * 32)
    rows = [
        ("ed25519", *per_call(n, ed, parse_verify_keys("V", public))),
        (
            "ed25519, 2 verify keys (rotating; signed by the 2nd)",
            *per_call(n, ed, parse_verify_keys("V", f"{other},{public}")),
        ),
        ("hmac-sha256 (legacy)", *per_call(n, hmac_key, hmac_key)),
    ]
    print(f"{n} jobs each; microseconds per job (envelope = JSON canonicalisation + signature)")
    print(f"{'key':<56}{'sign':>10}{'verify':>10}")
    for name, sign_us, verify_us in rows:
        print(f"{name:<56}{sign_us:>10.1f}{verify_us:>10.1f}")


if __name__ == "__main__":
    main()
