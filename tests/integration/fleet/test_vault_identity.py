"""playbooks/vault_identity.yml: a Recovery Services vault gets its identity and role grant (Microsoft Learn "Managed
identities for Azure Backup vaults")."""


def test_vault_identity_check_then_converge_then_nothing_to_do(fleet):
    state = fleet.admin.state()
    account = state["storage_accounts"]["stsqlbackup01"]["id"]
    vaults = {"vault_identity_vaults": [{"resource_group": "rg-sql", "name": "rsv-sql", "role_assignments": [
        {"role": "Storage Blob Data Contributor", "scope": account}]}]}

    check = fleet.play("vault_identity.yml", check=True, diff=True, extra_vars=vaults)
    assert check.rc == 0, check
    assert check.writes == []
    assert check.recap["localhost"]["changed"] == 2  # the identity, and the grant that waits for it

    run = fleet.play("vault_identity.yml", extra_vars=vaults)
    assert run.rc == 0, run
    principal = run.tasks(action="backup_vault_identity")[0]["result"]["results"][0]["principal_id"]
    assert principal
    grants = [a for a in fleet.admin.state()["role_assignments"]
              if a["principalId"] == principal and a["scope"].lower() == account.lower()]
    assert len(grants) == 1

    again = fleet.play("vault_identity.yml", extra_vars=vaults)
    assert again.rc == 0 and again.recap["localhost"]["changed"] == 0, again
    assert again.writes == []
