"""Microsoft Graph v1.0 subset (learn.microsoft.com/graph/api/overview?view=graph-rest-1.0):
servicePrincipals (serviceprincipal-get/-list, $filter on appId/displayName/servicePrincipalNames),
directoryRoles and directoryRoleTemplates, roleManagement/directory/roleAssignments and
roleDefinitions (rbacapplication-list-roleassignments, -post-roleassignments, unifiedroleassignment-delete),
transitiveMemberOf / memberOf with the microsoft.graph.directoryRole / microsoft.graph.group casts,
appRoleAssignments / appRoleAssignedTo (serviceprincipal-post-approleassignments), users, groups and
members (group-post-members with $ref), directoryObjects/getByIds.

Paging with @odata.nextLink ($top, default page size from settings.graph_page_size), errors shaped as
Graph's ({"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}),
permissions as the pages' "Permissions" tables (application permissions or Entra directory roles).
"""
import base64
import re
import time
import urllib.parse
import uuid

from . import catalog
from .httpd import Response, Router
from .scenario import GUID_RE
from .tokens import TokenError

CONFLICT = "A conflicting object with one or more of the specified property values is present in the directory."


def graph_error(status, code, message, headers=None):
    return Response(status, {"error": {"code": code, "message": message, "innerError": {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4())}}}, headers)


class GraphError(Exception):
    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


def _fail(status, code, message):
    raise GraphError(graph_error(status, code, message))


def _not_found(oid):
    _fail(404, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property "
          "objects are not present." % oid)


def _iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts or 1736935200))


def parse_filter(text):
    """OData $filter subset: clauses joined by `and`: prop eq 'v', startswith(prop,'v'),
    servicePrincipalNames/any(x:x eq 'v'). Returns [(kind, prop, value)]."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        m = re.match(r"^(\w+)\s+eq\s+'((?:[^']|'')*)'$", part.strip(), re.I)
        if m:
            clauses.append(("eq", m.group(1), m.group(2).replace("''", "'")))
            continue
        m = re.match(r"^startswith\((\w+),\s*'((?:[^']|'')*)'\)$", part.strip(), re.I)
        if m:
            clauses.append(("startswith", m.group(1), m.group(2).replace("''", "'")))
            continue
        m = re.match(r"^(\w+)/any\((\w+):\s*\2\s+eq\s+'((?:[^']|'')*)'\)$", part.strip(), re.I)
        if m:
            clauses.append(("any", m.group(1), m.group(3).replace("''", "'")))
            continue
        _fail(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property "
              "'%s' of resource." % part.strip())
    return clauses


def apply_filter(items, clauses):
    def ok(item):
        for kind, prop, value in clauses:
            actual = item.get(prop)
            if kind == "eq":
                if isinstance(actual, bool):
                    if str(actual).lower() != value.lower():
                        return False
                elif actual is None or str(actual).lower() != value.lower():
                    return False
            elif kind == "startswith":
                if actual is None or not str(actual).lower().startswith(value.lower()):
                    return False
            elif kind == "any":
                if not any(str(v).lower() == value.lower() for v in actual or []):
                    return False
        return True
    return [i for i in items if ok(i)]


class GraphService:
    def __init__(self, sim):
        self.sim = sim
        self.world = sim.world
        r = self.router = Router()
        v = r"/v1\.0"
        oid = r"(?P<oid>[^/()]+)"
        cast = r"(?:/microsoft\.graph\.(?P<cast>directoryRole|group))?"
        sp = v + r"/servicePrincipals"
        r.add("GET", sp, self.list_sps, "/v1.0/servicePrincipals")
        r.add("GET", sp + r"\(appId='(?P<app>[^']*)'\)", self.get_sp_by_app, "/v1.0/servicePrincipals(appId='{appId}')")
        r.add("GET", sp + "/" + oid, self.get_sp, "/v1.0/servicePrincipals/{id}")
        for rel in ("transitiveMemberOf", "memberOf"):
            for coll in ("servicePrincipals", "users", "groups"):
                r.add("GET", v + "/" + coll + "/" + oid + "/" + rel + cast, self._member_of(rel == "transitiveMemberOf", coll),
                      "/v1.0/%s/{id}/%s" % (coll, rel))
        r.add("GET", sp + "/" + oid + r"/appRoleAssignments", self.list_app_role_assignments,
              "/v1.0/servicePrincipals/{id}/appRoleAssignments")
        r.add("POST", sp + "/" + oid + r"/appRoleAssignments", self.post_app_role_assignment,
              "/v1.0/servicePrincipals/{id}/appRoleAssignments")
        r.add("DELETE", sp + "/" + oid + r"/appRoleAssignments/(?P<aid>[^/]+)", self.delete_app_role_assignment,
              "/v1.0/servicePrincipals/{id}/appRoleAssignments/{appRoleAssignmentId}")
        r.add("GET", sp + "/" + oid + r"/appRoleAssignedTo", self.list_app_role_assigned_to,
              "/v1.0/servicePrincipals/{id}/appRoleAssignedTo")
        r.add("POST", sp + "/" + oid + r"/appRoleAssignedTo", self.post_app_role_assigned_to,
              "/v1.0/servicePrincipals/{id}/appRoleAssignedTo")
        r.add("DELETE", sp + "/" + oid + r"/appRoleAssignedTo/(?P<aid>[^/]+)", self.delete_app_role_assignment,
              "/v1.0/servicePrincipals/{id}/appRoleAssignedTo/{appRoleAssignmentId}")
        r.add("GET", v + r"/users", self.list_users, "/v1.0/users")
        r.add("GET", v + r"/users/" + oid, self.get_user, "/v1.0/users/{id}")
        r.add("GET", v + r"/groups", self.list_groups, "/v1.0/groups")
        r.add("GET", v + r"/groups/" + oid, self.get_group, "/v1.0/groups/{id}")
        r.add("GET", v + r"/groups/" + oid + r"/(?P<rel>members|transitiveMembers)", self.group_members,
              "/v1.0/groups/{id}/members")
        r.add("POST", v + r"/groups/" + oid + r"/members/\$ref", self.add_group_member, "/v1.0/groups/{id}/members/$ref")
        r.add("DELETE", v + r"/groups/" + oid + r"/members/(?P<member>[^/]+)/\$ref", self.remove_group_member,
              "/v1.0/groups/{id}/members/{memberId}/$ref")
        r.add("GET", v + r"/directoryRoles", self.list_directory_roles, "/v1.0/directoryRoles")
        r.add("POST", v + r"/directoryRoles", self.activate_directory_role, "/v1.0/directoryRoles")
        r.add("GET", v + r"/directoryRoles\(roleTemplateId='(?P<template>[^']*)'\)", self.get_directory_role_by_template,
              "/v1.0/directoryRoles(roleTemplateId='{roleTemplateId}')")
        r.add("GET", v + r"/directoryRoles/" + oid, self.get_directory_role, "/v1.0/directoryRoles/{id}")
        r.add("GET", v + r"/directoryRoles/" + oid + r"/members", self.directory_role_members,
              "/v1.0/directoryRoles/{id}/members")
        r.add("POST", v + r"/directoryRoles/" + oid + r"/members/\$ref", self.add_directory_role_member,
              "/v1.0/directoryRoles/{id}/members/$ref")
        r.add("GET", v + r"/directoryRoleTemplates", self.list_role_templates, "/v1.0/directoryRoleTemplates")
        r.add("GET", v + r"/directoryRoleTemplates/" + oid, self.get_role_template, "/v1.0/directoryRoleTemplates/{id}")
        rm = v + r"/roleManagement/directory"
        r.add("GET", rm + r"/roleDefinitions", self.list_role_definitions, "/v1.0/roleManagement/directory/roleDefinitions")
        r.add("GET", rm + r"/roleDefinitions/" + oid, self.get_role_definition,
              "/v1.0/roleManagement/directory/roleDefinitions/{id}")
        r.add("GET", rm + r"/roleAssignments", self.list_role_assignments, "/v1.0/roleManagement/directory/roleAssignments")
        r.add("POST", rm + r"/roleAssignments", self.post_role_assignment, "/v1.0/roleManagement/directory/roleAssignments")
        r.add("GET", rm + r"/roleAssignments/(?P<aid>[^/]+)", self.get_role_assignment,
              "/v1.0/roleManagement/directory/roleAssignments/{id}")
        r.add("DELETE", rm + r"/roleAssignments/(?P<aid>[^/]+)", self.delete_role_assignment,
              "/v1.0/roleManagement/directory/roleAssignments/{id}")
        r.add("GET", v + r"/directoryObjects/" + oid, self.get_directory_object, "/v1.0/directoryObjects/{id}")
        r.add("POST", v + r"/directoryObjects/getByIds", self.get_by_ids, "/v1.0/directoryObjects/getByIds", "read")

    # ------------------------------------------------------------------ pipeline
    def __call__(self, request):
        handler, params = self.router.match(request)
        if handler is None:
            if params:
                return graph_error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request "
                                   "target.")
            return graph_error(400, "BadRequest", "Resource not found for the segment '%s'." %
                               request.path.rstrip("/").rsplit("/", 1)[-1])
        try:
            self._authenticate(request)
            return handler(request, **params)
        except GraphError as exc:
            return exc.response

    def _authenticate(self, request):
        header = request.headers.get("Authorization") or ""
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            _fail(401, "InvalidAuthenticationToken", "Access token is empty.")
        graph = self.world.urls["graph"]
        try:
            request.principal = self.world.signer.verify(token, {graph, graph + "/"})
        except TokenError as exc:
            code = "InvalidAuthenticationToken"
            message = "Access token has expired or is not yet valid." if exc.code == "ExpiredAuthenticationToken" \
                else "Access token validation failure. Invalid audience." if "Audience" in exc.code \
                else "Access token validation failure."
            _fail(401, code, message)

    def _caller_can(self, request, app_roles, directory_roles):
        w = self.world
        oid = request.principal["oid"]
        obj = w.objects.get(oid)
        if obj is None:
            return False
        if obj["kind"] == "user" and app_roles is catalog.GRAPH_READ_APP_ROLES:
            return True  # default user permissions include reading the directory
        if w.graph_app_roles_of(oid) & set(app_roles):
            return True
        return bool(w.directory_roles_of(oid) & set(directory_roles))

    def _require_read(self, request):
        if not self._caller_can(request, catalog.GRAPH_READ_APP_ROLES,
                                catalog.DIRECTORY_READ_ROLES | catalog.APP_ROLE_ADMIN_ROLES |
                                {"fe930be7-5e62-47db-91af-98c3a49a38b1"}):
            _fail(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    def _require(self, request, app_roles, directory_roles):
        if not self._caller_can(request, app_roles, directory_roles):
            _fail(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")

    def _context(self, request, fragment):
        return "%s/v1.0/$metadata#%s" % (request.base_url, fragment)

    def _collection(self, request, items, fragment, odata_type=False):
        w = self.world
        select = request.query_ci.get("$select")
        if request.query_ci.get("$filter"):
            items = apply_filter(items, parse_filter(request.query_ci["$filter"]))
        if select:
            keys = [k.strip() for k in select.split(",") if k.strip()]
            items = [dict({k: i.get(k) for k in keys if k in i}, **({"@odata.type": i["@odata.type"]}
                                                                    if "@odata.type" in i else {})) for i in items]
        try:
            top = int(request.query_ci.get("$top") or w.settings.get("graph_page_size") or 100)
        except ValueError:
            _fail(400, "Request_BadRequest", "Invalid value for $top.")
        if top < 1 or top > 999:
            _fail(400, "Request_BadRequest", "Invalid page size specified: '%d'. Must be between 1 and 999 inclusive." % top)
        skip = int(request.query_ci.get("$skiptoken") or 0)
        body = {"@odata.context": self._context(request, fragment), "value": items[skip:skip + top]}
        if "$count" in request.query_ci and request.query_ci["$count"].lower() == "true":
            body["@odata.count"] = len(items)
        if skip + top < len(items):
            query = {k: v for k, v in request.query.items() if k.lower() != "$skiptoken"}
            query["$skiptoken"] = str(skip + top)
            body["@odata.nextLink"] = "%s%s?%s" % (request.base_url, urllib.parse.quote(request.path, safe="/()'=$"),
                                                   urllib.parse.urlencode(query))
        return Response(200, body)

    def _entity(self, request, item, fragment):
        select = request.query_ci.get("$select")
        if select:
            keys = [k.strip() for k in select.split(",")]
            item = {k: item.get(k) for k in keys if k in item}
        return Response(200, dict({"@odata.context": self._context(request, fragment)}, **item))

    # ------------------------------------------------------------------ shapes
    def _sp_shape(self, sp):
        return {
            "id": sp["id"], "deletedDateTime": None, "accountEnabled": sp.get("accountEnabled", True),
            "alternativeNames": list(sp["alternativeNames"]), "appDisplayName": sp.get("appDisplayName"),
            "appDescription": None, "appId": sp["appId"], "applicationTemplateId": None,
            "appOwnerOrganizationId": sp.get("appOwnerOrganizationId"), "appRoleAssignmentRequired": False,
            "createdDateTime": _iso(sp.get("created")), "description": None, "disabledByMicrosoftStatus": None,
            "displayName": sp["displayName"], "homepage": None, "loginUrl": None, "logoutUrl": None, "notes": None,
            "notificationEmailAddresses": [], "preferredSingleSignOnMode": None,
            "preferredTokenSigningKeyThumbprint": None, "replyUrls": [],
            "servicePrincipalNames": list(sp.get("servicePrincipalNames") or [sp["appId"]]),
            "servicePrincipalType": sp["servicePrincipalType"],
            "signInAudience": "AzureADMyOrg" if sp["servicePrincipalType"] == "Application" else None,
            "tags": [], "tokenEncryptionKeyId": None, "info": None, "samlSingleSignOnSettings": None,
            "addIns": [], "appRoles": list(sp.get("appRoles") or []), "keyCredentials": [],
            "oauth2PermissionScopes": [], "passwordCredentials": [], "resourceSpecificApplicationPermissions": [],
            "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None}}

    def _user_shape(self, user):
        first, _sep, last = user["displayName"].partition(" ")
        return {"businessPhones": [], "displayName": user["displayName"], "givenName": first, "jobTitle": None,
                "mail": user.get("mail"), "mobilePhone": None, "officeLocation": None, "preferredLanguage": None,
                "surname": last or None, "userPrincipalName": user["userPrincipalName"], "id": user["id"]}

    def _group_shape(self, group):
        return {"id": group["id"], "deletedDateTime": None, "classification": None,
                "createdDateTime": _iso(group.get("created")), "creationOptions": [],
                "description": group.get("description"), "displayName": group["displayName"],
                "expirationDateTime": None, "groupTypes": [], "isAssignableToRole": group.get("isAssignableToRole", False),
                "mail": None, "mailEnabled": False, "mailNickname": group["mailNickname"], "membershipRule": None,
                "membershipRuleProcessingState": None, "onPremisesDomainName": None, "onPremisesLastSyncDateTime": None,
                "onPremisesNetBiosName": None, "onPremisesSamAccountName": None, "onPremisesSecurityIdentifier": None,
                "onPremisesSyncEnabled": None, "preferredDataLocation": None, "preferredLanguage": None,
                "proxyAddresses": [], "renewedDateTime": _iso(group.get("created")), "resourceBehaviorOptions": [],
                "resourceProvisioningOptions": [], "securityEnabled": True,
                "securityIdentifier": "S-1-12-1-%d-%d-%d-%d" % tuple(
                    int.from_bytes(uuid.UUID(group["id"]).bytes_le[i:i + 4], "little") for i in (0, 4, 8, 12)),
                "theme": None, "visibility": "Private" if group.get("isAssignableToRole") else None,
                "onPremisesProvisioningErrors": [], "serviceProvisioningErrors": []}

    def _object_shape(self, obj):
        if obj["kind"] == "servicePrincipal":
            return dict({"@odata.type": "#microsoft.graph.servicePrincipal"}, **self._sp_shape(obj))
        if obj["kind"] == "user":
            return dict({"@odata.type": "#microsoft.graph.user"}, **self._user_shape(obj))
        return dict({"@odata.type": "#microsoft.graph.group"}, **self._group_shape(obj))

    def _directory_role_id(self, template):
        return str(uuid.uuid5(uuid.UUID(template), self.world.tenant_id))

    def _directory_role_shape(self, template):
        name, description = catalog.DIRECTORY_ROLES[template]
        return {"id": self._directory_role_id(template), "deletedDateTime": None, "description": description,
                "displayName": name, "roleTemplateId": template}

    def _template_of_role_id(self, role_id):
        for template in self.world.activated_roles:
            if self._directory_role_id(template) == role_id.lower():
                return template
        return None

    # ------------------------------------------------------------------ service principals
    def _object(self, oid, kind=None):
        obj = self.world.objects.get(oid.lower())
        if obj is None and kind == "user":
            obj = next((o for o in self.world.objects.values() if o["kind"] == "user"
                        and o["userPrincipalName"].lower() == oid.lower()), None)
        if obj is None or (kind and obj["kind"] != kind):
            if not GUID_RE.match(oid) and kind != "user":
                _fail(400, "Request_BadRequest", "Invalid object identifier '%s'." % oid)
            _not_found(oid)
        return obj

    def list_sps(self, request):
        self._require_read(request)
        with self.world.lock:
            items = [self._sp_shape(o) for o in self.world.objects.values() if o["kind"] == "servicePrincipal"]
        return self._collection(request, items, "servicePrincipals")

    def get_sp(self, request, oid):
        self._require_read(request)
        with self.world.lock:
            return self._entity(request, self._sp_shape(self._object(oid, "servicePrincipal")),
                                "servicePrincipals/$entity")

    def get_sp_by_app(self, request, app):
        self._require_read(request)
        with self.world.lock:
            oid = self.world.sp_by_app.get(app.lower())
            if oid is None:
                _not_found(app)
            return self._entity(request, self._sp_shape(self.world.objects[oid]), "servicePrincipals/$entity")

    def _member_of(self, transitive, collection):
        kind = {"servicePrincipals": "servicePrincipal", "users": "user", "groups": "group"}[collection]

        def handler(request, oid, cast=None):
            self._require_read(request)
            w = self.world
            with w.lock:
                obj = self._object(oid, kind)
                if transitive:
                    groups = w.group_ids_of(obj["id"])
                else:
                    groups = {g["id"] for g in w.objects.values() if g["kind"] == "group" and obj["id"] in g["members"]}
                items = []
                if cast in (None, "group"):
                    items += [dict({"@odata.type": "#microsoft.graph.group"}, **self._group_shape(w.objects[g]))
                              for g in sorted(groups)]
                if cast in (None, "directoryRole"):
                    templates = w.directory_roles_of(obj["id"], transitive=transitive)
                    items += [dict({"@odata.type": "#microsoft.graph.directoryRole"}, **self._directory_role_shape(t))
                              for t in sorted(templates) if t in w.activated_roles]
            fragment = "directoryRoles" if cast == "directoryRole" else "groups" if cast == "group" else "directoryObjects"
            return self._collection(request, items, fragment)
        return handler

    # ------------------------------------------------------------------ app role assignments
    def _ara_shape(self, a):
        return dict(a)

    def list_app_role_assignments(self, request, oid):
        self._require_read(request)
        w = self.world
        with w.lock:
            obj = self._object(oid, "servicePrincipal")
            items = [self._ara_shape(a) for a in w.app_role_assignments.values() if a["principalId"] == obj["id"]]
        return self._collection(request, items, "servicePrincipals('%s')/appRoleAssignments" % oid)

    def list_app_role_assigned_to(self, request, oid):
        self._require_read(request)
        w = self.world
        with w.lock:
            obj = self._object(oid, "servicePrincipal")
            items = [self._ara_shape(a) for a in w.app_role_assignments.values() if a["resourceId"] == obj["id"]]
        return self._collection(request, items, "servicePrincipals('%s')/appRoleAssignedTo" % oid)

    def _create_ara(self, request, expected_principal=None, expected_resource=None):
        w = self.world
        self._require(request, {"AppRoleAssignment.ReadWrite.All"}, catalog.APP_ROLE_ADMIN_ROLES)
        body = request.json() or {}
        for field in ("principalId", "resourceId", "appRoleId"):
            if not body.get(field):
                _fail(400, "Request_BadRequest", "The request is missing the required property '%s'." % field)
            if not GUID_RE.match(str(body[field])):
                _fail(400, "Request_BadRequest", "Invalid value specified for property '%s' of resource "
                      "'AppRoleAssignment'." % field)
        principal, resource, role = (str(body[f]).lower() for f in ("principalId", "resourceId", "appRoleId"))
        if expected_principal and principal != expected_principal:
            _fail(400, "Request_BadRequest", "The principalId in the body must match the service principal in the URL.")
        if expected_resource and resource != expected_resource:
            _fail(400, "Request_BadRequest", "The resourceId in the body must match the service principal in the URL.")
        with w.lock:
            if principal not in w.objects:
                _not_found(principal)
            res = w.objects.get(resource)
            if res is None or res["kind"] != "servicePrincipal":
                _not_found(resource)
            if role not in {r["id"] for r in res.get("appRoles") or []}:
                _fail(400, "Request_BadRequest", "Permission being assigned was not found on application '%s'." %
                      res["appId"])
            for a in w.app_role_assignments.values():
                if a["principalId"] == principal and a["resourceId"] == resource and a["appRoleId"] == role:
                    _fail(400, "Request_BadRequest", "Permission being assigned already exists on the object")
            created = w.add_app_role_assignment(principal, resource, role)
            return Response(201, dict({"@odata.context": self._context(request, "appRoleAssignments/$entity")},
                                      **self._ara_shape(created)))

    def post_app_role_assignment(self, request, oid):
        with self.world.lock:
            obj = self._object(oid, "servicePrincipal")
        return self._create_ara(request, expected_principal=obj["id"])

    def post_app_role_assigned_to(self, request, oid):
        with self.world.lock:
            obj = self._object(oid, "servicePrincipal")
        return self._create_ara(request, expected_resource=obj["id"])

    def delete_app_role_assignment(self, request, oid, aid):
        w = self.world
        self._require(request, {"AppRoleAssignment.ReadWrite.All"}, catalog.APP_ROLE_ADMIN_ROLES)
        with w.lock:
            obj = self._object(oid, "servicePrincipal")
            a = w.app_role_assignments.get(aid)
            if a is None or obj["id"] not in (a["principalId"], a["resourceId"]):
                _not_found(aid)
            del w.app_role_assignments[aid]
        return Response(204)

    # ------------------------------------------------------------------ users and groups
    def list_users(self, request):
        self._require_read(request)
        with self.world.lock:
            items = [self._user_shape(o) for o in self.world.objects.values() if o["kind"] == "user"]
        return self._collection(request, items, "users")

    def get_user(self, request, oid):
        self._require_read(request)
        with self.world.lock:
            return self._entity(request, self._user_shape(self._object(oid, "user")), "users/$entity")

    def list_groups(self, request):
        self._require_read(request)
        with self.world.lock:
            items = [self._group_shape(o) for o in self.world.objects.values() if o["kind"] == "group"]
        return self._collection(request, items, "groups")

    def get_group(self, request, oid):
        self._require_read(request)
        with self.world.lock:
            return self._entity(request, self._group_shape(self._object(oid, "group")), "groups/$entity")

    def group_members(self, request, oid, rel):
        self._require_read(request)
        w = self.world
        with w.lock:
            group = self._object(oid, "group")
            ids = w.group_members(group["id"], transitive=(rel == "transitiveMembers"))
            items = [self._object_shape(w.objects[m]) for m in ids if m in w.objects]
        return self._collection(request, items, "directoryObjects")

    def _ref_target(self, request):
        body = request.json() or {}
        ref = body.get("@odata.id") or ""
        m = re.search(r"/([0-9a-fA-F-]{36})/?$", ref)
        if not m:
            _fail(400, "Request_BadRequest", "Invalid URL format specified in @odata.id.")
        return m.group(1).lower()

    def _require_group_write(self, request, group):
        if group.get("isAssignableToRole"):
            self._require(request, {"RoleManagement.ReadWrite.Directory"}, catalog.ROLE_ADMIN_ROLES)
        else:
            self._require(request, {"GroupMember.ReadWrite.All", "RoleManagement.ReadWrite.Directory"},
                          catalog.ROLE_ADMIN_ROLES | {"fe930be7-5e62-47db-91af-98c3a49a38b1"})

    def add_group_member(self, request, oid):
        w = self.world
        with w.lock:
            group = self._object(oid, "group")
            self._require_group_write(request, group)
            member = self._ref_target(request)
            if member not in w.objects:
                _not_found(member)
            if member in group["members"]:
                _fail(400, "Request_BadRequest", "One or more added object references already exist for the "
                      "following modified properties: 'members'.")
            group["members"].append(member)
        return Response(204)

    def remove_group_member(self, request, oid, member):
        w = self.world
        with w.lock:
            group = self._object(oid, "group")
            self._require_group_write(request, group)
            if member.lower() not in group["members"]:
                _not_found(member)
            group["members"].remove(member.lower())
        return Response(204)

    # ------------------------------------------------------------------ directory roles
    def list_directory_roles(self, request):
        self._require_read(request)
        items = [self._directory_role_shape(t) for t in sorted(self.world.activated_roles)]
        return self._collection(request, items, "directoryRoles")

    def get_directory_role(self, request, oid):
        self._require_read(request)
        template = self._template_of_role_id(oid)
        if template is None:
            _not_found(oid)
        return self._entity(request, self._directory_role_shape(template), "directoryRoles/$entity")

    def get_directory_role_by_template(self, request, template):
        self._require_read(request)
        if template.lower() not in self.world.activated_roles:
            _not_found(template)
        return self._entity(request, self._directory_role_shape(template.lower()), "directoryRoles/$entity")

    def activate_directory_role(self, request):
        self._require(request, {"RoleManagement.ReadWrite.Directory"}, catalog.ROLE_ADMIN_ROLES)
        template = str((request.json() or {}).get("roleTemplateId", "")).lower()
        if template not in catalog.DIRECTORY_ROLES:
            _fail(400, "Request_BadRequest", "Invalid roleTemplateId.")
        if template in self.world.activated_roles:
            _fail(400, "Request_BadRequest", CONFLICT)
        self.world.activated_roles.add(template)
        return Response(201, dict({"@odata.context": self._context(request, "directoryRoles/$entity")},
                                  **self._directory_role_shape(template)))

    def directory_role_members(self, request, oid):
        self._require_read(request)
        w = self.world
        template = self._template_of_role_id(oid)
        if template is None:
            _not_found(oid)
        with w.lock:
            ids = [a["principalId"] for a in w.dir_role_assignments.values() if a["roleDefinitionId"] == template]
            items = [self._object_shape(w.objects[i]) for i in ids if i in w.objects]
        return self._collection(request, items, "directoryObjects")

    def add_directory_role_member(self, request, oid):
        template = self._template_of_role_id(oid)
        if template is None:
            _not_found(oid)
        member = self._ref_target(request)
        return self._assign_directory_role(request, member, template, legacy=True)

    def list_role_templates(self, request):
        self._require_read(request)
        items = [{"id": t, "deletedDateTime": None, "description": d, "displayName": n}
                 for t, (n, d) in sorted(catalog.DIRECTORY_ROLES.items())]
        return self._collection(request, items, "directoryRoleTemplates")

    def get_role_template(self, request, oid):
        self._require_read(request)
        if oid.lower() not in catalog.DIRECTORY_ROLES:
            _not_found(oid)
        name, description = catalog.DIRECTORY_ROLES[oid.lower()]
        return self._entity(request, {"id": oid.lower(), "deletedDateTime": None, "description": description,
                                      "displayName": name}, "directoryRoleTemplates/$entity")

    # ------------------------------------------------------------------ unified role management
    def _role_definition_shape(self, template):
        name, description = catalog.DIRECTORY_ROLES[template]
        return {"id": template, "description": description, "displayName": name, "isBuiltIn": True,
                "isEnabled": True, "resourceScopes": ["/"], "templateId": template, "version": "1",
                "rolePermissions": [{"allowedResourceActions": ["microsoft.directory/users/standard/read"]
                                     if template == catalog.DIRECTORY_READERS else [], "condition": None}]}

    def list_role_definitions(self, request):
        self._require_read(request)
        items = [self._role_definition_shape(t) for t in sorted(catalog.DIRECTORY_ROLES)]
        return self._collection(request, items, "roleManagement/directory/roleDefinitions")

    def get_role_definition(self, request, oid):
        self._require_read(request)
        if oid.lower() not in catalog.DIRECTORY_ROLES:
            _not_found(oid)
        return self._entity(request, self._role_definition_shape(oid.lower()),
                            "roleManagement/directory/roleDefinitions/$entity")

    def _ra_shape(self, a):
        return {"id": a["id"], "principalId": a["principalId"], "directoryScopeId": a["directoryScopeId"],
                "roleDefinitionId": a["roleDefinitionId"], "appScopeId": None}

    def list_role_assignments(self, request):
        self._require_read(request)
        if not request.query_ci.get("$filter"):
            _fail(400, "Request_UnsupportedQuery", "A filter on principalId, roleDefinitionId or directoryScopeId "
                  "is required when listing role assignments.")
        with self.world.lock:
            items = [self._ra_shape(a) for a in self.world.dir_role_assignments.values()]
        return self._collection(request, items, "roleManagement/directory/roleAssignments")

    def get_role_assignment(self, request, aid):
        self._require_read(request)
        a = self.world.dir_role_assignments.get(aid)
        if a is None:
            _not_found(aid)
        return self._entity(request, self._ra_shape(a), "roleManagement/directory/roleAssignments/$entity")

    def post_role_assignment(self, request):
        body = request.json() or {}
        for field in ("principalId", "roleDefinitionId", "directoryScopeId"):
            if not body.get(field):
                _fail(400, "Request_BadRequest", "The request is missing the required property '%s'." % field)
        if body["directoryScopeId"] != "/":
            _fail(400, "Request_BadRequest", "Only the tenant-wide directory scope '/' is supported here.")
        template = str(body["roleDefinitionId"]).lower()
        if template not in catalog.DIRECTORY_ROLES:
            _fail(404, "Request_ResourceNotFound", "The role definition '%s' was not found." % template)
        return self._assign_directory_role(request, str(body["principalId"]).lower(), template)

    def _assign_directory_role(self, request, principal, template, legacy=False):
        w = self.world
        self._require(request, {"RoleManagement.ReadWrite.Directory"}, catalog.ROLE_ADMIN_ROLES)
        with w.lock:
            obj = w.objects.get(principal)
            if obj is None:
                _not_found(principal)
            if obj["kind"] == "group" and not obj.get("isAssignableToRole"):
                _fail(400, "Request_BadRequest", "The group '%s' is not role-assignable: only groups created with "
                      "isAssignableToRole = true can be assigned Microsoft Entra roles." % principal)
            for a in w.dir_role_assignments.values():
                if a["principalId"] == principal and a["roleDefinitionId"] == template:
                    _fail(400, "Request_BadRequest", CONFLICT)
            aid = base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes).decode().rstrip("=") + "-1"
            w.dir_role_assignments[aid] = {"id": aid, "principalId": principal, "roleDefinitionId": template,
                                           "directoryScopeId": "/"}
            w.activated_roles.add(template)
            if legacy:
                return Response(204)
            return Response(201, dict({"@odata.context": self._context(
                request, "roleManagement/directory/roleAssignments/$entity")}, **self._ra_shape(w.dir_role_assignments[aid])))

    def delete_role_assignment(self, request, aid):
        self._require(request, {"RoleManagement.ReadWrite.Directory"}, catalog.ROLE_ADMIN_ROLES)
        with self.world.lock:
            if aid not in self.world.dir_role_assignments:
                _not_found(aid)
            del self.world.dir_role_assignments[aid]
        return Response(204)

    # ------------------------------------------------------------------ directory objects
    def get_directory_object(self, request, oid):
        self._require_read(request)
        with self.world.lock:
            return self._entity(request, self._object_shape(self._object(oid)), "directoryObjects/$entity")

    def get_by_ids(self, request):
        self._require_read(request)
        body = request.json() or {}
        ids = body.get("ids")
        if not isinstance(ids, list) or len(ids) > 1000:
            _fail(400, "Request_BadRequest", "The 'ids' property must be a list of at most 1000 object ids.")
        types = {t.lower() for t in body.get("types") or []}
        w = self.world
        with w.lock:
            items = []
            for oid in ids:
                obj = w.objects.get(str(oid).lower())
                if obj and (not types or obj["kind"].lower() in types):
                    items.append(self._object_shape(obj))
        return self._collection(request, items, "directoryObjects")
