"""The monitor app factory and its liveness probe."""

from monitor import create_app


def test_healthz_answers_without_a_token_and_without_details() -> None:
    client = create_app({"TESTING": True}).test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert client.get("/no-such-path").status_code == 404
