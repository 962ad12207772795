"""Always On availability groups across the world's instances ("Always On availability groups", "Offload
supported backups to secondary replicas of an availability group", "sys.fn_hadr_backup_is_preferred_replica").

Each replica VM's `sql:` subtree names the group and its own part (README.md, "Availability groups"):

    availability_group: {name: ag-sql, role: primary, backup_priority: 50,
                         automated_backup_preference: secondary, databases: [appdb]}

The group's settings (preference, databases) come from the primary's subtree. The availability databases of
the replicas are one object: a change or a backup on one replica is seen on every replica, and log backups
taken on any replica form one log chain, as the documents say. msdb stays per instance.
"""
from __future__ import annotations

import threading
import uuid

PREFERENCES = {"PRIMARY": 0, "SECONDARY_ONLY": 1, "SECONDARY": 2, "NONE": 3}


class AvailabilityGroup:
    def __init__(self, name, preference, databases):
        self.name = name
        self.group_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "sim-ag:" + name)).upper()
        self.preference = preference
        self.databases = {d.lower() for d in databases}
        self.replicas = []    # Replica

    def primary(self):
        return next((r for r in self.replicas if r.role == "PRIMARY"), None)

    def preferred_replica(self):
        """The replica the automated backup preference and the backup priorities choose (priority 0: never);
        every replica of the world is online and connected."""
        candidates = [r for r in self.replicas if r.backup_priority > 0]
        secondaries = [r for r in candidates if r.role == "SECONDARY"]
        if self.preference == "PRIMARY":
            candidates = [r for r in candidates if r.role == "PRIMARY"]
        elif self.preference == "SECONDARY_ONLY":
            candidates = secondaries
        elif self.preference == "SECONDARY":
            candidates = secondaries or candidates
        if not candidates:
            return None
        return sorted(candidates, key=lambda r: (-r.backup_priority, r.server_name.lower()))[0]


class Replica:
    def __init__(self, group, instance, role, backup_priority):
        self.group = group
        self.instance = instance
        self.role = role
        self.backup_priority = backup_priority
        self.replica_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim-ag:{group.name}:{instance.vm_key}")).upper()

    @property
    def server_name(self):
        return self.instance.catalog.server_name


def link_availability_groups(instances):
    """Build the groups from the instances' `availability_group` subtrees and share the availability
    databases (and one statement lock) between the replicas. Called after start and after every reset."""
    specs = {}
    for inst in instances:
        spec = inst.spec.get("availability_group")
        if spec:
            specs.setdefault(str(spec["name"]), []).append((inst, spec))
    for name, members in specs.items():
        primary = next((i for i, s in members if str(s.get("role", "secondary")).upper() == "PRIMARY"), None)
        if primary is None:
            raise ValueError(f"availability group {name}: no replica has role: primary")
        pspec = primary.spec["availability_group"]
        group = AvailabilityGroup(name, str(pspec.get("automated_backup_preference", "secondary")).upper(),
                                  pspec.get("databases", []))
        if group.preference not in PREFERENCES:
            raise ValueError(f"availability group {name}: automated_backup_preference must be one of "
                             f"{', '.join(p.lower() for p in PREFERENCES)}")
        lock = getattr(primary, "group_lock", None) or threading.RLock()
        for inst, spec in members:
            replica = Replica(group, inst, str(spec.get("role", "secondary")).upper(),
                              int(spec.get("backup_priority", 50)))
            group.replicas.append(replica)
            inst.catalog.replica = replica
            inst.lock = inst.group_lock = lock
        for inst, _spec in members:
            if inst is primary:
                continue
            for db_name in group.databases:
                shared = primary.catalog.databases.get(db_name)
                if shared is None:
                    raise ValueError(f"availability group {name}: the primary has no database {db_name}")
                inst.catalog.databases[db_name] = shared


def replica_of(catalog):
    return getattr(catalog, "replica", None)


def in_group(catalog, db_name):
    replica = replica_of(catalog)
    return replica is not None and db_name.lower() in replica.group.databases


def is_preferred_backup_replica(catalog, db_name):
    if db_name is None or db_name.lower() not in catalog.databases:
        # SQL Server 2019 CU20 and 2022 CU2 on: 0 for a database that does not exist; earlier builds: 1
        major, _minor, build = catalog.version_tuple
        return 0 if (major, build) >= (16, 4015) or major > 16 or (major == 15 and build >= 4312) else 1
    if not in_group(catalog, db_name):
        return 1
    replica = replica_of(catalog)
    return int(replica.group.preferred_replica() is replica)
