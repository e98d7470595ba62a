"""``python -m regiq_tasks.cli``: the ``regiq`` command."""

from regiq_tasks.cli import main

main()
