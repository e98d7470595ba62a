"""``python -m regiq_tasks.cli``: the ``regiq`` command."""

from regiq_tasks.cli.main import main

main()
