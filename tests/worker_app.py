"""The app a prefork worker subprocess of the tests runs (configured by environment)."""

import os

from tests.appfactory import create_app

app = create_app(os.environ["REGIQ_TEST_PREFIX"], os.environ["REGIQ_TEST_REDIS_URL"],
                 os.environ["REGIQ_TEST_DATABASE_URL"],
                 broker_url=os.environ.get("REGIQ_TEST_BROKER_URL") or None,
                 lost_after=float(os.environ.get("REGIQ_TEST_LOST_AFTER", "60")),
                 cancel_grace=float(os.environ.get("REGIQ_TEST_CANCEL_GRACE", "10")))
