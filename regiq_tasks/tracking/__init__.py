"""Tracking a job in the worker: the task base class, lifecycle transitions, the
per-process runtime and services, and the background writer."""
