"""`python -m bot` runs the `icpbot` command line."""

from bot.cli.main import main

main()
