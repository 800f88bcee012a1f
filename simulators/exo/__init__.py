"""A stand-alone simulator of an exo cluster: exo's HTTP API on one port, plus /_sim controls.

Run it with ``python -m simulators.exo``. It imports nothing of the panel.
"""
