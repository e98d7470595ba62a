"""Default Celery configuration of the bundled ``regiq_tasks`` app.

Every value comes from the regiq settings, which read the environment
(``REGIQ_BROKER_URL``, ``REGIQ_RESULT_BACKEND``, ``REGIQ_REDIS_URL``, ...): see README.
"""

from regiq_tasks.config import Settings

_settings = Settings.from_env()

broker_url = _settings.effective_broker_url
result_backend = _settings.effective_result_backend
broker_transport_options = _settings.sentinel_transport_options(broker_url)
result_backend_transport_options = _settings.sentinel_transport_options(result_backend)
result_expires = 86_400
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True
task_default_queue = "celery"
task_routes = {
    "regiq_tasks.alerts.*": {"queue": _settings.alert_queue},
    "regiq_tasks.demo.*": {"queue": "regiq-demo"},  # the demo worker consumes this queue
}
worker_send_task_events = True
task_send_sent_event = True
task_track_started = False
broker_connection_retry_on_startup = True
