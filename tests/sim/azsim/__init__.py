"""The Azure side of the sqlvm.backup test world (see tests/sim/README.md and world.py)."""
