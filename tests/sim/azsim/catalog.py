"""Fixed catalogues of the real cloud: Azure built-in roles, Entra directory role templates and
Microsoft Graph application roles, with their well-known ids.

Sources: Azure built-in roles (learn.microsoft.com/azure/role-based-access-control/built-in-roles,
one page per role with its JSON); Entra built-in roles (learn.microsoft.com/entra/identity/role-based-
access-control/permissions-reference, "Template ID"); Graph permissions reference
(learn.microsoft.com/graph/permissions-reference, application permission ids).
"""

BLOB = "Microsoft.Storage/storageAccounts/blobServices/containers"

# id: (roleName, description, actions, notActions, dataActions, notDataActions)
AZURE_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": (
        "Owner", "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        ["*"], [], [], []),
    "b24988ac-6180-42a0-ab88-20f7382dd24c": (
        "Contributor", "Grants full access to manage all resources, but does not allow you to assign roles in "
        "Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        ["*"], ["Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
                "Microsoft.Authorization/elevateAccess/Action", "Microsoft.Blueprint/blueprintAssignments/write",
                "Microsoft.Blueprint/blueprintAssignments/delete", "Microsoft.Compute/galleries/share/action",
                "Microsoft.Purview/consents/write", "Microsoft.Purview/consents/delete",
                "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
                "Microsoft.Subscription/cancel/action", "Microsoft.Subscription/enable/action"], [], []),
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": (
        "Reader", "View all resources, but does not allow you to make any changes.", ["*/read"], [], [], []),
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": (
        "User Access Administrator", "Lets you manage user access to Azure resources.",
        ["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"], [], [], []),
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": (
        "Role Based Access Control Administrator", "Manage access to Azure resources by assigning roles using "
        "Azure RBAC. This role does not allow you to manage access using other ways, such as Azure Policy.",
        ["Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete",
         "*/read", "Microsoft.Support/*"], [], [], []),
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": (
        "Storage Blob Data Contributor", "Read, write, and delete Azure Storage containers and blobs.",
        [BLOB + "/delete", BLOB + "/read", BLOB + "/write",
         "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"], [],
        [BLOB + "/blobs/delete", BLOB + "/blobs/read", BLOB + "/blobs/write", BLOB + "/blobs/move/action",
         BLOB + "/blobs/add/action"], []),
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": (
        "Storage Blob Data Owner", "Provides full access to Azure Storage blob containers and data, including "
        "assigning POSIX access control.",
        [BLOB + "/*", "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"], [],
        [BLOB + "/blobs/*"], []),
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": (
        "Storage Blob Data Reader", "Read and list Azure Storage containers and blobs.",
        [BLOB + "/read", "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"], [],
        [BLOB + "/blobs/read"], []),
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": (
        "Storage Account Contributor", "Permits management of storage accounts.",
        ["Microsoft.Authorization/*/read", "Microsoft.Insights/alertRules/*", "Microsoft.Insights/diagnosticSettings/*",
         "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
         "Microsoft.ResourceHealth/availabilityStatuses/read", "Microsoft.Resources/deployments/*",
         "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.Storage/storageAccounts/*",
         "Microsoft.Support/*"], [], [], []),
    "9980e02c-c2be-4d73-94e8-173b1dc7cf3c": (
        "Virtual Machine Contributor", "Create and manage virtual machines, manage disks, install and run "
        "software, reset password of the root user of the virtual machine using VM extensions, and manage local "
        "user accounts using VM extensions.",
        ["Microsoft.Authorization/*/read", "Microsoft.Compute/availabilitySets/*", "Microsoft.Compute/locations/*",
         "Microsoft.Compute/virtualMachines/*", "Microsoft.Compute/virtualMachineScaleSets/*",
         "Microsoft.Compute/disks/write", "Microsoft.Compute/disks/read", "Microsoft.Compute/disks/delete",
         "Microsoft.Network/*/read", "Microsoft.Resources/deployments/*",
         "Microsoft.Resources/subscriptions/resourceGroups/read", "Microsoft.SqlVirtualMachine/*",
         "Microsoft.Storage/storageAccounts/listKeys/action", "Microsoft.Storage/storageAccounts/read",
         "Microsoft.Support/*"], [], [], []),
    "f1a07417-d97a-45cb-824c-7a7467783830": (
        "Managed Identity Operator", "Read and Assign User Assigned Identity",
        ["Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
         "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.Authorization/*/read",
         "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
         "Microsoft.Resources/deployments/*", "Microsoft.Support/*"], [], [], []),
    "e40ec5ca-96e0-45a2-b4ff-59039f2c2b59": (
        "Managed Identity Contributor", "Create, Read, Update, and Delete User Assigned Identity",
        ["Microsoft.ManagedIdentity/userAssignedIdentities/read",
         "Microsoft.ManagedIdentity/userAssignedIdentities/write",
         "Microsoft.ManagedIdentity/userAssignedIdentities/delete", "Microsoft.Authorization/*/read",
         "Microsoft.Insights/alertRules/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
         "Microsoft.Resources/deployments/*", "Microsoft.Support/*"], [], [], []),
}
AZURE_ROLE_BY_NAME = {v[0].lower(): k for k, v in AZURE_ROLES.items()}

# Entra built-in directory roles: template id → (displayName, description)
DIRECTORY_ROLES = {
    "62e90394-69f5-4237-9190-012177145e10": ("Global Administrator",
                                             "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."),
    "88d8e3e3-8f55-4a1e-953a-9b9898b8876b": ("Directory Readers",
                                             "Can read basic directory information. Commonly used to grant directory read access to applications and guests."),
    "e8611ab8-c189-46e8-94e1-60213ab1f814": ("Privileged Role Administrator",
                                             "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management."),
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": ("Global Reader",
                                             "Can read everything that a Global Administrator can, but not update anything."),
    "9360feb5-f418-4baa-8175-e2a00bac4301": ("Directory Writers",
                                             "Can read and write basic directory information. For granting access to applications, not intended for users."),
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": ("Application Administrator",
                                             "Can create and manage all aspects of app registrations and enterprise apps."),
    "158c047a-c907-4556-b7ef-446551a6b5f7": ("Cloud Application Administrator",
                                             "Can create and manage all aspects of app registrations and enterprise apps except App Proxy."),
    "fe930be7-5e62-47db-91af-98c3a49a38b1": ("User Administrator",
                                             "Can manage all aspects of users and groups, including resetting passwords for limited admins."),
}
DIRECTORY_ROLE_BY_NAME = {v[0].lower(): k for k, v in DIRECTORY_ROLES.items()}
DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
# Roles that include reading users, groups and applications.
DIRECTORY_READ_ROLES = {DIRECTORY_READERS, "62e90394-69f5-4237-9190-012177145e10",
                        "f2ef992c-3afb-46b9-b7cf-a126ee74c451", "9360feb5-f418-4baa-8175-e2a00bac4301"}
# Roles allowed to manage directory role assignments (Graph roleManagement writes).
ROLE_ADMIN_ROLES = {"62e90394-69f5-4237-9190-012177145e10", "e8611ab8-c189-46e8-94e1-60213ab1f814"}
APP_ROLE_ADMIN_ROLES = ROLE_ADMIN_ROLES | {
    "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "158c047a-c907-4556-b7ef-446551a6b5f7"}

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Microsoft Graph application permissions: value → id
GRAPH_APP_ROLES = {
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "RoleManagement.Read.Directory": "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
    "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
    "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
}
# The three app roles azure-cli's `az sql vm validate-azure-ad-auth` accepts instead of Directory Readers.
DIRECTORY_READ_APP_ROLES = {"User.Read.All", "GroupMember.Read.All", "Application.Read.All"}
GRAPH_READ_APP_ROLES = {"Directory.Read.All", "Application.Read.All", "User.Read.All",
                        "GroupMember.Read.All", "RoleManagement.Read.Directory",
                        "RoleManagement.ReadWrite.Directory", "Application.ReadWrite.All"}
GRAPH_APP_ROLES["GroupMember.ReadWrite.All"] = "dbaae8cf-10b5-4b86-a4a1-f871c94c6695"
