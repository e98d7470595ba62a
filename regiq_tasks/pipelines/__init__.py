"""A pipeline as one: its plan recorded at publish, its jobs and graph, its summary."""
