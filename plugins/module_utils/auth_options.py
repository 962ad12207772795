# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The values the authentication options' argument spec needs, apart from auth.py: every module
builds the spec, but only tasks that talk to Azure need auth.py itself (compiled anew per task)."""

AUTH_SOURCES = ("auto", "credentials", "env", "msi", "cli", "workload_identity")
DEFAULT_TIMEOUT = 300
