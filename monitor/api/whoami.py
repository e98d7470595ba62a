"""Who the bearer token is: its name and role (the web page shows or hides actions by it)."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, Schema, fields, validators

from regiq_tasks.history.tokens import Principal, Role
from regiq_tasks.monitor.api.auth import READ
from regiq_tasks.monitor.extensions import auth

bp = APIBlueprint("whoami", __name__, tag="Auth")


class WhoAmIOut(Schema):
    """The token's holder and what its role may do."""

    name = fields.String(required=True, metadata={
        "description": "recorded as requested_by of a cancel (the role for a "
                       "REGIQ_API_TOKENS token)"})
    role = fields.String(required=True, validate=validators.OneOf([r.value for r in Role]))
    roles = fields.List(fields.String(), required=True,
                        metadata={"description": "this role and every lower one"})
    can_cancel = fields.Boolean(required=True,
                                metadata={"description": "may cancel jobs and report progress"})


@bp.get("/auth/whoami")
@bp.auth_required(auth, roles=READ)
@bp.output(WhoAmIOut)
@bp.doc(summary="The token's name and role", responses=[503])
def whoami() -> dict[str, Any]:
    """Name and role of the token of this request."""
    principal = auth.current_user
    assert isinstance(principal, Principal)
    roles = principal.role.granted
    return {"name": principal.name, "role": principal.role.value, "roles": roles,
            "can_cancel": Role.OPERATOR.value in roles}
