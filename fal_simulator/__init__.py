"""A local stand-in for fal.ai's queue API for Seedance 1.0 Pro Fast image-to-video.

Plain Python (Django is only needed for the `manage.py fal_simulator` adapter):
`from fal_simulator.server import FalSimulator`. See `server.py` for the protocol,
`faults.py` for the switches, `cli.py` for the command line.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FalSimulator", "Switches"]


def __getattr__(name: str) -> Any:
    # Lazy, so listing the app in INSTALLED_APPS does not import PyAV and the server.
    if name == "FalSimulator":
        from .server import FalSimulator

        return FalSimulator
    if name == "Switches":
        from .faults import Switches

        return Switches
    raise AttributeError(name)
