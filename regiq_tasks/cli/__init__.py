"""The `regiq` command: `main.py` holds the command group, `support.py` the shared
option and error handling, `tables.py` the terminal/JSON listings. Nothing is imported
here, so a feature's commands (`regiq_tasks.alerts.cli`) can use the support modules."""
