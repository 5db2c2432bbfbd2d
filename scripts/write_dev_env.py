"""Write the local development .env (once): DEBUG on, a random SECRET_KEY, a demo admin password.

Runs before Django can start (settings need SECRET_KEY), so it uses only the standard library.
An existing file is left untouched.
"""

import secrets
import sys
from pathlib import Path

TEMPLATE = """\
# Local development configuration, written by `make run`. Not for production.
# Real environment variables win over this file; delete it to start afresh.
DEBUG=true
SECRET_KEY={secret_key}
# The demo admin account that `make run` creates (user "admin").
DEMO_ADMIN_PASSWORD={admin_password}
"""


def main(path: str) -> None:
    target = Path(path)
    if target.exists():
        return
    target.write_text(TEMPLATE.format(secret_key=secrets.token_urlsafe(50), admin_password=secrets.token_urlsafe(12)))
    target.chmod(0o600)
    print(f"Wrote {target} (local development settings).")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".env")
