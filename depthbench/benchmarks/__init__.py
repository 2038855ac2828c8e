"""The `depthbench` command line: one subcommand module per area, registered in `cli.COMMAND_MODULES`."""
