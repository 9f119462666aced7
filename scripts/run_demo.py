"""`make run`: the demo on embedded defaults (SQLite and folders under var/, no Redis needed).

Migrates, seeds a demo population once, creates demo logins, then runs the web server and a Celery
worker with an embedded beat (the periodic sync) side by side until Ctrl-C. The Celery broker is
kombu's filesystem transport under var/celery-broker, so no message server is needed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = os.environ.get("DEMO_HOST", "127.0.0.1")
PORT = os.environ.get("DEMO_PORT", "8000")
RESIDENTS = os.environ.get("DEMO_RESIDENTS", "2000")


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SAGA_ENV", "development")
    # Demo and training: always open, so the kiosk can be tried at any hour (SPEC §2 allows it).
    env.setdefault("KONBINI_SERVICE_HOURS", "00:00-24:00")
    env.setdefault("KIOSK_SIMULATOR_ENABLED", "1")
    # The demo accounts sign in with their password alone; STAFF_OTP_REQUIRED=1 make run asks them
    # for a TOTP code, and each enrols with a QR code at its first sign-in (README, Quick start).
    env.setdefault("STAFF_OTP_REQUIRED", "0")
    return env


def ensure_demo_logins(var_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """Create the demo accounts once; their passwords live in var/demo-logins.json (not in the repo)."""
    logins_file = var_dir / "demo-logins.json"
    if logins_file.exists():
        return json.loads(logins_file.read_text(encoding="utf-8"))
    logins = {name: secrets.token_urlsafe(12) for name in ("admin", "clerk", "supervisor", "auditor")}
    manage("demo_logins", "--passwords-json", json.dumps(logins), env=env)
    logins_file.write_text(json.dumps(logins, indent=2), encoding="utf-8")
    logins_file.chmod(0o600)
    return logins


def main() -> int:
    env = demo_env()
    var_dir = Path(env.get("KONBINI_VAR_DIR", ROOT / "var"))
    cards_dir = var_dir / "cards"
    for folder in (var_dir, var_dir / "celery-broker" / "queue", var_dir / "celery-broker" / "processed"):
        folder.mkdir(parents=True, exist_ok=True)

    manage("migrate", "--no-input", "-v", "0", env=env)
    if not (cards_dir / "terminal.json").exists():
        print(
            f"Seeding the demo population ({RESIDENTS} residents); this takes about a minute the first time…"
        )
        manage("seed_demo", "--residents", RESIDENTS, "--cards", str(cards_dir), "--seed", "41201", env=env)
    logins = ensure_demo_logins(var_dir, env)

    worker = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "celery",
            "-A",
            "saga_konbini",
            "worker",
            "-B",
            # The demo's one worker also signs the audit checkpoints (their own queue in production).
            "-Q",
            "celery,audit-signing",
            "--concurrency",
            "1",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
    )
    server = subprocess.Popen(
        [PYTHON, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"], cwd=ROOT, env=env
    )
    base = f"http://{HOST}:{PORT}"
    some_card = next(iter(sorted(cards_dir.glob("ok-*.json"))), None)
    print(
        "\n".join(
            [
                "",
                "佐賀市 証明書コンビニ交付 — demo is running (Ctrl-C to stop)",
                f"  Admin (clerks):        {base}/admin/",
                f"  Audit (auditors):      {base}/audit/",
                f"  Public verification:   {base}/verify/",
                f"  Browser kiosk:         {base}/kiosk-simulator/",
                f"  Kiosk API (OpenAPI):   {base}/api/kiosk/v1/schema/",
                f"  Health:                {base}/healthz  {base}/readyz",
                "  Logins (user / password):",
                *[f"    {name:<11} {password}" for name, password in logins.items()],
                "  TOTP code at login:    "
                + (
                    "required (each account enrols with a QR code at its first login)"
                    if env["STAFF_OTP_REQUIRED"].strip().lower() in ("1", "true", "yes", "on")
                    else "off (STAFF_OTP_REQUIRED=1 make run to require it)"
                ),
                f"  Card files:            {cards_dir}  (terminal token: {cards_dir / 'terminal.json'})",
                "  Command-line kiosk:    .venv/bin/python manage.py kiosk --server "
                f"{base} --token-file {cards_dir / 'terminal.json'} --card {some_card or '<card file>'}",
                "  New core-system changes: .venv/bin/python manage.py core_sim changes --count 50"
                "  (the worker applies them within SYNC_BEAT_SECONDS, or run: manage.py sync_run)",
                "",
            ]
        ),
        flush=True,
    )

    def stop(*_: object) -> None:
        for process in (server, worker):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    try:
        while server.poll() is None and worker.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for process in (server, worker):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
