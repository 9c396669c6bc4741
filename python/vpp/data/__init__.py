"""Data files shipped with vpp (read them through :mod:`importlib.resources`)."""
