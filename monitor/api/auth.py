"""Bearer-token authentication and role checks, wired onto the bare ``auth`` object."""

from __future__ import annotations

from regiq_tasks.history.tokens import Principal, Role
from regiq_tasks.monitor.context import current_context
from regiq_tasks.monitor.extensions import auth

READ = [Role.VIEWER.value]  # every role may read
WRITE = [Role.OPERATOR.value]  # operator and admin: cancel, progress, resolve


@auth.verify_token
def _verify(token: str) -> Principal | None:
    return current_context().authenticate(token)


@auth.get_user_roles
def _roles(principal: Principal) -> list[str]:
    return principal.role.granted


def principal_name() -> str:
    """The name of the token of the current request (``requested_by`` of a cancel)."""
    principal = auth.current_user
    assert isinstance(principal, Principal)
    return principal.name
