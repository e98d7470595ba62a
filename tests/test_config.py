"""Settings: app config first, then environment, then defaults; bad values refused."""

import dataclasses
import os
import tempfile

import pytest

from regiq_tasks.config import Settings
from regiq_tasks.errors import ConfigurationError


def test_defaults_apply_without_configuration() -> None:
    s = Settings.from_sources({}, {})
    assert (s.key_prefix, s.progress_interval, s.live_ttl, s.lost_after) == \
        ("regiq:", 0.25, 3600.0, 60.0)
    assert s.effective_broker_url == s.redis_url == "redis://127.0.0.1:6379/0"


def test_the_environment_overrides_defaults_and_app_config_overrides_the_environment() -> None:
    env = {"REGIQ_KEY_PREFIX": "env:", "REGIQ_LOST_AFTER": "30", "REGIQ_LIVE_TTL": "10"}
    s = Settings.from_sources({"regiq_key_prefix": "app:"}, env)
    assert (s.key_prefix, s.lost_after, s.live_ttl) == ("app:", 30.0, 10.0)


def test_sampling_settings_default_to_5_s_an_hour_and_the_working_and_temp_dirs() -> None:
    s = Settings.from_sources({}, {})
    assert (s.sample_interval, s.worker_ttl) == (5.0, 3600.0)
    assert s.disk_path_list == tuple(dict.fromkeys([os.getcwd(), tempfile.gettempdir()]))
    named = Settings.from_sources({}, {"REGIQ_DISK_PATHS": " /data, /tmp ,,/data"})
    assert named.disk_path_list == ("/data", "/tmp")
    with pytest.raises(ConfigurationError, match="sample_interval"):
        Settings.from_sources({}, {"REGIQ_SAMPLE_INTERVAL": "0"})


def test_postgresql_urls_map_to_the_psycopg_driver() -> None:
    s = Settings.from_sources({}, {"REGIQ_DATABASE_URL": "postgresql://u@h/db"})
    assert s.sqlalchemy_url == "postgresql+psycopg://u@h/db"
    assert Settings(database_url="postgresql+psycopg://u@h/db").sqlalchemy_url == \
        "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("env, message", [
    ({"REGIQ_LOST_AFTER": "soon"}, "REGIQ_LOST_AFTER"),
    ({"REGIQ_PROGRESS_INTERVAL": "0"}, "progress_interval"),
    ({"REGIQ_AUTO_MIGRATE": "perhaps"}, "REGIQ_AUTO_MIGRATE"),
    ({"REGIQ_KEY_PREFIX": ""}, "key_prefix"),
])
def test_bad_values_raise_configuration_errors_naming_the_setting(env: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_sources({}, env)


# A value of each setting type as the environment spells it, and what it becomes.
_SPELLED = {"bool": ("no", False), "int": ("7", 7), "float": ("2.5", 2.5),
            "str": ("x:", "x:"), "str | None": ("x:", "x:")}
# ... and of the settings whose text is checked against a list of choices
_CHECKED = {"alert_job_slow": ("off", "off")}


def test_every_setting_is_read_from_the_environment_as_its_type() -> None:
    fields = dataclasses.fields(Settings)
    spelled = {f.name: _CHECKED.get(f.name) or _SPELLED[str(f.type)] for f in fields}
    s = Settings.from_sources({}, {f"REGIQ_{name.upper()}": text
                                   for name, (text, _) in spelled.items()})
    assert {f.name: getattr(s, f.name) for f in fields} == \
        {name: value for name, (_, value) in spelled.items()}


def test_app_config_values_keep_their_python_types() -> None:
    s = Settings.from_sources({"regiq_auto_migrate": False, "regiq_events_maxlen": 5,
                               "regiq_live_ttl": 10}, {"REGIQ_AUTO_MIGRATE": "yes"})
    assert (s.auto_migrate, s.events_maxlen, s.live_ttl) == (False, 5, 10.0)
    assert isinstance(s.live_ttl, float)
