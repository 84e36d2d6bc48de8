"""`python -m bot` runs the `icpbot` command line."""

from bot.cli import main

main()
