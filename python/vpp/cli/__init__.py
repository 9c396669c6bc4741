"""The ``vpp`` command line: one module per subcommand."""
