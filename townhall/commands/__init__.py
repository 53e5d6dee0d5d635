"""The `townhall` subcommands, one module each: its parser setup and its run function."""
