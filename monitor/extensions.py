"""The monitor's Flask extensions, created bare and bound to an app in ``create_app``."""

from __future__ import annotations

from apiflask import HTTPTokenAuth
from flask_socketio import SocketIO

socketio = SocketIO()
auth = HTTPTokenAuth(scheme="Bearer", description=(
    "A token from REGIQ_API_TOKENS or `regiq token create`; roles viewer < operator < admin."))
