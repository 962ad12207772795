# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`attributes:` of the collection's modules: `sqlvm.backup.attributes` for modules that change state,
`sqlvm.backup.attributes.info_module` for read-only ones."""

from __future__ import annotations


class ModuleDocFragment:
    # Modules that change state: full check mode (reads happen, writes do not) and diff.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second run reports no change
        and sends no writes.
    support: full
  action_group:
    description: Use C(group/sqlvm.backup.azure) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - sqlvm.backup.azure
"""

    # Read-only modules.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
    details: This action does not modify state.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: N/A
    details: This action does not modify state.
  idempotent:
    description: Reading changes nothing, so repeated runs report no change.
    support: full
  action_group:
    description: Use C(group/sqlvm.backup.azure) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - sqlvm.backup.azure
"""
