"""textwash flows and command line: what runs, in what order, with which settings."""
