"""Duties that run inside every worker under a Redis lease: the archiver, the lost-job
reaper, live-store expiry and the duties features add."""
