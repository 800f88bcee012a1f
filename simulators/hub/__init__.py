"""A stand-alone simulator of the Hugging Face Hub's read API, for tests and offline demos.

It imports nothing of the panel. Start it with `python -m simulators.hub`; in tests use
`HubServer(SimState(store=RepoStore(tiny_manifest(), Fraction(1), HashCache(None))))`.
"""
